"""Who is who among ``serve`` instances: broker ids, partition leaders and group coordinators.

Theory of operation
-------------------
Instances share nothing but the bucket and the ``--peers`` list (every instance gets the same list;
order does not matter). Each peer ``host:port`` is a broker; node ids are the positions in the sorted,
de-duplicated list, so every instance computes the same ids. Partition leadership and group
coordination are decided by **rendezvous hashing** (highest random weight): for a key, every node gets
the weight ``blake2b(node || key)`` and the heaviest node wins. Adding or removing a peer moves only
the keys that node wins or won. No membership protocol: a dead peer stays in Metadata until the
operator changes ``--peers`` (clients retry against it, as against a dead Kafka broker).

Any instance can serve any partition (the data is the same bucket), so Fetch is answered wherever it
arrives; group APIs answer NOT_COORDINATOR away from the group's coordinator, so one group always
has one generation.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass

from app.errors import ConfigError

__all__ = ["Cluster", "Node", "parse_host_port"]


@dataclass(frozen=True, slots=True, order=True)
class Node:
    node_id: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_port(text: str, *, what: str = "address") -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port)."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"bad {what} {text!r}: expected host:port")
    return host.strip("[]"), int(port)


def _weight(node: str, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{node}\x00{key}".encode(), digest_size=8).digest(), "big")


class Cluster:
    """The broker list as clients see it, and this instance's place in it."""

    def __init__(self, advertise: tuple[str, int], peers: tuple[tuple[str, int], ...] = ()) -> None:
        addresses = sorted({f"{h}:{p}" for h, p in peers} | ({f"{advertise[0]}:{advertise[1]}"} if not peers else set()))
        me = f"{advertise[0]}:{advertise[1]}"
        if me not in addresses:
            raise ConfigError(f"--advertise {me} is not one of --peers ({', '.join(addresses)}): every instance "
                              "must appear in the peer list under the address it advertises")
        self.nodes: tuple[Node, ...] = tuple(
            Node(i, *parse_host_port(a)) for i, a in enumerate(addresses)
        )
        self.me: Node = next(n for n in self.nodes if n.address == me)

    @classmethod
    def from_settings(cls, listen: str, advertise: str | None, peers: tuple[str, ...]) -> Cluster:
        """``advertise`` defaults to the listen address, with a wildcard host replaced by this host's name."""
        if advertise:
            adv = parse_host_port(advertise, what="--advertise")
        else:
            host, port = parse_host_port(listen, what="--kafka")
            if host in ("0.0.0.0", "::", ""):
                host = socket.gethostname()
            adv = (host, port)
        return cls(adv, tuple(parse_host_port(p, what="peer") for p in peers))

    def _owner(self, key: str) -> Node:
        if len(self.nodes) == 1:
            return self.nodes[0]
        return max(self.nodes, key=lambda n: _weight(n.address, key))

    def leader(self, topic: str, partition: int) -> Node:
        return self._owner(f"partition\x00{topic}\x00{partition}")

    def coordinator(self, group: str) -> Node:
        return self._owner(f"group\x00{group}")

    def is_coordinator(self, group: str) -> bool:
        return self.coordinator(group) == self.me
