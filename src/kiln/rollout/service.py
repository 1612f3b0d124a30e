"""The rollouts of a workspace. Each runs in a thread of the server, so it goes on when the CLI that started it
ends; the server keeps the latest rollout of each endpoint in memory (a restart forgets it: a rollout that was
running is then cancelled, its traffic put back, by ``close``)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from kiln.capabilities.services import CapabilityContext
from kiln.clock import utcnow
from kiln.errors import Conflict, KilnError, NotFound
from kiln.rollout.api import RolloutRequest, RolloutView, WindowResult
from kiln.rollout.plan import breach, check_request, split_at, window
from kiln.specs.endpoint import EndpointUpdate

log = logging.getLogger("kiln.rollout")
TICK_SECONDS = 0.2  # how often a window's counters are read


@dataclass
class Rollout:
    view: RolloutView
    request: RolloutRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled"
    thread: threading.Thread | None = None


class RolloutService:
    def __init__(self, context: CapabilityContext) -> None:
        self._endpoints = context.endpoints
        self._rollouts: dict[str, Rollout] = {}
        self._lock = threading.Lock()

    def start(self, name: str, request: RolloutRequest, started_by: str | None = None) -> RolloutView:
        endpoint = self._endpoints.get_endpoint(name)
        with self._lock:
            running = self._rollouts.get(name)
            if running and running.view.status == "running":
                raise Conflict(
                    f"endpoint '{name}' has a rollout of '{running.view.deployment}' running; wait for it or stop it "
                    f"(kiln online-endpoint rollout-cancel -n {name})"
                )
            check_request(request, endpoint)
            rollout = Rollout(
                view=RolloutView(
                    endpoint=name, deployment=request.deployment, status="running", steps=request.steps,
                    mirror=request.mirror, max_error_rate=request.max_error_rate, max_p99_ms=request.max_p99_ms,
                    window_seconds=request.window_seconds, min_requests=request.min_requests,
                    traffic_before=dict(endpoint.traffic), mirror_before=dict(endpoint.mirror_traffic),
                    traffic=dict(endpoint.traffic), started_by=started_by, started_at=utcnow(),
                ),
                request=request,
            )  # fmt: skip
            self._rollouts[name] = rollout
            rollout.thread = threading.Thread(target=self._run, args=(rollout,), name=f"rollout-{name}", daemon=True)
            rollout.thread.start()
        return self.show(name)

    def show(self, name: str) -> RolloutView:
        rollout = self._rollouts.get(name)
        if rollout is None:
            self._endpoints.get_endpoint(name)  # NotFound names an endpoint that does not exist
            raise NotFound(f"endpoint '{name}' has had no rollout since the server started")
        return rollout.view.model_copy(deep=True)

    def cancel(self, name: str) -> RolloutView:
        rollout = self._rollouts.get(name)
        if rollout is None or rollout.view.status != "running":
            raise Conflict(f"endpoint '{name}' has no rollout running")
        self._stop(rollout, "cancelled by a user")
        return self.show(name)

    def close(self) -> None:
        """The server stops: running rollouts put their traffic back (nothing would watch the next steps)."""
        for rollout in list(self._rollouts.values()):
            if rollout.view.status == "running":
                self._stop(rollout, "the server stopped")

    def _stop(self, rollout: Rollout, reason: str) -> None:
        rollout.cancel_reason = reason
        rollout.cancel.set()
        if rollout.thread is not None and rollout.thread is not threading.current_thread():
            rollout.thread.join(30)

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
        view, request = rollout.view, rollout.request
        start = self._endpoints.deployment_counters(view.endpoint, view.deployment)
        view.windows.append(WindowResult(phase=phase, percent=percent))  # type: ignore[arg-type]
        deadline = time.monotonic() + request.window_seconds
        while True:
            cancelled = rollout.cancel.wait(max(0.0, min(TICK_SECONDS, deadline - time.monotonic())))
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
