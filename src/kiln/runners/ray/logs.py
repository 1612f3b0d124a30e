"""A Ray job's log, copied into the kiln job's log as Ray writes it, each byte once, across restarts too.

Ray's log stream (``tail_job_logs``) and its full log (``get_job_logs``) both start at the
beginning of the driver's output. The kiln log holds kiln's own lines first (``base`` bytes,
recorded when the job was submitted), then Ray's: what is there beyond ``base`` is what was
copied already, so a watcher that re-attaches after a restart appends only the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from kiln.runners.ray.cluster import RayCluster

log = logging.getLogger(__name__)

RESTART_AFTER_SECONDS = 2.0  # a stream that broke while the job runs is opened again, at most this often
JOIN_SECONDS = 5.0


class RayLogCopy:
    def __init__(self, cluster: RayCluster, submission_id: str, log_file: Path, base: int) -> None:
        self._cluster = cluster
        self._submission_id = submission_id
        self._log = log_file
        self._written = max(0, log_file.stat().st_size - base) if log_file.exists() else 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._closed = False

    def follow(self) -> None:
        """Stream the log in the background; called again while the job runs, it reopens a stream that broke."""
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        if time.monotonic() - self._started_at < RESTART_AFTER_SECONDS:
            return
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._stream, name=f"ray-log-{self._submission_id}", daemon=True)
        self._thread.start()

    def _stream(self) -> None:
        received = 0

        def write(chunk: str) -> None:
            nonlocal received
            data = chunk.encode()
            self._append(data, received)
            received += len(data)

        try:
            self._cluster.follow_logs(self._submission_id, write)
        except Exception as exc:  # the final copy in finish() makes up for a broken stream
            log.debug("log stream of Ray job %s ended: %s", self._submission_id, exc)

    def finish(self) -> None:
        """The job has ended: copy whatever the stream has not brought yet, then stop writing."""
        if self._thread is not None:
            self._thread.join(JOIN_SECONDS)
        try:
            self._append(self._cluster.logs(self._submission_id).encode(), 0)
        except Exception:
            log.exception("could not read the log of Ray job %s", self._submission_id)
        with self._lock:
            self._closed = True

    def _append(self, data: bytes, start: int) -> None:
        """``data`` is Ray's log from byte ``start``; write the part beyond what was copied."""
        with self._lock:
            end = start + len(data)
            if self._closed or end <= self._written:
                return
            with self._log.open("ab") as handle:
                handle.write(data[max(0, self._written - start) :])
            self._written = end
