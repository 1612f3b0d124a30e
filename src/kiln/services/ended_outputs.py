"""The outputs an ended job kept, read from the store once per job and then remembered.

A job's view lists its outputs, each marked kept or not, which is a listing of the job's output folder in the store:
for a list of a thousand jobs, a thousand listings, about half of the server's answer to ``GET /jobs?limit=1000``
(issue 13). What an ended job kept never changes: its outputs are written while it closes, before its row says it
ended (``kiln.jobs.closing``; a workspace import writes a job's folder before its row), and nothing writes there
after. So each ended job's listing is made once per server and kept (at most :data:`REMEMBERED` jobs, the oldest
forgotten first); a job that has not ended has kept nothing yet and is not looked up.
"""

from __future__ import annotations

import threading

from kiln.artifacts.store import ArtifactStore
from kiln.jobs.folders import outputs_key

REMEMBERED = 100_000  # jobs (a few names each): a few tens of MiB at most


class EndedOutputs:
    def __init__(self, store: ArtifactStore, remembered: int = REMEMBERED) -> None:
        self._store = store
        self._remembered = remembered
        self._kept: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def kept(self, job_id: str) -> frozenset[str]:
        """The names of the outputs an ended job kept (its folder in the store, listed on first use)."""
        kept = self._kept.get(job_id)
        if kept is None:
            kept = frozenset(self._store.names_under(outputs_key(job_id)))
            with self._lock:
                if len(self._kept) >= self._remembered:
                    del self._kept[next(iter(self._kept))]
                self._kept[job_id] = kept
        return kept
