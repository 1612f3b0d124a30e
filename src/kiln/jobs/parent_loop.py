"""The server-side loop of a job kind that runs in the workspace server (a sweep, a pipeline): a thread that makes
a round over that kind's live jobs every ``poll_seconds``, or at once when one of their child jobs (tag
``kiln.parent``) ends on this server or ``wake`` is called. A round that fails is logged and the next one tries
again (the database may be closing). Servers sharing a database make their rounds one at a time: two rounds at once
would both see a step not started, or a trial not submitted, and both submit it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiln.store.jobs import PARENT_TAG

if TYPE_CHECKING:
    from kiln.jobs.job import Job
    from kiln.services.jobs import JobService

log = logging.getLogger(__name__)


class ParentJobLoop:
    def __init__(self, name: str, jobs: JobService, advance_all: Callable[[], None], poll_seconds: float) -> None:
        self.name = name
        self._advance_all = advance_all
        self._one_server_at_a_time = lambda: jobs.jobs.one_server_at_a_time(f"kiln.{name}.rounds")
        self._poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        jobs.engine.end_listeners.append(self._on_job_end)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self, after_seconds: float = 0.0) -> None:
        """A round now, or ``after_seconds`` from now (a submit's row is recorded just after its check)."""
        if after_seconds <= 0:
            self._wake.set()
            return
        waking = threading.Timer(after_seconds, self._wake.set)
        waking.daemon = True
        waking.start()

    def close(self, timeout: float = 5) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=timeout)

    def _on_job_end(self, job: Job) -> None:
        if job.spec.tags.get(PARENT_TAG):
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                with self._one_server_at_a_time():
                    self._advance_all()
            except Exception:
                log.exception("the %s' round failed", self.name)
