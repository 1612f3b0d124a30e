"""A job folder's log: kiln's own lines each on a line of their own, whatever the job printed last."""

from __future__ import annotations

from pathlib import Path

from kiln.jobs.folders import JobFolder


def test_kilns_lines_start_a_line_of_their_own_in_the_jobs_log(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path)
    folder.say("preparing")  # a log not there yet
    with folder.log.open("a") as log:
        log.write("epoch 1 loss 0.5")  # the job's last line, unended
    folder.say("symbolic links are not kept", "and a second line")
    folder.say("ended")
    assert folder.log.read_text() == (
        "kiln: preparing\nepoch 1 loss 0.5\nkiln: symbolic links are not kept\nkiln: and a second line\nkiln: ended\n"
    )
