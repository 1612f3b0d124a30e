"""Which process of a distributed job this is, from the variables its launcher set (standard library only).

A job with ``distribution: {type: pytorch, process_count_per_instance: N}`` runs N processes
with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set, as ``torchrun`` and Azure ML set them;
outside such a job every function answers as for the only process.
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's rank among all processes of the job (0 … world_size() - 1)."""
    return _int("RANK", 0)


def world_size() -> int:
    """How many processes the job has."""
    return _int("WORLD_SIZE", 1)


def local_rank() -> int:
    """This process's rank on its machine: the index of its GPU among those the job sees (``cuda:<local_rank>``)."""
    return _int("LOCAL_RANK", 0)


def is_main_process() -> bool:
    """True for rank 0, the process that should log metrics and save models."""
    return rank() == 0


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default
