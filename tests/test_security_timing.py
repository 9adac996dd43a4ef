"""No timing difference a client can measure between "unknown user" and "wrong password".

The SASL servers give an unknown user a fake credential derived from a server secret and the name, and run
the same steps on it (``app/kafka/sasl.py``). These tests compare the *distributions* of many attempts,
interleaved in random order so drift on a busy machine (2 shared cores) hits both sides alike:

* a **sign test** on adjacent pairs: the share of pairs where the unknown user was answered faster must
  be near one half (on the wire within 5 standard deviations, 0.5/sqrt(N) each; in process, where
  nanoseconds no client can see shift it, within 0.3), and
* the **medians** must agree within a tolerance that is below the cost of the work a leaky server would
  skip (one PBKDF2 of the password for PLAIN, measured here), so the test would catch that skip.

On the wire (a real `serve` process with ``failed_auth_delay = 0`` so the delay does not mask anything,
over TLS so PLAIN is offered) and in process (the state machines alone, microseconds).
"""

from __future__ import annotations

import hashlib
import random
import statistics
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from app.config import S3Side
from app.kafka.protocol import ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest
from app.kafka.sasl import DEFAULT_ITERATIONS, SaslError, create_sasl_server, derive_scram_credential
from tests.cert_support import Certs, make_certs
from tests.kafka_support import RawClient, ServeProcess, auth_reply, new_bucket, start_serve, tls_client

# timing: compared on a quiet machine, so `make test` runs these after the parallel part, alone
pytestmark = [pytest.mark.slow, pytest.mark.timing, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PASSWORD = "timing-pw-Qe93"
CONFIG = """
[kafka]
failed_auth_delay = 0.0
tls_certfile = "{cert}"
tls_keyfile = "{key}"
[kafka.users.alice]
password = "{password}"
"""


def pbkdf2_cost() -> float:
    """Seconds of the PBKDF2 a server skipping the fake credential would save (best of a few)."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", b"x", b"salt" * 4, DEFAULT_ITERATIONS)
        best = min(best, time.perf_counter() - t)
    return best


def compare(unknown: list[float], wrong: list[float], *, tolerance: float, what: str,
            sign_bound: float | None = None) -> str:
    assert len(unknown) == len(wrong)
    n = len(unknown)
    faster = sum(u < w for u, w in zip(unknown, wrong, strict=True)) / n
    mu, mw = statistics.median(unknown), statistics.median(wrong)
    summary = (f"{what}: n={n} median unknown {mu * 1e3:.3f} ms, wrong password {mw * 1e3:.3f} ms, "
               f"unknown faster in {faster:.0%} of pairs; tolerance {tolerance * 1e3:.3f} ms")
    print(summary)
    bound = 5 * 0.5 / n**0.5 if sign_bound is None else sign_bound
    assert abs(faster - 0.5) <= bound, summary
    assert abs(mu - mw) <= tolerance, summary
    return summary


def interleaved(n: int, attempt: Callable[[bool], float]) -> tuple[list[float], list[float]]:
    """n pairs of (unknown user, wrong password) attempts, each pair in random order."""
    rng = random.Random(1234)
    unknown, wrong = [], []
    for _ in range(n):
        order = [True, False]
        rng.shuffle(order)
        got = {is_unknown: attempt(is_unknown) for is_unknown in order}
        unknown.append(got[True])
        wrong.append(got[False])
    return unknown, wrong


# ------------------------------------------------------------------------------------------ in process


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_state_machines_take_the_same_time(mechanism: str) -> None:
    from scramp import ScramClient

    creds = {m: derive_scram_credential(PASSWORD, m) for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")}

    def lookup(mech: object, user: str) -> object:
        found = creds[str(mech)]  # the same work for both users: only the server's own steps may differ
        return found if user == "alice" else None

    secret = b"s" * 32
    # the client's own work (its PBKDF2) is done before the clock starts
    scram_clients: dict[bool, tuple[str, Callable[[str], str]]] = {}

    def attempt(is_unknown: bool) -> float:
        user = "mallory" if is_unknown else "alice"
        server = create_sasl_server(mechanism, lookup=lookup, secret=secret)  # type: ignore[arg-type]
        if mechanism == "PLAIN":
            token = f"\x00{user}\x00wrong-password".encode()
            t = time.perf_counter()
            with pytest.raises(SaslError):
                server.step(token)
            return time.perf_counter() - t
        client = ScramClient([mechanism], user, "wrong-password")
        first = client.get_client_first().encode()
        t = time.perf_counter()
        server_first = server.step(first)
        elapsed = time.perf_counter() - t
        client.set_server_first(server_first.decode())
        final = client.get_client_final().encode()
        t = time.perf_counter()
        with pytest.raises(SaslError):
            server.step(final)
        return elapsed + time.perf_counter() - t

    del scram_clients
    n = 150 if mechanism == "PLAIN" else 300
    unknown, wrong = interleaved(n, attempt)
    cost = pbkdf2_cost()
    tolerance = 0.3 * cost if mechanism == "PLAIN" else max(20e-6, 0.3 * statistics.median(wrong))
    assert tolerance < cost, "the tolerance is below what skipping the PBKDF2 would save: a leak would show"
    # In process a sub-microsecond difference (an attribute read, a 2-byte longer user name) shifts the
    # sign test off 50 % without being measurable by any client; a server that skipped real work for
    # unknown users would be faster in nearly every pair. So: a practical bound here, 5 sigma on the wire.
    compare(unknown, wrong, tolerance=tolerance, what=f"in process {mechanism}", sign_bound=0.3)


# --------------------------------------------------------------------------------------------- on the wire


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(s3_server: str, certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    side: S3Side = new_bucket(s3_server)  # an empty replica: only authentication matters here
    d = tmp_path_factory.mktemp("timing")
    (d / "config.toml").write_text(CONFIG.format(cert=certs.server_cert, key=certs.server_key, password=PASSWORD))
    s = start_serve(side, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


def _wire_attempt(server: ServeProcess, certs: Certs, mechanism: str, is_unknown: bool) -> float:
    from scramp import ScramClient

    user = "mallory" if is_unknown else "alice"
    c: RawClient = tls_client(server.port, certs)
    try:
        c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism=mechanism))
        assert struct.unpack_from(">h", c.recv(), 4)[0] == 0
        if mechanism == "PLAIN":
            token = f"\x00{user}\x00wrong-password".encode()
            t = time.perf_counter()
            c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=token))
            error = auth_reply(c.recv())[0]
            elapsed = time.perf_counter() - t
        else:
            client = ScramClient([mechanism], user, "wrong-password")
            t = time.perf_counter()
            c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=client.get_client_first().encode()))
            error, _, server_first = auth_reply(c.recv())
            elapsed = time.perf_counter() - t
            assert error == 0, "an unknown user gets a server-first like anyone"
            client.set_server_first(server_first.decode())
            final = client.get_client_final().encode()  # the client's PBKDF2, off the clock
            t = time.perf_counter()
            c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=final))
            error = auth_reply(c.recv())[0]
            elapsed += time.perf_counter() - t
        assert error == 58
        return elapsed
    finally:
        c.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_on_the_wire_unknown_user_and_wrong_password_look_alike(server: ServeProcess, certs: Certs,
                                                                  mechanism: str) -> None:
    for is_unknown in (True, False):  # warm up: connections, code paths
        _wire_attempt(server, certs, mechanism, is_unknown)
    unknown, wrong = interleaved(120, lambda u: _wire_attempt(server, certs, mechanism, u))
    cost = pbkdf2_cost()
    tolerance = max(0.4 * cost, 0.15 * statistics.median(wrong))
    if mechanism == "PLAIN":
        assert tolerance < cost, "a server that skipped the PBKDF2 for unknown users would fail this test"
    compare(unknown, wrong, tolerance=tolerance, what=f"wire {mechanism}")
    assert "mallory" in server.log_text()


def test_fake_credentials_look_like_real_ones(server: ServeProcess, certs: Certs) -> None:
    """Salt length and iteration count in server-first are the same for a real and a made-up user."""
    import base64

    def server_first(user: str) -> dict[str, str]:
        with tls_client(server.port, certs) as c:
            c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism="SCRAM-SHA-256"))
            c.recv()
            c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=f"n,,n={user},r=abcdef".encode()))
            return dict(a.split("=", 1) for a in auth_reply(c.recv())[2].decode().split(","))

    real, fake, fake_again = server_first("alice"), server_first("mallory"), server_first("mallory")
    assert real["i"] == fake["i"]
    assert len(base64.b64decode(real["s"])) == len(base64.b64decode(fake["s"]))
    assert fake["s"] == fake_again["s"], "stable per name, as a stored salt is"
