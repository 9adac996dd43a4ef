"""Tests of app.kafka.sasl: SCRAM-SHA-256/512 against scramp as the reference client, PLAIN, and
hostile input (which must only ever raise SaslError)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scramp import ScramClient, ScramException, ScramMechanism

import app.kafka.sasl as sasl
from app.kafka.protocol import ErrorCode
from app.kafka.sasl import (
    DEFAULT_ITERATIONS,
    IllegalSaslState,
    MalformedSaslMessage,
    PlainServer,
    SaslAuthenticationFailed,
    SaslError,
    SaslMechanism,
    ScramCredential,
    ScramServer,
    UnsupportedSaslMechanism,
    create_sasl_server,
    derive_scram_credential,
)
from tests.hypothesis_support import examples

SECRET = b"server-secret-for-fake-credentials"
SCRAM = [SaslMechanism.SCRAM_SHA_256, SaslMechanism.SCRAM_SHA_512]
HASH = {SaslMechanism.SCRAM_SHA_256: "sha256", SaslMechanism.SCRAM_SHA_512: "sha512"}
USERS = {"alice": "pencil", "we,ird=name": "s3cret", "Zoë": "pässwörd"}


class Store:
    """Credentials for every user and SCRAM mechanism, derived once (4096 iterations each)."""

    def __init__(self) -> None:
        self.credentials = {
            (mech, user): derive_scram_credential(password, mech) for mech in SCRAM for user, password in USERS.items()
        }
        self.lookups: list[tuple[SaslMechanism, str]] = []

    def lookup(self, mechanism: SaslMechanism, username: str) -> ScramCredential | None:
        self.lookups.append((mechanism, username))
        return self.credentials.get((mechanism, username))


@pytest.fixture(scope="module")
def store() -> Store:
    return Store()


def scram_server(store: Store, mech: SaslMechanism, nonce: str | None = None) -> ScramServer:
    if nonce is None:
        return ScramServer(mech, store.lookup, secret=SECRET)
    return ScramServer(mech, store.lookup, secret=SECRET, nonce=lambda: nonce)


# -- credentials ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mech", SCRAM)
def test_derived_credentials_match_scramp(mech: SaslMechanism) -> None:
    salt = b"0123456789abcdef"
    ours = derive_scram_credential("pencil", mech, salt=salt, iterations=4096)
    salt_, stored_key, server_key, iterations = ScramMechanism(mech).make_auth_info("pencil", iteration_count=4096, salt=salt)
    assert (ours.salt, ours.stored_key, ours.server_key, ours.iterations) == (salt_, stored_key, server_key, iterations)
    random_salted = derive_scram_credential("pencil", mech)
    assert len(random_salted.salt) == 16 and random_salted.salt != derive_scram_credential("pencil", mech).salt
    assert random_salted.iterations == DEFAULT_ITERATIONS == 4096


def test_credential_validation() -> None:
    with pytest.raises(ValueError):
        derive_scram_credential("p", "SCRAM-SHA-256", iterations=1000)  # below Kafka's minimum
    with pytest.raises(ValueError):
        derive_scram_credential("p", "SCRAM-SHA-256", iterations=20000)  # above Kafka's maximum
    with pytest.raises(ValueError):
        derive_scram_credential("p", "PLAIN")
    with pytest.raises(ValueError):
        ScramCredential(salt=b"", iterations=4096, stored_key=bytes(32), server_key=bytes(32))
    with pytest.raises(ValueError):
        ScramCredential(salt=b"s", iterations=4096, stored_key=bytes(32), server_key=bytes(64))
    with pytest.raises(ValueError):
        ScramServer("SCRAM-SHA-256", lambda m, u: None, secret=b"short")


# -- SCRAM against scramp ---------------------------------------------------------------------------


def run_scramp(server: ScramServer, mech: SaslMechanism, username: str, password: str) -> ScramClient:
    client = ScramClient([str(mech)], username, password)
    server_first = server.step(client.get_client_first().encode())
    client.set_server_first(server_first.decode())
    server_final = server.step(client.get_client_final().encode())
    client.set_server_final(server_final.decode())  # scramp verifies the server signature
    return client


@pytest.mark.parametrize("mech", SCRAM)
@pytest.mark.parametrize("username", sorted(USERS))
def test_scramp_client_with_the_right_password_authenticates(store: Store, mech: SaslMechanism, username: str) -> None:
    server = scram_server(store, mech)
    assert not server.complete and server.username is None
    run_scramp(server, mech, username, USERS[username])
    assert server.complete
    assert server.username == username  # "=2C" and "=3D" unescaped
    assert (mech, username) in store.lookups


@pytest.mark.parametrize("mech", SCRAM)
def test_scramp_client_with_a_wrong_password_fails_generically(store: Store, mech: SaslMechanism) -> None:
    server = scram_server(store, mech)
    with pytest.raises(SaslAuthenticationFailed) as info:
        run_scramp(server, mech, "alice", "wrong")
    assert type(info.value) is SaslAuthenticationFailed
    assert info.value.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert info.value.client_message == (
        f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mech}"
    )
    assert not server.complete and server.username is None
    with pytest.raises(IllegalSaslState) as again:
        server.step(b"c=biws,r=x,p=AAAA")
    assert again.value.error_code == ErrorCode.ILLEGAL_SASL_STATE


@pytest.mark.parametrize("mech", SCRAM)
def test_scramp_server_final_is_checked_by_the_client(store: Store, mech: SaslMechanism) -> None:
    """A server that knows a different credential cannot fool scramp: the proof fails first."""
    other = Store()
    other.credentials[(mech, "alice")] = derive_scram_credential("not-pencil", mech)
    with pytest.raises(SaslAuthenticationFailed):
        run_scramp(ScramServer(mech, other.lookup, secret=SECRET), mech, "alice", "pencil")
    # and a server signature from the wrong key is rejected by scramp
    server = scram_server(store, mech)
    client = ScramClient([str(mech)], "alice", "pencil")
    client.set_server_first(server.step(client.get_client_first().encode()).decode())
    final = server.step(client.get_client_final().encode())
    forged = b"v=" + base64.b64encode(bytes(len(base64.b64decode(final[2:]))))
    with pytest.raises(ScramException):
        client.set_server_final(forged.decode())


def test_unknown_user_looks_and_fails_like_a_wrong_password(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    mech = SaslMechanism.SCRAM_SHA_256
    calls: list[str] = []
    real_hmac = sasl._hmac

    def counting_hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
        calls.append(f"{hash_name}:{len(key)}:{message[:12]!r}" if len(message) < 40 else f"{hash_name}:{len(key)}:auth")
        return real_hmac(hash_name, key, message)

    monkeypatch.setattr(sasl, "_hmac", counting_hmac)
    outcomes = []
    for username, password in (("alice", "wrong"), ("mallory", "wrong")):
        calls.clear()
        server = scram_server(store, mech)
        client = ScramClient([str(mech)], username, password)
        server_first = server.step(client.get_client_first().encode()).decode()
        client.set_server_first(server_first)
        with pytest.raises(SaslAuthenticationFailed) as info:
            server.step(client.get_client_final().encode())
        outcomes.append((type(info.value), info.value.detail, info.value.client_message, list(calls), server_first))
    (wrong_type, wrong_detail, wrong_msg, wrong_calls, _wrong_first), (unknown_type, unknown_detail, unknown_msg, unknown_calls, unknown_first) = outcomes
    assert (wrong_type, wrong_detail, wrong_msg) == (unknown_type, unknown_detail, unknown_msg)
    assert wrong_calls == unknown_calls  # the same computations, in the same order
    # the fake server-first has the shape of a real one: 16-byte salt, 4096 iterations
    fields = dict(part.split("=", 1) for part in unknown_first.split(","))
    assert len(base64.b64decode(fields["s"])) == 16 and fields["i"] == "4096"


def _salt_for(username: str, secret: bytes, store: Store) -> bytes:
    server = ScramServer(SaslMechanism.SCRAM_SHA_512, store.lookup, secret=secret)
    first = server.step(f"n,,n={username},r=abc".encode()).decode()
    return base64.b64decode(first.split(",")[1][2:])


def test_fake_salts_are_stable_per_name_and_secret(store: Store) -> None:
    assert _salt_for("mallory", SECRET, store) == _salt_for("mallory", SECRET, store)
    assert _salt_for("mallory", SECRET, store) != _salt_for("trudy", SECRET, store)
    assert _salt_for("mallory", SECRET, store) != _salt_for("mallory", SECRET + b"2", store)


@pytest.mark.parametrize("mech", SCRAM)
def test_a_credential_of_the_other_hash_is_treated_as_unknown(mech: SaslMechanism) -> None:
    other = SaslMechanism.SCRAM_SHA_512 if mech is SaslMechanism.SCRAM_SHA_256 else SaslMechanism.SCRAM_SHA_256
    cred = derive_scram_credential("pencil", other)
    server = ScramServer(mech, lambda m, u: cred, secret=SECRET)
    with pytest.raises(SaslAuthenticationFailed):
        run_scramp(server, mech, "alice", "pencil")


# -- a hand-made SCRAM client for what scramp will not send ----------------------------------------


def client_final(
    mech: SaslMechanism,
    password: str,
    client_first_bare: str,
    server_first: str,
    *,
    nonce: str,
    gs2_header: str = "n,,",
    extra: str = "",
) -> bytes:
    """A client-final message for ``nonce`` with the proof computed over exactly what is sent."""
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    name = HASH[mech]
    salted = hashlib.pbkdf2_hmac(name, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", name).digest()
    stored_key = hashlib.new(name, client_key).digest()
    without_proof = f"c={base64.b64encode(gs2_header.encode()).decode()},r={nonce}{extra}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def start(store: Store, mech: SaslMechanism, gs2_header: str = "n,,", user: str = "alice") -> tuple[ScramServer, str, str]:
    server = scram_server(store, mech, nonce="SERVERnonce")
    bare = f"n={user},r=CLIENTnonce"
    server_first = server.step(f"{gs2_header}{bare}".encode()).decode()
    assert server_first.startswith("r=CLIENTnonceSERVERnonce,s=")
    return server, bare, server_first


@pytest.mark.parametrize("mech", SCRAM)
def test_librdkafka_nonce_bug_is_accepted(store: Store, mech: SaslMechanism) -> None:
    """librdkafka < 2.6.1 sends r = client nonce + (client nonce + server nonce)."""
    server, bare, first = start(store, mech)
    final = server.step(client_final(mech, "pencil", bare, first, nonce="CLIENTnonce" + "CLIENTnonceSERVERnonce"))
    assert final.startswith(b"v=") and server.complete
    server, bare, first = start(store, mech)
    with pytest.raises(SaslAuthenticationFailed):  # the relaxation does not relax the password check
        server.step(client_final(mech, "wrong", bare, first, nonce="CLIENTnonceCLIENTnonceSERVERnonce"))


@pytest.mark.parametrize(
    "nonce",
    [
        "SERVERnonce",  # only the server part
        "CLIENTnonce",  # only the client part
        "CLIENTnonceSERVERnonceX",
        "XCLIENTnonceSERVERnonce",  # would pass a bare "ends with" check
        "CLIENTnonceCLIENTnonceCLIENTnonceSERVERnonce",
        "",
    ],
)
def test_other_nonces_are_rejected(store: Store, nonce: str) -> None:
    server, bare, first = start(store, SaslMechanism.SCRAM_SHA_256)
    with pytest.raises(SaslAuthenticationFailed) as info:
        server.step(client_final(SaslMechanism.SCRAM_SHA_256, "pencil", bare, first, nonce=nonce))
    assert "nonce" in info.value.detail or isinstance(info.value, MalformedSaslMessage)
    assert not server.complete


def test_auth_message_uses_the_client_final_as_received(store: Store) -> None:
    """An extension before p= is part of the AuthMessage; dropping or rewriting it breaks the proof."""
    mech = SaslMechanism.SCRAM_SHA_512
    server, bare, first = start(store, mech)
    assert server.step(client_final(mech, "pencil", bare, first, nonce="CLIENTnonceSERVERnonce", extra=",x=ext")).startswith(b"v=")
    server, bare, first = start(store, mech)
    signed_without = client_final(mech, "pencil", bare, first, nonce="CLIENTnonceSERVERnonce")
    tampered = signed_without.replace(b",p=", b",x=ext,p=")
    with pytest.raises(SaslAuthenticationFailed):
        server.step(tampered)


def test_gs2_y_flag_and_authzid(store: Store) -> None:
    mech = SaslMechanism.SCRAM_SHA_256
    server, bare, first = start(store, mech, gs2_header="y,,")
    assert server.step(client_final(mech, "pencil", bare, first, nonce="CLIENTnonceSERVERnonce", gs2_header="y,,"))
    server, bare, first = start(store, mech, gs2_header="n,a=alice,")
    assert server.step(client_final(mech, "pencil", bare, first, nonce="CLIENTnonceSERVERnonce", gs2_header="n,a=alice,"))
    server, bare, first = start(store, mech)  # c= must repeat the GS2 header that was sent
    with pytest.raises(SaslAuthenticationFailed):
        server.step(client_final(mech, "pencil", bare, first, nonce="CLIENTnonceSERVERnonce", gs2_header="y,,"))
    with pytest.raises(SaslAuthenticationFailed):
        scram_server(store, mech).step(b"n,a=bob,n=alice,r=abc")


def test_replayed_client_final_fails(store: Store) -> None:
    mech = SaslMechanism.SCRAM_SHA_256
    server = scram_server(store, mech)
    client = ScramClient([str(mech)], "alice", "pencil")
    client_first = client.get_client_first().encode()
    client.set_server_first(server.step(client_first).decode())
    final = client.get_client_final().encode()
    assert server.step(final).startswith(b"v=")
    with pytest.raises(IllegalSaslState):  # the same conversation: already done, and now failed
        server.step(final)
    assert not server.complete and server.username is None
    fresh = scram_server(store, mech)  # a new conversation has a new server nonce
    fresh.step(client_first)
    with pytest.raises(SaslAuthenticationFailed, match="nonce"):
        fresh.step(final)


@pytest.mark.parametrize(
    "client_first",
    [
        b"",
        b"\xff\xfe",  # not UTF-8
        b"n,,",  # no client-first-bare
        b"n,n=alice,r=abc",  # no authzid field
        b"p=tls-unique,,n=alice,r=abc",  # channel binding required: refused
        b"x,,n=alice,r=abc",
        b"n,,r=abc,n=alice",
        b"n,,n=alice",
        b"n,,m=ext,n=alice,r=abc",  # reserved mandatory extension
        b"n,,n=,r=abc",
        b"n,,n=al=2Xce,r=abc",  # bad escape
        b"n,,n=al=ce,r=abc",
        b"n,,n=alice,r=",
        b"n,,n=alice,r=a b",  # space is not printable in a nonce
        b"n,a=,n=alice,r=abc",
        b"n,,n=alice,r=abc" + b"x" * (64 * 1024),  # longer than any real token
    ],
)
def test_malformed_client_first(store: Store, client_first: bytes) -> None:
    server = scram_server(store, SaslMechanism.SCRAM_SHA_256)
    with pytest.raises(SaslAuthenticationFailed) as info:
        server.step(client_first)
    assert info.value.client_message.startswith("Authentication failed")
    with pytest.raises(IllegalSaslState):
        server.step(b"n,,n=alice,r=abc")


@pytest.mark.parametrize(
    "client_final_message",
    [
        b"",
        b"c=biws,r=CLIENTnonceSERVERnonce",  # no proof
        b"r=CLIENTnonceSERVERnonce,c=biws,p=AAAA",  # wrong order
        b"c=biws,p=AAAA",
        b"c=!!!!,r=CLIENTnonceSERVERnonce,p=AAAA",  # bad base64
        b"c=biws,r=CLIENTnonceSERVERnonce,p=A",
        b"c=biws,r=CLIENTnonceSERVERnonce,p=" + base64.b64encode(bytes(31)),  # wrong proof length
        b"c=eSws,r=CLIENTnonceSERVERnonce,p=" + base64.b64encode(bytes(32)),  # c= is "y,", not "n,,"
        b"c=biws,r=CLIENTnonceSERVERnonce,p=" + base64.b64encode(bytes(32)),  # wrong proof
        b"\x80",
    ],
)
def test_malformed_or_wrong_client_final(store: Store, client_final_message: bytes) -> None:
    server, _, _ = start(store, SaslMechanism.SCRAM_SHA_256)
    with pytest.raises(SaslAuthenticationFailed):
        server.step(client_final_message)
    assert not server.complete


# -- PLAIN ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mech", SCRAM)
def test_plain(store: Store, mech: SaslMechanism) -> None:
    def plain() -> PlainServer:
        return PlainServer(store.lookup, secret=SECRET, credential_mechanism=mech)

    server = plain()
    assert server.step("\x00Zoë\x00pässwörd".encode()) == b"" and server.complete and server.username == "Zoë"
    with pytest.raises(IllegalSaslState):
        server.step(b"\x00alice\x00pencil")
    assert plain().step(b"alice\x00alice\x00pencil") == b""
    for token in (b"\x00alice\x00wrong", b"\x00mallory\x00pencil", b"bob\x00alice\x00pencil"):
        with pytest.raises(SaslAuthenticationFailed) as info:
            plain().step(token)
        assert type(info.value) is SaslAuthenticationFailed and info.value.client_message.endswith("PLAIN")
    for token in (b"", b"alice", b"\x00alice", b"\x00\x00pencil", b"\x00alice\x00", b"a\x00b\x00c\x00d", b"\xff\x00a\x00b"):
        with pytest.raises(MalformedSaslMessage):
            plain().step(token)


def test_plain_unknown_user_costs_one_pbkdf2_like_a_known_one(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counting(hash_name: str, password: bytes, salt: bytes, iterations: int, dklen: int | None = None) -> bytes:
        rounds.append(iterations)
        return real(hash_name, password, salt, iterations, dklen)

    monkeypatch.setattr(sasl.hashlib, "pbkdf2_hmac", counting)
    for token in (b"\x00alice\x00wrong", b"\x00mallory\x00wrong"):
        with pytest.raises(SaslAuthenticationFailed):
            PlainServer(store.lookup, secret=SECRET).step(token)
    assert rounds == [4096, 4096]


# -- mechanism selection ----------------------------------------------------------------------------


def test_create_sasl_server(store: Store) -> None:
    assert isinstance(create_sasl_server("PLAIN", lookup=store.lookup, secret=SECRET), PlainServer)
    scram = create_sasl_server("SCRAM-SHA-512", lookup=store.lookup, secret=SECRET)
    assert isinstance(scram, ScramServer) and scram.mechanism is SaslMechanism.SCRAM_SHA_512
    for name, enabled in (("GSSAPI", None), ("scram-sha-256", None), ("PLAIN", frozenset(SCRAM))):
        with pytest.raises(UnsupportedSaslMechanism) as info:
            create_sasl_server(name, lookup=store.lookup, secret=SECRET, enabled=enabled)
        assert info.value.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert "SCRAM-SHA-256" in info.value.client_message


# -- hostile input ----------------------------------------------------------------------------------

HOSTILE = settings(max_examples=examples(400), deadline=None, suppress_health_check=list(HealthCheck), database=None)
tokens = st.binary(max_size=120) | st.text(max_size=80).map(str.encode) | st.lists(
    st.sampled_from(["n", "y", "p=x", "a=u", "n=alice", "r=abc", "c=biws", "p=AAAA", "=2C", "=3D", "", "m=1", "\x00"]),
    max_size=6,
).map(lambda parts: ",".join(parts).encode())


def _only_sasl_errors(step: Callable[[], Any]) -> None:
    with contextlib.suppress(SaslError):
        step()


@HOSTILE
@given(mech=st.sampled_from(SCRAM), first=tokens, final=tokens)
def test_fuzz_scram_conversation(mech: SaslMechanism, first: bytes, final: bytes) -> None:
    store = _FUZZ_STORE
    server = ScramServer(mech, store.lookup, secret=SECRET)
    _only_sasl_errors(lambda: server.step(first))
    server = ScramServer(mech, store.lookup, secret=SECRET)
    server.step(b"n,,n=alice,r=abc")
    _only_sasl_errors(lambda: server.step(final))
    assert not server.complete


@HOSTILE
@given(token=tokens)
def test_fuzz_plain(token: bytes) -> None:
    _only_sasl_errors(lambda: PlainServer(_FUZZ_STORE.lookup, secret=SECRET).step(token))


class _NoUsers(Store):
    def __init__(self) -> None:  # no PBKDF2 at import time; every user is unknown
        self.credentials = {}
        self.lookups = []


_FUZZ_STORE = _NoUsers()


def test_mechanism_names() -> None:
    assert [str(m) for m in SaslMechanism] == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def test_public_names_exist() -> None:
    for name in sasl.__all__:
        assert hasattr(sasl, name), name
