"""Who a connection is, and what it may read: users, SASL servers and per-user read ACLs from config.

Configuration (``[kafka]`` in the TOML file; see ``docs`` in :mod:`app.kafka.cli`)::

    [kafka.users.alice]
    password = "alice-secret"                 # SCRAM-SHA-256/512 credentials are derived at start
    [kafka.users.bob.scram-sha-512]            # or stored credentials (no password on disk), as
    salt = "base64"; iterations = 8192         # `kafka-configs --add-config SCRAM-SHA-512=[...]` keeps them
    stored_key = "base64"; server_key = "base64"

    [kafka.acls.alice]
    topics = ["orders", "payments-*"]          # fnmatch patterns; "*" = every topic
    groups = ["alice-*"]

Rules
-----
1. **SASL is on exactly when users are configured.** Without users every connection is the anonymous
   principal, which then needs ``allow_anonymous`` (default on: an open replica).
2. **Anonymous access with users configured only when configured**: ``allow_anonymous`` *and* an ACL
   entry for the principal ``ANONYMOUS`` (its read rights). Otherwise a connection must authenticate
   before anything but ApiVersions/SaslHandshake/SaslAuthenticate (the server closes it).
3. **ACLs** are read rights only (the replica is read-only). When no ACL entry exists at all, every
   principal may read every topic and group; once any entry exists, a principal without one may read
   nothing. A TLS client certificate's CN is the principal when the connection does not use SASL.
4. PLAIN is offered only on TLS listeners (the password travels in clear otherwise).
5. Credentials are kept as SCRAM keys only; PLAIN checks against the SCRAM-SHA-256 key (or -512).
"""

from __future__ import annotations

import base64
import binascii
import collections
import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import KafkaSettings
from app.errors import ConfigError
from app.kafka.sasl import (
    DEFAULT_ITERATIONS,
    SaslMechanism,
    SaslServer,
    ScramCredential,
    create_sasl_server,
    derive_scram_credential,
)

__all__ = ["ANONYMOUS", "Acl", "Authenticator"]

ANONYMOUS = "ANONYMOUS"


@dataclass(frozen=True, slots=True)
class Acl:
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def topic(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.topics)

    def group(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.groups)


_ALLOW_ALL = Acl(("*",), ("*",))
_DENY_ALL = Acl()


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of name patterns")
    return tuple(value)


def _b64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"{where} is not base64") from e


def _credentials(name: str, spec: Mapping[str, Any]) -> dict[SaslMechanism, ScramCredential]:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"kafka.users.{name} must be a table")
    unknown = set(spec) - {"password", "scram-sha-256", "scram-sha-512"}
    if unknown:
        raise ConfigError(f"unknown key(s) in kafka.users.{name}: {', '.join(sorted(unknown))}")
    creds: dict[SaslMechanism, ScramCredential] = {}
    password = spec.get("password")
    for mech in (SaslMechanism.SCRAM_SHA_256, SaslMechanism.SCRAM_SHA_512):
        stored = spec.get(mech.value.lower())
        where = f"kafka.users.{name}.{mech.value.lower()}"
        if stored is not None:
            try:
                creds[mech] = ScramCredential(
                    salt=_b64(stored["salt"], where + ".salt"),
                    iterations=int(stored.get("iterations", DEFAULT_ITERATIONS)),
                    stored_key=_b64(stored["stored_key"], where + ".stored_key"),
                    server_key=_b64(stored["server_key"], where + ".server_key"),
                )
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigError(f"{where}: {e}") from e
        elif password is not None:
            creds[mech] = derive_scram_credential(str(password), mech)
    if not creds:
        raise ConfigError(f"kafka.users.{name} needs a password or stored SCRAM credentials")
    return creds


class Authenticator:
    """Users, their credentials and ACLs; makes SASL servers and answers "may P read X?"."""

    def __init__(self, settings: KafkaSettings, *, tls: bool) -> None:
        self.tls = tls
        self.failed_auth_delay = settings.failed_auth_delay
        self._credentials = {name: _credentials(name, spec) for name, spec in settings.users.items()}
        self._acls: dict[str, Acl] = {}
        for name, spec in settings.acls.items():
            if not isinstance(spec, Mapping) or set(spec) - {"topics", "groups"}:
                raise ConfigError(f"kafka.acls.{name} must be a table with `topics` and/or `groups`")
            self._acls[name] = Acl(_patterns(spec.get("topics", []), f"kafka.acls.{name}.topics"),
                                   _patterns(spec.get("groups", []), f"kafka.acls.{name}.groups"))
        self.sasl_enabled = bool(self._credentials)
        if self.sasl_enabled:
            self.anonymous_allowed = settings.allow_anonymous and ANONYMOUS in self._acls
        else:
            self.anonymous_allowed = settings.allow_anonymous
            if not self.anonymous_allowed:
                raise ConfigError("kafka.allow_anonymous is off but no kafka.users are configured: "
                                  "nobody could connect")
        wanted = {SaslMechanism(m) for m in settings.sasl_mechanisms}
        if not tls:
            wanted.discard(SaslMechanism.PLAIN)
        self.mechanisms = frozenset(wanted)
        # seeds the stable fake credentials of unknown users (sasl.py); derived from secrets we hold
        material = b"".join(c.stored_key for creds in self._credentials.values() for c in creds.values())
        self._secret = hashlib.sha256(b"shadowreplica-sasl\x00" + material).digest()
        # unknown users answer with the iteration count most configured users have, per mechanism
        counts: dict[SaslMechanism, collections.Counter[int]] = {}
        for creds in self._credentials.values():
            for mech, cred in creds.items():
                counts.setdefault(mech, collections.Counter())[cred.iterations] += 1
        self._fake_iterations = {mech: c.most_common(1)[0][0] for mech, c in counts.items()}

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(sorted(self._credentials))

    def lookup(self, mechanism: SaslMechanism, username: str) -> ScramCredential | None:
        return self._credentials.get(username, {}).get(mechanism)

    def sasl_server(self, mechanism: str) -> SaslServer:
        """Raises ``UnsupportedSaslMechanism`` (its ``client_message`` lists the enabled ones)."""
        return create_sasl_server(mechanism, lookup=self.lookup, secret=self._secret, enabled=self.mechanisms,
                                  fake_iterations=self._fake_iterations)

    def acl(self, principal: str | None) -> Acl:
        name = principal or ANONYMOUS
        if not self._acls:
            return _ALLOW_ALL
        return self._acls.get(name, _DENY_ALL)

    def configured_acl(self, principal: str | None) -> Acl | None:
        """The principal's own ACL entry as configured (DescribeAcls), None when it has none."""
        return self._acls.get(principal or ANONYMOUS)

    @property
    def acls_configured(self) -> bool:
        """False: no ACL entry exists, every principal reads everything (rule 3)."""
        return bool(self._acls)

    def may_read_topic(self, principal: str | None, topic: str) -> bool:
        return self.acl(principal).topic(topic)

    def may_use_group(self, principal: str | None, group: str) -> bool:
        return self.acl(principal).group(group)

    def may_see_consumer_offsets(self, principal: str | None) -> bool:
        """``__consumer_offsets`` is listed for a principal that may use some group (its records are then
        filtered to those groups)."""
        return bool(self.acl(principal).groups)
