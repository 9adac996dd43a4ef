"""SASL server state machines for the Kafka shim: SCRAM-SHA-256/512 (RFC 5802, RFC 7677) and PLAIN
(RFC 4616). Pure: tokens in, tokens out; no sockets, no clock, no logging.

Theory of operation
-------------------
After SaslHandshake picked a mechanism, the shell makes one server with :func:`create_sasl_server`
and feeds it the ``auth_bytes`` of each SaslAuthenticate request::

    server = create_sasl_server(mechanism, lookup=store.credential, secret=settings_secret)
    reply = server.step(request.auth_bytes)     # -> SaslAuthenticateResponse(auth_bytes=reply)
    if server.complete: principal = server.username

``step`` either returns the next server token or raises a :class:`SaslError` whose ``error_code``
and ``client_message`` go into the SaslAuthenticate response (the detail in ``str(exc)`` is for
logs only: the client learns nothing about which check failed). After an error the server is
FAILED and every further step raises :class:`IllegalSaslState` (so does a token after success,
which also drops the authenticated state); the shell closes the connection
after ``failed_auth_delay``, as Kafka does.

Credentials are stored only as :class:`ScramCredential` (salt, iterations, StoredKey, ServerKey),
never as passwords; :func:`derive_scram_credential` makes one from a password. PLAIN is checked
against the SCRAM credential too (one PBKDF2 per attempt). Passwords are not SASLprep-ed, matching
Kafka's ``ScramFormatter`` (UTF-8 bytes as given).

SCRAM conversation (states: CLIENT_FIRST -> CLIENT_FINAL -> DONE, or FAILED)::

    client-first  n,[a=authzid],n=user,r=cnonce[,ext]     gs2 flag 'n' or 'y'; 'p=' is refused
    server-first  r=cnonce+snonce,s=base64(salt),i=iterations
    client-final  c=base64(gs2-header),r=nonce[,ext],p=base64(proof)
    server-final  v=base64(ServerSignature)

Rules that matter for real clients and hostile ones:

- ``r`` in client-final must equal the combined nonce, or the client nonce followed by it: the
  librdkafka < 2.6.1 bug (kcat on Debian) that Kafka >= 3.8.1 tolerates.
- AuthMessage is built from the client-final *as received* (everything before ``,p=``).
- User names are unescaped (``=2C`` -> ``,``, ``=3D`` -> ``=``); any other ``=`` is malformed.
- An unknown user gets a fake credential derived from the server ``secret`` and the name (stable
  per name, same salt length and iteration count as :func:`derive_scram_credential` makes): it
  takes the same steps and computations as a wrong password and fails at the same check. The fake
  credential is derived for every user, known or not, so client-first costs the same too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

from app.kafka.protocol.errors import ErrorCode

__all__ = [
    "DEFAULT_ITERATIONS",
    "CredentialLookup",
    "IllegalSaslState",
    "MalformedSaslMessage",
    "PlainServer",
    "SaslAuthenticationFailed",
    "SaslError",
    "SaslMechanism",
    "SaslServer",
    "ScramCredential",
    "ScramServer",
    "UnsupportedSaslMechanism",
    "create_sasl_server",
    "derive_scram_credential",
]


class SaslMechanism(StrEnum):
    """Mechanism names exactly as they travel in SaslHandshake."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


_HASH_NAME = {SaslMechanism.SCRAM_SHA_256: "sha256", SaslMechanism.SCRAM_SHA_512: "sha512"}
_DIGEST_SIZE = {SaslMechanism.SCRAM_SHA_256: 32, SaslMechanism.SCRAM_SHA_512: 64}

DEFAULT_ITERATIONS = 4096
"""Kafka's minimum SCRAM iteration count (and the default of ``kafka-configs --alter``)."""
MAX_ITERATIONS = 16384
"""Kafka's maximum SCRAM iteration count (``ScramMechanism.maxIterations``)."""
SALT_SIZE = 16
MAX_TOKEN_SIZE = 64 * 1024
"""Longest SASL token accepted; real ones are under 300 bytes."""

AUTHENTICATION_FAILED_MESSAGE = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"


# -- errors -----------------------------------------------------------------------------------------


class SaslError(Exception):
    """A SASL step failed. ``error_code`` and ``client_message`` are what the client may see."""

    error_code: ErrorCode = ErrorCode.SASL_AUTHENTICATION_FAILED

    def __init__(self, detail: str, *, client_message: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.client_message = client_message


class SaslAuthenticationFailed(SaslError):
    """Bad credentials, or a message that breaks the mechanism's rules (SASL_AUTHENTICATION_FAILED)."""


class MalformedSaslMessage(SaslAuthenticationFailed):
    """A token that does not parse. Reported to the client exactly like bad credentials."""


class UnsupportedSaslMechanism(SaslError):
    """A mechanism that is not enabled (UNSUPPORTED_SASL_MECHANISM)."""

    error_code = ErrorCode.UNSUPPORTED_SASL_MECHANISM


class IllegalSaslState(SaslError):
    """A step after the conversation completed or failed (ILLEGAL_SASL_STATE)."""

    error_code = ErrorCode.ILLEGAL_SASL_STATE


# -- credentials ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScramCredential:
    """What is stored for one user and one SCRAM mechanism (RFC 5802 §3); never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def __post_init__(self) -> None:
        if not self.salt:
            raise ValueError("salt must not be empty")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations must be in 1..{MAX_ITERATIONS}, got {self.iterations}")
        if len(self.stored_key) not in (32, 64) or len(self.server_key) != len(self.stored_key):
            raise ValueError("stored_key and server_key must both be 32 (SHA-256) or 64 (SHA-512) bytes")


CredentialLookup = Callable[[SaslMechanism, str], ScramCredential | None]
"""``lookup(scram_mechanism, username)``: the stored credential, or None for an unknown user."""


def _hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hash_name).digest()


def _keys_from_salted_password(hash_name: str, salted_password: bytes) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) from SaltedPassword."""
    client_key = _hmac(hash_name, salted_password, b"Client Key")
    stored_key = hashlib.new(hash_name, client_key).digest()
    return stored_key, _hmac(hash_name, salted_password, b"Server Key")


def _scram_mechanism(mechanism: SaslMechanism | str) -> SaslMechanism:
    mech = SaslMechanism(mechanism)
    if mech not in _HASH_NAME:
        raise ValueError(f"{mech} is not a SCRAM mechanism")
    return mech


def derive_scram_credential(
    password: str,
    mechanism: SaslMechanism | str,
    *,
    salt: bytes | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> ScramCredential:
    """The SCRAM credential for ``password`` (UTF-8, not SASLprep-ed), with a random 16-byte salt
    unless one is given. ``iterations`` must be within Kafka's 4096..16384.

    >>> cred = derive_scram_credential("pencil", "SCRAM-SHA-256")
    """
    mech = _scram_mechanism(mechanism)
    if not DEFAULT_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be in {DEFAULT_ITERATIONS}..{MAX_ITERATIONS}, got {iterations}")
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    hash_name = _HASH_NAME[mech]
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode("utf-8"), salt, iterations)
    stored_key, server_key = _keys_from_salted_password(hash_name, salted)
    return ScramCredential(salt=salt, iterations=iterations, stored_key=stored_key, server_key=server_key)


def _fake_credential(mechanism: SaslMechanism, username: str, secret: bytes,
                     iterations: int = DEFAULT_ITERATIONS) -> ScramCredential:
    """A stable, unguessable credential for a user that does not exist, with the iteration count most
    configured users have (so the server-first message does not tell an unknown user apart)."""
    hash_name = _HASH_NAME[mechanism]
    seed = _hmac("sha256", secret, b"shadowreplica-scram-fake\x00" + mechanism.encode() + b"\x00" + username.encode())
    return ScramCredential(
        salt=_hmac("sha256", seed, b"salt")[:SALT_SIZE],
        iterations=iterations,
        stored_key=_hmac(hash_name, seed, b"stored"),
        server_key=_hmac(hash_name, seed, b"server"),
    )


# -- the servers ------------------------------------------------------------------------------------


class _State(Enum):
    CLIENT_FIRST = "client-first"
    CLIENT_FINAL = "client-final"
    DONE = "done"
    FAILED = "failed"


class SaslServer:
    """Common shape of the mechanism servers: ``step(token) -> token`` until ``complete``."""

    mechanism: SaslMechanism

    def __init__(self) -> None:
        self._state = _State.CLIENT_FIRST
        self._username: str | None = None

    @property
    def complete(self) -> bool:
        """True once the client has authenticated."""
        return self._state is _State.DONE

    @property
    def username(self) -> str | None:
        """The authenticated user name; None until :attr:`complete`."""
        return self._username if self._state is _State.DONE else None

    def _fail(self, detail: str, *, malformed: bool = False) -> SaslAuthenticationFailed:
        self._state = _State.FAILED
        cls = MalformedSaslMessage if malformed else SaslAuthenticationFailed
        return cls(detail, client_message=AUTHENTICATION_FAILED_MESSAGE.format(self.mechanism))

    def step(self, token: bytes) -> bytes:
        """Consume one client token and return the server's answer (may be empty)."""
        handler = self._steps().get(self._state)
        if handler is None:
            previous, self._state = self._state, _State.FAILED
            raise IllegalSaslState(
                f"{self.mechanism} step in state {previous.value}",
                client_message=f"Unexpected SASL token: authentication already {previous.value}",
            )
        if not isinstance(token, bytes | bytearray | memoryview) or len(token) > MAX_TOKEN_SIZE:
            raise self._fail("token is not bytes or longer than MAX_TOKEN_SIZE", malformed=True)
        try:
            return handler(bytes(token))
        except SaslError:
            self._state = _State.FAILED
            raise

    def _steps(self) -> dict[_State, Callable[[bytes], bytes]]:
        raise NotImplementedError

    def _text(self, token: bytes) -> str:
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("token is not UTF-8", malformed=True) from None


def _is_printable_nonce(nonce: str) -> bool:
    """RFC 5802 ``printable``: %x21-2B / %x2D-7E (visible ASCII except ',')."""
    return bool(nonce) and all("\x21" <= c <= "\x7e" and c != "," for c in nonce)


def _default_nonce() -> str:
    return secrets.token_urlsafe(24)


class ScramServer(SaslServer):
    """SCRAM-SHA-256 / SCRAM-SHA-512 server (no channel binding)."""

    def __init__(
        self,
        mechanism: SaslMechanism | str,
        lookup: CredentialLookup,
        *,
        secret: bytes,
        nonce: Callable[[], str] = _default_nonce,
        fake_iterations: Mapping[SaslMechanism, int] | None = None,
    ) -> None:
        super().__init__()
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self.mechanism = _scram_mechanism(mechanism)
        self._fake_iterations = (fake_iterations or {}).get(self.mechanism, DEFAULT_ITERATIONS)
        self._hash = _HASH_NAME[self.mechanism]
        self._lookup = lookup
        self._secret = secret
        self._new_nonce = nonce
        # set by the client-first step:
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._client_nonce = ""
        self._nonce = ""
        self._credential: ScramCredential | None = None
        self._known = False

    def _steps(self) -> dict[_State, Callable[[bytes], bytes]]:
        return {_State.CLIENT_FIRST: self._client_first, _State.CLIENT_FINAL: self._client_final}

    def _unescape_username(self, saslname: str) -> str:
        parts = saslname.split("=")
        out = [parts[0]]
        for part in parts[1:]:
            escape = {"2C": ",", "3D": "="}.get(part[:2])
            if escape is None:
                raise self._fail(f"bad escape in user name {saslname!r}", malformed=True)
            out.append(escape + part[2:])
        return "".join(out)

    def _client_first(self, token: bytes) -> bytes:
        message = self._text(token)
        fields = message.split(",", 2)
        if len(fields) != 3:
            raise self._fail("client-first has no GS2 header", malformed=True)
        flag, authzid, bare = fields
        if flag.startswith("p="):
            raise self._fail("client requires channel binding, which is not offered")
        if flag not in ("n", "y"):
            raise self._fail(f"bad GS2 channel-binding flag {flag!r}", malformed=True)
        attributes = bare.split(",")
        if len(attributes) < 2 or not attributes[0].startswith("n=") or not attributes[1].startswith("r="):
            raise self._fail("client-first-bare is not n=user,r=nonce", malformed=True)
        username = self._unescape_username(attributes[0][2:])
        client_nonce = attributes[1][2:]
        if not username or not _is_printable_nonce(client_nonce):
            raise self._fail("empty user name, or a nonce with forbidden characters", malformed=True)
        if authzid and (not authzid.startswith("a=") or self._unescape_username(authzid[2:]) != username):
            raise self._fail("authorization id differs from the user name")
        server_nonce = self._new_nonce()
        if not _is_printable_nonce(server_nonce):
            raise ValueError("nonce factory returned a nonce with forbidden characters")
        fake = _fake_credential(self.mechanism, username, self._secret, self._fake_iterations)
        real = self._lookup(self.mechanism, username)
        if real is not None and len(real.stored_key) != _DIGEST_SIZE[self.mechanism]:
            real = None  # a SHA-256 credential offered for SHA-512 (or vice versa) cannot match
        credential = real if real is not None else fake
        self._known = real is not None
        self._credential = credential
        self._username = username
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._client_nonce = client_nonce
        self._nonce = client_nonce + server_nonce
        salt = base64.b64encode(credential.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        self._state = _State.CLIENT_FINAL
        return self._server_first.encode("ascii")

    def _client_final(self, token: bytes) -> bytes:
        message = self._text(token)
        cut = message.rfind(",p=")
        if cut < 0:
            raise self._fail("client-final has no proof", malformed=True)
        without_proof, proof_b64 = message[:cut], message[cut + 3 :]
        attributes = without_proof.split(",")
        if len(attributes) < 2 or not attributes[0].startswith("c=") or not attributes[1].startswith("r="):
            raise self._fail("client-final is not c=...,r=...,p=...", malformed=True)
        try:
            binding = base64.b64decode(attributes[0][2:], validate=True)
            proof = base64.b64decode(proof_b64, validate=True)
        except (binascii.Error, ValueError):
            raise self._fail("bad base64 in client-final", malformed=True) from None
        if not hmac.compare_digest(binding, self._gs2_header.encode("utf-8")):
            raise self._fail("channel binding does not repeat the GS2 header")
        nonce = attributes[1][2:]
        if nonce != self._nonce and nonce != self._client_nonce + self._nonce:
            raise self._fail("nonce does not match the server nonce")
        credential = self._credential
        assert credential is not None  # set by the client-first step
        if len(proof) != len(credential.stored_key):
            raise self._fail("proof has the wrong length", malformed=True)
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self._hash, credential.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        proof_ok = hmac.compare_digest(hashlib.new(self._hash, client_key).digest(), credential.stored_key)
        if not (proof_ok and self._known):
            raise self._fail("wrong password or unknown user")
        server_signature = _hmac(self._hash, credential.server_key, auth_message)
        self._state = _State.DONE
        return b"v=" + base64.b64encode(server_signature)


class PlainServer(SaslServer):
    """PLAIN (``[authzid] NUL user NUL password``), checked against the user's SCRAM credential of
    ``credential_mechanism`` (the other SCRAM kind when the user has only that one). Only for TLS listeners: the password crosses the wire in clear."""

    mechanism = SaslMechanism.PLAIN

    def __init__(
        self,
        lookup: CredentialLookup,
        *,
        secret: bytes,
        credential_mechanism: SaslMechanism | str = SaslMechanism.SCRAM_SHA_256,
        fake_iterations: Mapping[SaslMechanism, int] | None = None,
    ) -> None:
        super().__init__()
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self._lookup = lookup
        self._secret = secret
        self._credential_mechanism = _scram_mechanism(credential_mechanism)
        self._fake_iterations = (fake_iterations or {}).get(self._credential_mechanism, DEFAULT_ITERATIONS)

    def _steps(self) -> dict[_State, Callable[[bytes], bytes]]:
        return {_State.CLIENT_FIRST: self._authenticate}

    def _authenticate(self, token: bytes) -> bytes:
        parts = self._text(token).split("\x00")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise self._fail("PLAIN token is not [authzid] NUL user NUL password", malformed=True)
        authzid, username, password = parts
        if authzid and authzid != username:
            raise self._fail("authorization id differs from the user name")
        mech = self._credential_mechanism
        real = self._lookup(mech, username)
        if real is None:  # a user with only the other SCRAM credential (stored keys of one kind only)
            other = SaslMechanism.SCRAM_SHA_512 if mech is SaslMechanism.SCRAM_SHA_256 else SaslMechanism.SCRAM_SHA_256
            real = self._lookup(other, username)
            if real is not None:
                mech = other
        if real is not None and len(real.stored_key) != _DIGEST_SIZE[mech]:
            real = None
        fake = _fake_credential(mech, username, self._secret, self._fake_iterations)
        credential = real if real is not None else fake
        hash_name = _HASH_NAME[mech]
        salted = hashlib.pbkdf2_hmac(hash_name, password.encode("utf-8"), credential.salt, credential.iterations)
        stored_key, _ = _keys_from_salted_password(hash_name, salted)
        if not (hmac.compare_digest(stored_key, credential.stored_key) and real is not None):
            raise self._fail("wrong password or unknown user")
        self._username = username
        self._state = _State.DONE
        return b""


def create_sasl_server(
    mechanism: str,
    *,
    lookup: CredentialLookup,
    secret: bytes,
    enabled: frozenset[SaslMechanism] | None = None,
    plain_credential_mechanism: SaslMechanism | str = SaslMechanism.SCRAM_SHA_256,
    fake_iterations: Mapping[SaslMechanism, int] | None = None,
) -> SaslServer:
    """The server for a mechanism named in SaslHandshake.

    Raises :class:`UnsupportedSaslMechanism` when the name is unknown or not in ``enabled``
    (default: all three). ``secret`` (>= 16 bytes, stable across restarts) seeds the fake
    credentials of unknown users; ``fake_iterations`` gives their iteration count per mechanism (use the
    count most configured users have).
    """
    allowed = frozenset(SaslMechanism) if enabled is None else enabled
    try:
        mech = SaslMechanism(mechanism)
    except ValueError:
        mech = None
    if mech is None or mech not in allowed:
        names = ", ".join(sorted(allowed))
        raise UnsupportedSaslMechanism(
            f"mechanism {mechanism!r} is not enabled",
            client_message=f"Unsupported SASL mechanism {mechanism}; enabled: {names}",
        )
    if mech is SaslMechanism.PLAIN:
        return PlainServer(lookup, secret=secret, credential_mechanism=plain_credential_mechanism,
                           fake_iterations=fake_iterations)
    return ScramServer(mech, lookup, secret=secret, fake_iterations=fake_iterations)
