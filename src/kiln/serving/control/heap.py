"""The workspace server's garbage collector, tuned for the scoring gateway that shares its process.

A full (gen-2) collection walks every container object the process holds; after start-up that is
the whole control plane (FastAPI, SQLAlchemy, pydantic, MLflow's client): 150–177 ms each, measured
under load, during which every scoring request in flight waits. ``settle_after_start`` freezes
the heap (``gc.freeze``: later collections skip it), as the replicas do after loading their model,
and makes young collections rarer: the gateway allocates short-lived objects per request, and each
collection of the young generation is a pause too. What start-up goes on loading in the background
once the server answers (MLflow's client, imported when MLflow's child is up) is frozen by
``freeze_loaded``, called when that loading is done.
"""

from __future__ import annotations

import gc

# gen-0 after 10,000 net allocations (Python's default: 700); gen-1 every 20 of those; a full
# collection only every 50 gen-1 ones (and then only over what was allocated since the freeze)
THRESHOLDS = (10_000, 20, 50)


def settle_after_start() -> None:
    """Call once the server's start-up has loaded what it keeps for its lifetime."""
    freeze_loaded()
    gc.set_threshold(*THRESHOLDS)


def freeze_loaded() -> None:
    """Only the young generations are collected first (milliseconds; a full collection would be the
    very pause this avoids): the little cyclic garbage already in the old one stays, once."""
    gc.collect(1)
    gc.freeze()
