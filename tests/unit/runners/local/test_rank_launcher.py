"""The rank launcher with real processes: rank variables, one log with rank prefixes, a failed rank stops the rest."""

from __future__ import annotations

import io
import time
from pathlib import Path

import psutil
import pytest

from kiln.runners.local import rank_launcher
from kiln.runners.local.rank_launcher import RankLauncher, rank_environments


def _run(script: str, tmp_path: Path, ranks: int | None) -> tuple[rank_launcher.CommandOutcome, str]:
    log = io.BytesIO()
    outcome = RankLauncher(["bash", "-c", script], str(tmp_path), log, ranks).run()
    return outcome, log.getvalue().decode()


def test_rank_environments_follow_torchrun() -> None:
    first, second = rank_environments(2, 29500)
    shared = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    assert shared.items() <= first.items() and shared.items() <= second.items()
    assert (first["RANK"], first["LOCAL_RANK"], second["RANK"], second["LOCAL_RANK"]) == ("0", "0", "1", "1")
    assert first["NODE_RANK"] == "0"


def test_every_rank_runs_and_its_lines_carry_its_rank(tmp_path: Path) -> None:
    script = 'echo "out $RANK/$WORLD_SIZE port $MASTER_PORT"; echo "err $LOCAL_RANK" >&2; printf "last $RANK"'
    outcome, log = _run(script, tmp_path, 2)
    assert outcome.exit_code == 0 and outcome.failed_rank is None
    lines = log.splitlines()
    for rank in (0, 1):
        assert any(line.startswith(f"[rank {rank}] out {rank}/2 port ") for line in lines)
        assert f"[rank {rank}] err {rank}" in lines
        assert f"[rank {rank}] last {rank}" in lines  # a last line without newline is kept
    ports = {line.rsplit(" ", 1)[1] for line in lines if " port " in line}
    assert len(ports) == 1  # one rendezvous port for all ranks


def test_a_single_process_is_copied_as_it_comes(tmp_path: Path) -> None:
    outcome, log = _run('echo plain; echo "rank=${RANK-unset}"; echo oops >&2; printf tail; exit 4', tmp_path, None)
    assert log.startswith("plain\nrank=unset\n") and "oops\n" in log and "tail" in log  # no rank prefix
    assert (outcome.exit_code, outcome.failed_rank, outcome.stderr_tail) == (4, None, "oops\n")


def test_a_failing_rank_stops_the_others_and_reports_itself(tmp_path: Path) -> None:
    script = (
        f'echo $$ > {tmp_path}/$RANK.pid; if [ "$RANK" = 1 ]; then sleep 0.5; echo "rank one broke" >&2; exit 3; fi; '
        "sleep 60 & wait"
    )
    started = time.monotonic()
    outcome, log = _run(script, tmp_path, 3)
    assert time.monotonic() - started < 20
    assert (outcome.exit_code, outcome.failed_rank) == (3, 1)
    assert outcome.stderr_tail == "rank one broke\n"
    assert "[rank 1] rank one broke" in log
    for rank in (0, 2):
        assert not psutil.pid_exists(int((tmp_path / f"{rank}.pid").read_text())) or _zombie(tmp_path, rank)


def test_a_rank_that_ignores_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_launcher, "STOP_GRACE_SECONDS", 0.5)
    script = "if [ \"$RANK\" = 0 ]; then exit 2; fi; trap '' TERM; sleep 60"
    started = time.monotonic()
    outcome, _ = _run(script, tmp_path, 2)
    assert time.monotonic() - started < 20
    assert (outcome.exit_code, outcome.failed_rank) == (2, 0)


def _zombie(tmp_path: Path, rank: int) -> bool:
    try:
        return psutil.Process(int((tmp_path / f"{rank}.pid").read_text())).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
