"""What `kiln` shows while a server it started in the background is starting: the server's start steps."""

from __future__ import annotations

import logging
from pathlib import Path

from kiln.server.start_steps import START_STEPS_LOGGER, StartSteps


def test_each_start_step_the_server_logs_is_shown_once_and_nothing_else(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    log_file.write_text("an earlier run's line kiln.start: old step\n")
    shown: list[str] = []
    steps = StartSteps(log_file, log_file.stat().st_size, shown.append)
    handler = logging.FileHandler(log_file)  # the server's own format (kiln.server.process)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(START_STEPS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("database: connected, migrating")
        logging.getLogger("uvicorn").warning("not a step")
        steps.show_new()
        with log_file.open("a") as raw:  # a line the server has not finished writing yet
            raw.write("2026-12-06 10:00:00,000 INFO kiln.start: MLflow tracking ")
        steps.show_new()
        with log_file.open("a") as raw:
            raw.write("server: starting\n")
        steps.show_new()
        steps.show_new()
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert shown == ["database: connected, migrating", "MLflow tracking server: starting"]


def test_a_missing_log_shows_nothing(tmp_path: Path) -> None:
    shown: list[str] = []
    StartSteps(tmp_path / "absent.log", 0, shown.append).show_new()
    assert shown == []
