"""The routing table the gateway reads on every request: for each endpoint its key hashes,
its traffic split over ready deployments and each deployment's ready replicas. The
controller builds a new table and swaps it in whole, so a reader never sees half an update."""

from __future__ import annotations

import bisect
import hmac
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from kiln.authorization import key_hash


class ReplicaTarget(NamedTuple):
    """Where a ready replica listens, and the secret it wants from the gateway (``kiln.internal_secret``)."""

    url: str  # base URL, http://127.0.0.1:PORT
    secret: str


@dataclass
class DeploymentRoute:
    name: str
    replicas: tuple[ReplicaTarget, ...]  # the ready ones
    timeout_s: float
    _turn: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def next_replica(
        self, exclude: frozenset[ReplicaTarget] | set[ReplicaTarget] = frozenset()
    ) -> ReplicaTarget | None:
        """Round robin over the ready replicas, skipping those in ``exclude`` (already tried)."""
        start = next(self._turn)
        for step in range(len(self.replicas)):
            replica = self.replicas[(start + step) % len(self.replicas)]
            if replica not in exclude:
                return replica
        return None


class TrafficSplitter:
    """Weighted random choice over the deployments that have ready replicas. A deployment that
    has a share but no ready replica (starting, restarting, failed) gives its share to the
    others in proportion; with no ready deployment that has a share, there is no choice."""

    def __init__(self, traffic: dict[str, int], ready: set[str], draw: Callable[[], float] = random.random) -> None:
        live = [(name, share) for name, share in sorted(traffic.items()) if share > 0 and name in ready]
        self._names = [name for name, _ in live]
        total = float(sum(share for _, share in live))
        running, self._bounds = 0.0, []
        for _, share in live:
            running += share
            self._bounds.append(running / total)
        self._draw = draw

    def choose(self, exclude: frozenset[str] = frozenset()) -> str | None:
        if not self._names:
            return None
        name = self._names[min(bisect.bisect_right(self._bounds, self._draw()), len(self._names) - 1)]
        if name in exclude:
            rest = [n for n in self._names if n not in exclude]
            return rest[0] if rest else None
        return name


@dataclass
class EndpointRoute:
    name: str
    key_hashes: tuple[str, ...]
    deployments: dict[str, DeploymentRoute]
    splitter: TrafficSplitter
    mirror: dict[str, int]  # deployment → percent of requests copied to it
    auth_mode: str = "key"  # key: its keys score; aml_token: workspace users' API tokens do (not its keys)

    @classmethod
    def build(
        cls,
        name: str,
        key_hashes: tuple[str, ...],
        traffic: dict[str, int],
        mirror: dict[str, int],
        deployments: dict[str, DeploymentRoute],
        auth_mode: str = "key",
    ) -> EndpointRoute:
        ready = {d for d, route in deployments.items() if route.replicas}
        live_mirror = {d: share for d, share in mirror.items() if share > 0 and d in ready}
        return cls(name, key_hashes, deployments, TrafficSplitter(traffic, ready), live_mirror, auth_mode)

    def accepts(self, presented_key: str) -> bool:
        digest = key_hash(presented_key)
        return any(hmac.compare_digest(digest, known) for known in self.key_hashes)

    def mirror_targets(self, draw: Callable[[], float] = random.random) -> list[DeploymentRoute]:
        return [self.deployments[d] for d, share in self.mirror.items() if draw() * 100 < share]


class RoutingTable:
    def __init__(self) -> None:
        self._routes: dict[str, EndpointRoute] = {}

    def publish(self, routes: dict[str, EndpointRoute]) -> None:
        self._routes = routes

    def get(self, endpoint: str) -> EndpointRoute | None:
        return self._routes.get(endpoint)
