"""The endpoint controller: a reconciler that converges replica processes to the deployments
stored in the database, and publishes the routing table the gateway reads.

- A new deployment's replicas start together; it becomes ``succeeded`` (and, if asked, takes
  all traffic) once every replica answers ``/v2/health/ready``. A replica that exits or is
  not ready in time fails the deployment with the end of its log; traffic stays as it was.
- A ready replica that dies, or fails its liveness probe, is replaced (with a short backoff
  after repeated deaths).
- An update (new generation) rolls one replica at a time: the new replica at index *i*
  starts beside the old one, which is retired only once the new one is ready. Retired
  replicas leave the routing table first and are stopped a moment later.
- After a server restart, replicas whose pid and create time still match are re-adopted, with the
  secret the gateway sends them read back from their config file (one that cannot be read is
  stopped and started again).
- Several servers on one database: one of them runs the controller (``kiln.store.postgres.
  Leadership``); the others ``follow()``: they mirror its replicas from the database into
  their own routing tables (probing readiness themselves), so every server's gateway serves
  the endpoints, and none starts replicas of its own. A follower that is elected ``start()``s.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from kiln.clock import utcnow
from kiln.internal_secret import HEADER_NAME as INTERNAL_SECRET
from kiln.processes import log_tail
from kiln.runners.local.processes import ProcessHandle, is_alive, terminate_tree
from kiln.serving.control.replica_launcher import ReplicaLauncher, read_secret
from kiln.serving.control.routing import DeploymentRoute, EndpointRoute, ReplicaTarget, RoutingTable
from kiln.specs.endpoint import DeploymentState, OnlineDeploymentSpec, OnlineEndpointSpec, ReplicaView
from kiln.store.endpoints import EndpointRepository
from kiln.store.tables import OnlineDeploymentRow, OnlineReplicaRow

log = logging.getLogger(__name__)

DRAIN_SECONDS = 1.0  # a retired replica leaves the routing table this long before it is stopped
STOP_GRACE_SECONDS = 10.0
ACTIVE_POLL = 0.2
IDLE_POLL = 1.0


@dataclass
class Replica:
    row_id: int
    endpoint: str
    deployment: str
    index: int
    generation: int
    port: int
    secret: str  # what it wants in x-kiln-internal-secret
    handle: ProcessHandle
    log: Path
    started_at: datetime
    deadline: float  # monotonic: not ready by then means failed
    restarts: int = 0
    state: str = "starting"
    live_failures: int = 0
    next_live_probe: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> ReplicaTarget:
        return ReplicaTarget(self.url, self.secret)

    @property
    def key(self) -> tuple[str, str]:
        return (self.endpoint, self.deployment)


class EndpointController:
    def __init__(self, repository: EndpointRepository, launcher: ReplicaLauncher, routes: RoutingTable) -> None:
        self._repo = repository
        self._launcher = launcher
        self._routes = routes
        self._replicas: dict[int, Replica] = {}  # by replica row id
        self._followed: dict[int, Replica] = {}  # another server's replicas, while this one follows
        self._leading = threading.Event()
        self._follow_thread: threading.Thread | None = None
        self._draining: list[tuple[float, Replica]] = []
        self._backoff: dict[tuple[str, str, int], tuple[int, float]] = {}  # deaths in a row, not before
        self._lock = threading.RLock()
        self._publish_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe = httpx.Client(timeout=httpx.Timeout(2.0, connect=0.5))

    # Life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._leading.set()
        with self._lock:
            self._followed = {}
        self.recover()
        self.publish_routes()
        self._thread = threading.Thread(target=self._loop, name="endpoint-controller", daemon=True)
        self._thread.start()

    def stop(self, stop_replicas: bool = True) -> None:
        """Stop reconciling; on a deliberate shutdown also stop every replica (a crash leaves them to be re-adopted)."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._follow_thread:
            self._follow_thread.join(timeout=10)
        if stop_replicas:
            with self._lock:
                victims = list(self._replicas.values()) + [r for _, r in self._draining]
                self._replicas.clear()
                self._draining.clear()
                for replica in victims:
                    self._repo.delete_replica(replica.row_id)
            _stop_all(victims, wait=True)
        self._probe.close()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            busy = any(r.state == "starting" for r in list(self._replicas.values())) or bool(self._draining)
            self._wake.wait(ACTIVE_POLL if busy else IDLE_POLL)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.reconcile()
            except Exception:  # keep reconciling whatever one bad row does
                log.exception("endpoint reconcile failed")

    # Converging -------------------------------------------------------------------------------
    def reconcile(self) -> None:
        with self._lock:
            rows = {(r.endpoint, r.name): r for r in self._repo.deployments()}
            wanted = {key: row for key, row in rows.items() if row.state != DeploymentState.DELETING}
            for replica in list(self._replicas.values()):
                if replica.key not in wanted:
                    self._retire(replica)
            for row in wanted.values():
                self._converge(row)
            self.publish_routes()
            self._stop_drained()

    def _converge(self, row: OnlineDeploymentRow) -> None:
        spec = OnlineDeploymentSpec.model_validate(row.spec)
        for replica in self._of(row):
            self._observe(row, spec, replica)
        if row.state == DeploymentState.FAILED:
            return
        mine = self._of(row)
        current = {r.index: r for r in mine if r.generation == row.generation}
        old = [r for r in mine if r.generation != row.generation]
        desired = spec.instance_count
        starting = sum(1 for r in current.values() if r.state == "starting")
        now = time.monotonic()
        for index in range(desired):
            if index in current:
                continue
            if old and starting >= 1:  # rolling: one new replica at a time
                break
            if self._backoff.get((row.endpoint, row.name, index), (0, 0.0))[1] > now:
                continue
            current[index] = self._start(row, spec, index)
            starting += 1
        all_ready = all(index in current and current[index].state == "ready" for index in range(desired))
        for replica in old:
            twin = current.get(replica.index)
            if all_ready or (twin is not None and twin.state == "ready"):
                self._retire(replica)
        for index, replica in current.items():
            if index >= desired and all_ready:
                self._retire(replica)
        if all_ready and not old and row.state in (DeploymentState.CREATING, DeploymentState.UPDATING):
            self._succeed(row)

    def _observe(self, row: OnlineDeploymentRow, spec: OnlineDeploymentSpec, replica: Replica) -> None:
        if replica.row_id not in self._replicas:  # retired while its siblings were observed
            return
        code = replica.handle.wait(0)
        fresh = replica.generation == row.generation and row.state in (
            DeploymentState.CREATING,
            DeploymentState.UPDATING,
        )
        if code is not None:
            self._forget(replica)
            if replica.state == "starting" and fresh:
                self._fail(row, f"replica {replica.index} exited (code {code}) before it was ready", replica.log)
            else:
                log.warning("replica %s/%s #%s ended (code %s); starting it again", *replica.key, replica.index, code)
                self._note_death(replica)
            return
        now = time.monotonic()
        if replica.state == "starting":
            if self._answers(replica, "/v2/health/ready"):
                replica.state = "ready"
                replica.next_live_probe = now + spec.liveness_probe.period
                self._backoff.pop((replica.endpoint, replica.deployment, replica.index), None)
            elif now >= replica.deadline:
                self._retire(replica, drain=False)
                why = (
                    f"replica {replica.index} was not ready within {spec.readiness_probe.deadline_seconds:.0f} s "
                    "(readiness_probe: initial_delay + period × failure_threshold)"
                )
                if fresh:
                    self._fail(row, why, replica.log)
                else:
                    self._note_death(replica)
        elif replica.state == "ready" and now >= replica.next_live_probe:
            replica.next_live_probe = now + spec.liveness_probe.period
            replica.live_failures = 0 if self._answers(replica, "/v2/health/live") else replica.live_failures + 1
            if replica.live_failures >= spec.liveness_probe.failure_threshold:
                log.warning("replica %s/%s #%s failed its liveness probe; replacing it", *replica.key, replica.index)
                self._retire(replica, drain=False)
                self._note_death(replica)

    def _answers(self, replica: Replica, path: str) -> bool:
        try:
            return self._probe.get(replica.url + path, headers={INTERNAL_SECRET: replica.secret}).status_code == 200
        except httpx.HTTPError:
            return False

    def _start(self, row: OnlineDeploymentRow, spec: OnlineDeploymentSpec, index: int) -> Replica:
        launched = self._launcher.launch(row, spec, index)
        restarts = self._backoff.get((row.endpoint, row.name, index), (0, 0.0))[0]
        started_at = utcnow()
        row_id = self._repo.add_replica(
            OnlineReplicaRow(
                endpoint=row.endpoint, deployment=row.name, replica_index=index, generation=row.generation,
                port=launched.port, pid=launched.handle.pid, pid_started=launched.handle.create_time,
                log_path=str(launched.log), restarts=restarts, started_at=started_at,
            )
        )  # fmt: skip
        replica = Replica(
            row_id, row.endpoint, row.name, index, row.generation, launched.port, launched.secret, launched.handle,
            launched.log, started_at, deadline=time.monotonic() + spec.readiness_probe.deadline_seconds,
            restarts=restarts,
        )  # fmt: skip
        self._replicas[row_id] = replica
        log.info(
            "started replica %s/%s #%s (pid %s, port %s)",
            row.endpoint,
            row.name,
            index,
            replica.handle.pid,
            replica.port,
        )
        return replica

    def _note_death(self, replica: Replica) -> None:
        key = (replica.endpoint, replica.deployment, replica.index)
        deaths = self._backoff.get(key, (replica.restarts, 0.0))[0] + 1
        delay = 0.0 if deaths <= 1 else min(2.0 ** (deaths - 2), 30.0)
        self._backoff[key] = (deaths, time.monotonic() + delay)

    def _succeed(self, row: OnlineDeploymentRow) -> None:
        self._repo.set_deployment_fields(
            row.id, state=DeploymentState.SUCCEEDED.value, failure_reason=None, take_all_traffic=False
        )
        if row.take_all_traffic:
            endpoint = self._repo.find_endpoint(row.endpoint)
            if endpoint is not None:
                spec = OnlineEndpointSpec.model_validate(endpoint.spec)
                spec.traffic = {name: 0 for name in spec.traffic} | {row.name: 100}
                spec.mirror_traffic = {k: v for k, v in spec.mirror_traffic.items() if k != row.name}
                self._repo.set_endpoint_fields(row.endpoint, spec=spec.model_dump(mode="json", by_alias=True))
        row.state = DeploymentState.SUCCEEDED.value
        log.info("deployment %s/%s is ready", row.endpoint, row.name)

    def _fail(self, row: OnlineDeploymentRow, why: str, log_file: Path) -> None:
        tail = log_tail(log_file, 30)
        reason = why + (f"; the end of its log:\n{tail}" if tail else "")
        self._repo.set_deployment_fields(
            row.id, state=DeploymentState.FAILED.value, failure_reason=reason, take_all_traffic=False
        )
        new = row.state == DeploymentState.CREATING
        row.state = DeploymentState.FAILED.value
        for replica in self._of(row):  # a failed scale-up keeps the replicas that serve already
            if replica.generation == row.generation and (new or replica.state != "ready"):
                self._retire(replica, drain=False)
        log.warning("deployment %s/%s failed: %s", row.endpoint, row.name, why)

    # Stopping -----------------------------------------------------------------------------------
    def _of(self, row: OnlineDeploymentRow) -> list[Replica]:
        return [r for r in self._replicas.values() if r.key == (row.endpoint, row.name)]

    def _forget(self, replica: Replica) -> None:
        self._replicas.pop(replica.row_id, None)
        self._repo.delete_replica(replica.row_id)

    def _retire(self, replica: Replica, drain: bool = True) -> None:
        """Out of the routing table now; stopped after the drain delay."""
        self._forget(replica)
        replica.state = "stopping"
        self._draining.append((time.monotonic() + (DRAIN_SECONDS if drain else 0.0), replica))

    def _stop_drained(self) -> None:
        now = time.monotonic()
        due = [r for when, r in self._draining if when <= now]
        self._draining = [(when, r) for when, r in self._draining if when > now]
        _stop_all(due, wait=False)

    def remove(self, endpoint: str, deployment: str | None = None) -> None:
        """Stop a deployment's (or a whole endpoint's) replicas now, for a delete."""
        with self._lock:
            victims = [
                r for r in self._replicas.values() if r.endpoint == endpoint and deployment in (None, r.deployment)
            ]
            victims += [r for _, r in self._draining if r.endpoint == endpoint and deployment in (None, r.deployment)]
            self._draining = [(w, r) for w, r in self._draining if r not in victims]
            for replica in victims:
                self._forget(replica)
            self.publish_routes()
        _stop_all(victims, wait=True)

    # Following another server's controller -----------------------------------------------------
    def follow(self) -> None:
        """Mirror the replicas another server's controller runs until this one ``start()``s."""
        self._follow_thread = threading.Thread(target=self._follow_loop, name="endpoint-follower", daemon=True)
        self._follow_thread.start()

    def _follow_loop(self) -> None:
        while not self._stopping.is_set() and not self._leading.is_set():
            try:
                self.mirror()
            except Exception:
                log.exception("could not mirror the endpoint replicas of the controlling server")
            self._stopping.wait(IDLE_POLL)

    def mirror(self) -> None:
        """One look at the database: the leader's replicas, ready if they answer ``/v2/health/ready``."""
        followed: dict[int, Replica] = {}
        for row in self._repo.replicas():
            replica = self._followed.get(row.id) or self._known(
                row, deadline=0.0, secret=read_secret(Path(row.log_path))
            )
            replica.state = "ready" if self._answers(replica, "/v2/health/ready") else "starting"
            followed[row.id] = replica
        with self._lock:
            if self._leading.is_set():
                return
            self._followed = followed
        self.publish_routes()

    def _all_replicas(self) -> list[Replica]:
        return list(self._replicas.values()) + list(self._followed.values())

    # After a restart ----------------------------------------------------------------------------
    def recover(self) -> None:
        """Re-adopt this server's replicas that still run; stop those no longer wanted, or whose secret
        (in their config file) cannot be read, since the gateway could not reach them: they start again."""
        deployments = {(r.endpoint, r.name): r for r in self._repo.deployments()}
        for row in self._repo.replicas():
            deployment = deployments.get((row.endpoint, row.deployment))
            alive = is_alive(row.pid, row.pid_started)
            wanted = deployment is not None and deployment.state != DeploymentState.DELETING
            secret = read_secret(Path(row.log_path)) if alive and wanted else None
            if deployment is None or secret is None:
                if alive:
                    if wanted:
                        log.warning("replica %s/%s #%s: no readable secret; starting it again", *_names(row))
                    terminate_tree(row.pid, STOP_GRACE_SECONDS)
                self._repo.delete_replica(row.id)
                continue
            spec = OnlineDeploymentSpec.model_validate(deployment.spec)
            log.info("re-adopting replica %s/%s #%s (pid %s)", *_names(row), row.pid)
            self._replicas[row.id] = self._known(row, time.monotonic() + spec.readiness_probe.deadline_seconds, secret)

    @staticmethod
    def _known(row: OnlineReplicaRow, deadline: float, secret: str | None) -> Replica:
        """A replica started before (by this server before a restart, or by the leader while following)."""
        return Replica(
            row.id, row.endpoint, row.deployment, row.replica_index, row.generation, row.port, secret or "",
            ProcessHandle(row.pid, row.pid_started), Path(row.log_path), row.started_at, deadline=deadline,
            restarts=row.restarts,
        )  # fmt: skip

    # What others read ---------------------------------------------------------------------------
    def publish_routes(self) -> None:
        with self._publish_lock:
            replicas = self._all_replicas()
            deployments = self._repo.deployments()
            routes = {}
            for endpoint in self._repo.endpoints():
                spec = OnlineEndpointSpec.model_validate(endpoint.spec)
                members = {}
                for row in deployments:
                    if row.endpoint != endpoint.name or row.state == DeploymentState.DELETING:
                        continue
                    ready = tuple(
                        r.target for r in replicas if r.key == (row.endpoint, row.name) and r.state == "ready"
                    )
                    timeout = OnlineDeploymentSpec.model_validate(row.spec).request_settings.request_timeout_ms / 1000
                    members[row.name] = DeploymentRoute(row.name, ready, timeout + 5.0)
                hashes = (endpoint.primary_key_hash, endpoint.secondary_key_hash)
                routes[endpoint.name] = EndpointRoute.build(
                    endpoint.name, hashes, spec.traffic, spec.mirror_traffic, members, spec.auth_mode
                )
            self._routes.publish(routes)

    def replica_views(self, endpoint: str, deployment: str) -> list[ReplicaView]:
        replicas = [r for r in self._all_replicas() if r.key == (endpoint, deployment)]
        return [
            ReplicaView(
                index=r.index, generation=r.generation, state=r.state, restarts=r.restarts, started_at=r.started_at
            )
            for r in sorted(replicas, key=lambda r: (r.index, r.generation))
        ]

    def log_files(self, endpoint: str, deployment: str) -> list[Path]:
        running = [r.log for r in self._all_replicas() if r.key == (endpoint, deployment)]
        if running:
            return sorted(set(running))
        folder = self._launcher.folder(endpoint, deployment)
        return sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)[-1:] if folder.is_dir() else []


def _names(row: OnlineReplicaRow) -> tuple[str, str, int]:
    return row.endpoint, row.deployment, row.replica_index


def _stop_all(replicas: list[Replica], wait: bool) -> None:
    for replica in replicas:
        terminate_tree(replica.handle.pid, STOP_GRACE_SECONDS)
    if not wait:
        for replica in replicas:
            if replica.handle.popen is not None:  # reap it once it ends
                popen = replica.handle.popen
                threading.Thread(target=popen.wait, name=f"reap-{popen.pid}", daemon=True).start()
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS + 2
    for replica in replicas:
        while time.monotonic() < deadline and replica.handle.wait(0.1) is None:
            pass
