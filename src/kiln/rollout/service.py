"""The rollouts of a workspace. Each runs in a thread of the server that started it, so it goes on when the CLI
that started it ends, and is recorded in the ``rollouts`` table (``kiln.rollout.store``: one row per endpoint, its
latest rollout), so that it outlives a restart and every server on the database sees it:

- the row is written when the rollout starts, when each window starts and ends (the traffic changes just before a
  window starts) and when it ends; the live counters of the window under way stay in the memory of the server that
  runs it, so ``show`` on another server can lag them by up to one window;
- one rollout at a time per endpoint, whichever server runs it: a start is refused while the row says ``running``;
- a cancel through another server flags the row (``cancel_requested``); the server running it reads the flag once a
  second and stops it as a user's cancel (see :meth:`RolloutService.cancel`);
- a server that stops cleanly cancels its running rollouts and puts their traffic back (``close``); one that died
  (SIGKILL, power) does it for the rows it left ``running`` when it starts again (``recover``)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from kiln.capabilities.services import CapabilityContext
from kiln.clock import utcnow
from kiln.errors import Conflict, KilnError, NotFound
from kiln.rollout.api import RolloutRequest, RolloutView, WindowResult
from kiln.rollout.plan import breach, check_request, split_at, where_it_was, window
from kiln.rollout.store import RUNNING, RolloutRepository, RolloutRow
from kiln.serving.control.gateway_metrics import DeploymentStats
from kiln.specs.endpoint import EndpointUpdate

log = logging.getLogger("kiln.rollout")
TICK_SECONDS = 0.2  # how often a window's counters are read
CANCEL_CHECK_SECONDS = 1.0  # how often a running rollout reads its row's cancel_requested (set by another server)
CANCEL_WAIT_SECONDS = 5.0  # how long a cancel through another server waits for that server to stop the rollout
USER_CANCEL = "cancelled by a user"
SERVER_STOP = "the workspace server stopped"


@dataclass
class Rollout:
    """A rollout this server runs: its row's id, its live view, the thread that runs it."""

    id: str
    view: RolloutView
    request: RolloutRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled"
    thread: threading.Thread | None = None
    flag_read_at: float = float("-inf")  # time.monotonic() of the last read of the row's cancel_requested


class RolloutService:
    def __init__(
        self, context: CapabilityContext, repository: RolloutRepository | None = None, server_id: str | None = None
    ) -> None:
        self._endpoints = context.endpoints
        self._repository = repository or RolloutRepository(context.data.assets.sessions)
        self._server_id = server_id or context.jobs.engine.server_id or ""  # "" only for a server-less test
        self._rollouts: dict[str, Rollout] = {}  # the ones this service started, by endpoint
        self._lock = threading.Lock()
        self.recover()

    def start(self, name: str, request: RolloutRequest, started_by: str | None = None) -> RolloutView:
        endpoint = self._endpoints.get_endpoint(name)
        with self._lock:
            self._refuse_if_running(name, self._repository.get(name))
            check_request(request, endpoint)
            rollout = Rollout(
                id=uuid.uuid4().hex,
                view=RolloutView(
                    endpoint=name, deployment=request.deployment, status="running", steps=request.steps,
                    mirror=request.mirror, max_error_rate=request.max_error_rate, max_p99_ms=request.max_p99_ms,
                    window_seconds=request.window_seconds, min_requests=request.min_requests,
                    traffic_before=dict(endpoint.traffic), mirror_before=dict(endpoint.mirror_traffic),
                    traffic=dict(endpoint.traffic), started_by=started_by, started_at=utcnow(),
                ),
                request=request,
            )  # fmt: skip
            row = RolloutRow(
                endpoint=name, id=rollout.id, status=RUNNING, view=rollout.view.model_dump(mode="json"),
                request=request.model_dump(mode="json"), server_id=self._server_id, cancel_requested=False,
                started_at=rollout.view.started_at, updated_at=rollout.view.started_at,
            )  # fmt: skip
            if not self._repository.claim(row):  # another server started one a moment ago
                self._refuse_if_running(name, self._repository.get(name))
                raise Conflict(f"endpoint '{name}' has a rollout starting; wait for it or stop it")
            self._rollouts[name] = rollout
            rollout.thread = threading.Thread(target=self._run, args=(rollout,), name=f"rollout-{name}", daemon=True)
            rollout.thread.start()
        return rollout.view.model_copy(deep=True)

    def show(self, name: str) -> RolloutView:
        """The endpoint's latest rollout: live on the server that runs it; on another server as its row was last
        written (at the start or end of a window), so the counters of the window under way may lag by a window."""
        row = self._repository.get(name)
        if row is None or self._older_than_endpoint(row):
            self._endpoints.get_endpoint(name)  # NotFound names an endpoint that does not exist
            raise NotFound(f"endpoint '{name}' has had no rollout (kiln online-endpoint rollout -n {name} starts one)")
        rollout = self._rollouts.get(name)
        if rollout is None or rollout.id != row.id:
            return _view_of(row)
        view = rollout.view.model_copy(deep=True)
        view.cancel_requested = view.cancel_requested or row.cancel_requested
        return view

    def cancel(self, name: str) -> RolloutView:
        """Stop the running rollout and put its traffic back. Through the server that runs it, at once. Through
        another server, the row is flagged and the answer waits (up to ``CANCEL_WAIT_SECONDS``) for that server to
        notice (within about a second) and put the traffic back: the answer is then ``cancelled`` as on the server
        that runs it; if that server has not done so by then (it is down: it does when it starts again), the
        answer is the rollout still ``running`` with ``cancel_requested`` true."""
        row = self._repository.get(name)
        if row is None or row.status != RUNNING:
            raise Conflict(f"endpoint '{name}' has no rollout running")
        rollout = self._rollouts.get(name)
        if rollout is not None and rollout.id == row.id:
            self._stop(rollout, USER_CANCEL)
            return self.show(name)
        if row.server_id == self._server_id:  # this server's, but no thread of it runs it (its recovery failed)
            self._recover(row)
            return self.show(name)
        if not self._repository.request_cancel(name, row.id):
            raise Conflict(f"endpoint '{name}' has no rollout running")
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while True:
            time.sleep(TICK_SECONDS)
            now = self._repository.get(name) or row
            if now.id != row.id or now.status != RUNNING or time.monotonic() >= deadline:
                return self.show(name)

    def recover(self) -> None:
        """At the server's start: the rollouts the rows say this server was running when it died are cancelled and
        their traffic and mirror put back as they were before them (nothing watched them since)."""
        for row in self._repository.running_on(self._server_id):
            if row.endpoint in self._rollouts:
                continue
            try:
                self._recover(row)
            except Exception:  # one endpoint's trouble must not stop the server or the others' recovery
                log.exception("recovering the rollout of %s failed", row.endpoint)

    def close(self) -> None:
        """The server stops: running rollouts put their traffic back (nothing would watch the next steps)."""
        for rollout in list(self._rollouts.values()):
            if rollout.view.status == RUNNING:
                self._stop(rollout, SERVER_STOP)

    def _stop(self, rollout: Rollout, reason: str) -> None:
        rollout.cancel_reason = reason
        rollout.cancel.set()
        if rollout.thread is not None and rollout.thread is not threading.current_thread():
            rollout.thread.join(30)

    def _recover(self, row: RolloutRow) -> None:
        view = _view_of(row)
        try:
            updated = self._endpoints.update_endpoint(
                view.endpoint, EndpointUpdate(traffic=view.traffic_before, mirror_traffic=view.mirror_before)
            )
            view.traffic, outcome = dict(updated.traffic), "its traffic was put back"
        except KilnError as error:  # e.g. the endpoint was deleted meanwhile
            outcome = f"its traffic could not be put back: {error}"
        if view.windows and view.windows[-1].state == "watching":
            view.windows[-1].state = "cancelled"
        view.status, view.ended_at = "cancelled", utcnow()
        view.reason = f"{SERVER_STOP} while the rollout ran ({where_it_was(view.windows)}); {outcome}"
        self._repository.save(row.endpoint, row.id, view.status, view.model_dump(mode="json"), utcnow())
        log.warning("rollout of %s/%s: %s", view.endpoint, view.deployment, view.reason)

    def _refuse_if_running(self, name: str, row: RolloutRow | None) -> None:
        if row is not None and row.status == RUNNING:
            raise Conflict(
                f"endpoint '{name}' has a rollout of '{row.view['deployment']}' running; wait for it or stop it "
                f"(kiln online-endpoint rollout-cancel -n {name})"
            )

    def _older_than_endpoint(self, row: RolloutRow) -> bool:
        """The row is of an endpoint of that name deleted since (the endpoint there now was created after it)."""
        try:
            return row.started_at < self._endpoints.get_endpoint(row.endpoint).created_at
        except NotFound:
            return False  # deleted during its rollout: the row says what became of it

    # The rollout's thread ---------------------------------------------------------------------------------
    def _run(self, rollout: Rollout) -> None:
        view, request = rollout.view, rollout.request
        try:
            outcome = self._mirror(rollout) if request.mirror else None
            for step in request.steps if outcome is None else ():
                unmirrored = {k: v for k, v in view.mirror_before.items() if k != request.deployment}
                self._set(rollout, traffic=split_at(view.traffic_before, request.deployment, step), mirror=unmirrored)
                outcome = self._watch(rollout, "traffic", step)
                if outcome is not None:
                    break
        except KilnError as error:
            outcome = f"failed: {error}"
        except Exception as error:  # never leave traffic shifted because of a surprise
            log.exception("rollout of %s/%s failed", view.endpoint, view.deployment)
            outcome = f"failed: {type(error).__name__}: {error}"
        if outcome is None:
            view.status = "succeeded"
        else:
            view.status = (
                "cancelled"
                if rollout.cancel.is_set()
                else "failed"
                if outcome.startswith("failed: ")
                else "rolled_back"
            )
            view.reason = outcome.removeprefix("failed: ")
            self._roll_back(rollout)
        view.ended_at = utcnow()
        self._record(rollout, attempts=3)  # a row left running would be rolled back at the next start
        log.info(
            "rollout of %s/%s %s%s",
            view.endpoint,
            view.deployment,
            view.status,
            f": {view.reason}" if view.reason else "",
        )

    def _mirror(self, rollout: Rollout) -> str | None:
        view, request = rollout.view, rollout.request
        self._set(rollout, mirror={**view.mirror_before, request.deployment: request.mirror})
        outcome = self._watch(rollout, "mirror", request.mirror)
        self._set(rollout, mirror={k: v for k, v in view.mirror_before.items() if k != request.deployment})
        return outcome

    def _watch(self, rollout: Rollout, phase: str, percent: int) -> str | None:
        """Watch the deployment for one window: None when it held, else why not (a breach, a cancel)."""
        view = rollout.view
        start = self._endpoints.deployment_counters(view.endpoint, view.deployment)
        view.windows.append(WindowResult(phase=phase, percent=percent))  # type: ignore[arg-type]
        self._record(rollout)
        outcome = self._window(rollout, phase, percent, start)
        self._record(rollout)
        return outcome

    def _window(self, rollout: Rollout, phase: str, percent: int, start: DeploymentStats) -> str | None:
        view, request = rollout.view, rollout.request
        deadline = time.monotonic() + request.window_seconds
        while True:
            cancelled = rollout.cancel.wait(max(0.0, min(TICK_SECONDS, deadline - time.monotonic())))
            cancelled = cancelled or self._cancel_flagged(rollout)
            now = self._endpoints.deployment_counters(view.endpoint, view.deployment)
            result = window(phase, percent, start, now)
            view.windows[-1] = result
            if cancelled:
                result.state = "cancelled"
                return rollout.cancel_reason
            reason = breach(result, request)
            if reason:
                result.state = "breached"
                return reason
            if time.monotonic() >= deadline:
                if result.requests < request.min_requests:
                    result.state = "breached"
                    return f"only {result.requests} requests reached it in the window, fewer than min_requests {request.min_requests}"
                result.state = "passed"
                return None

    def _cancel_flagged(self, rollout: Rollout) -> bool:
        """Whether a cancel came through another server (the row's flag, read at most once a second)."""
        if time.monotonic() - rollout.flag_read_at < CANCEL_CHECK_SECONDS:
            return False
        rollout.flag_read_at = time.monotonic()
        try:
            flagged = self._repository.cancel_requested(rollout.view.endpoint, rollout.id)
        except Exception:  # the database is busy or away a moment: the next second reads it again
            log.warning("reading the rollout of %s's cancel flag failed", rollout.view.endpoint, exc_info=True)
            return False
        if flagged:
            rollout.view.cancel_requested, rollout.cancel_reason = True, USER_CANCEL
            rollout.cancel.set()
        return flagged

    def _record(self, rollout: Rollout, attempts: int = 1) -> None:
        """Write the rollout's row as it is now; a failure is logged, not fatal (the traffic it watches is in the
        endpoint's own row, and ``traffic_before`` was written when it started)."""
        view = rollout.view
        for attempt in range(attempts):
            try:
                self._repository.save(view.endpoint, rollout.id, view.status, view.model_dump(mode="json"), utcnow())
                return
            except Exception:
                log.warning("recording the rollout of %s failed", view.endpoint, exc_info=True)
                if attempt + 1 < attempts:
                    time.sleep(1)

    def _roll_back(self, rollout: Rollout) -> None:
        view = rollout.view
        try:
            self._set(rollout, traffic=view.traffic_before, mirror=view.mirror_before)
        except KilnError as error:  # e.g. the endpoint was deleted meanwhile: nothing left to put back
            view.reason = f"{view.reason}; traffic could not be put back: {error}"

    def _set(
        self, rollout: Rollout, traffic: dict[str, int] | None = None, mirror: dict[str, int] | None = None
    ) -> None:
        updated = self._endpoints.update_endpoint(
            rollout.view.endpoint, EndpointUpdate(traffic=traffic, mirror_traffic=mirror)
        )
        rollout.view.traffic = dict(updated.traffic)


def _view_of(row: RolloutRow) -> RolloutView:
    view = RolloutView.model_validate(row.view)
    view.cancel_requested = row.cancel_requested
    return view
