"""How a job ended: its final status, exit code and the reason people read, in the same words from every runner."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from kiln.specs.views import JobStatus

CANCELED_BY_USER = "canceled by the user"


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    exit_code: int | None
    reason: str | None

    @classmethod
    def failed(cls, reason: str, exit_code: int | None = None) -> Outcome:
        return cls(JobStatus.FAILED, exit_code, reason)

    @classmethod
    def canceled(cls, exit_code: int | None = None) -> Outcome:
        return cls(JobStatus.CANCELED, exit_code, CANCELED_BY_USER)

    @classmethod
    def completed(cls) -> Outcome:
        return cls(JobStatus.COMPLETED, 0, None)

    @classmethod
    def timed_out(cls, timeout: int | None, exit_code: int | None, what_was_stopped: str = "was stopped") -> Outcome:
        return cls.failed(
            f"timed out: the job ran longer than limits.timeout ({timeout} s) and {what_was_stopped}", exit_code
        )


def signal_text(code: int) -> str:
    """A negative exit code (killed by a signal) as the signal's name."""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
