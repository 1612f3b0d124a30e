"""The CLI's list tables: generated ids shortened to their shortest unique start (at least 8), as git does,
and the plain writer (off a terminal, or many rows) drawing the same rows and columns as Rich's table."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from kiln.cli import render
from kiln.cli.render import ListTable, jobs_table, list_table, short_names
from kiln.specs.views import JobStatus, JobView


def test_generated_ids_are_cut_to_their_shortest_unique_start_and_given_names_kept() -> None:
    a, b, c = "abcdef01" + "0" * 24, "abcdef0123" + "1" * 22, "9" * 32
    assert short_names([a, b, c, "my-run"]) == {a: "abcdef010", b: "abcdef012", c: "99999999", "my-run": "my-run"}
    assert short_names([c]) == {c: "99999999"}


def _shortest_unique_start(name: str, generated: list[str]) -> str:
    """The definition, checked against every other id (n², as the table did before)."""
    length = 8
    while length < len(name) and any(o != name and o.startswith(name[:length]) for o in generated):
        length += 1
    return name[:length]


def test_short_names_match_their_definition_on_ids_that_share_long_starts() -> None:
    rng = random.Random(13)
    for _ in range(50):
        stems = ["".join(rng.choice("0123456789abcdef") for _ in range(rng.randint(0, 31))) for _ in range(4)]
        ids = [(rng.choice(stems) + "".join(rng.choice("0123456789abcdef") for _ in range(32)))[:32] for _ in range(40)]
        names = ids + ids[:3] + ["given-name"]  # duplicates, and a name a user gave
        generated = [n for n in names if n != "given-name"]
        expected = {n: _shortest_unique_start(n, generated) for n in generated} | {"given-name": "given-name"}
        assert short_names(names) == expected


def _views(count: int) -> list[JobView]:
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    experiments = ["Default", "a-rather-long-experiment-name-for-a-terminal", "iris"]
    return [
        JobView(
            id=f"{i:032x}",
            name=f"{i:032x}" if i % 4 else f"named-run-{i}",
            experiment_name=experiments[i % 3],
            experiment_id="1",
            status=list(JobStatus)[i % len(JobStatus)],
            compute="local",
            command="python train.py",
            created_at=start - timedelta(minutes=i),
            duration_seconds=None if i % 5 == 0 else i * 1.5,
            display_name="a display name long enough to wrap in eighty columns" if i % 2 else None,
            mlflow_run_url="http://x/mlflow",
            outputs=[],
            code_hash=None,
            preparing_at=None,
            started_at=None,
            ended_at=None,
            exit_code=None,
            failure_reason=None,
            inputs={},
            tags={},
        )  # fmt: skip
        for i in range(count)
    ]


def _rich(table: ListTable, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def _plain(table: ListTable, width: int) -> str:
    out = io.StringIO()
    table.write_plain(out, width)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_the_plain_job_table_is_richs_table_without_colours(width: int) -> None:
    table = jobs_table(_views(30))
    assert _plain(table, width) == _rich(table, width)
    assert max(len(line) for line in _plain(table, width).splitlines()) <= width


def test_other_lists_and_cells_with_markup_or_several_lines_draw_alike() -> None:
    table = list_table("name", "state", "packages", "description", no_wrap=("name", "state"))
    table.add_row("env-a", "[green]ready[/]", "12", "numpy, pandas\nand scikit-learn")
    table.add_row("env-with-a-long-name", "[red]failed[/]", "-", "")
    table.add_row("b", "[cyan]building[/]", "3", "x" * 70)  # a word too long for its column: cut with …
    for width in (60, 80, 120):
        assert _plain(table, width) == _rich(table, width)


def test_show_writes_plain_rows_off_a_terminal_and_the_same_cells(capsys: pytest.CaptureFixture[str]) -> None:
    views = _views(250)
    table = jobs_table(views)
    render.show(table)  # pytest's stdout is not a terminal
    lines = capsys.readouterr().out.splitlines()
    names = short_names([v.name for v in views])
    rule = next(i for i, line in enumerate(lines) if "━╇━" in line)
    assert [line.split("┃")[0].strip() for line in lines[:rule]] == ["", "name"][-rule:]  # the header, at its foot
    first_cells = [line.split("│")[0].strip() for line in lines[rule + 1 :] if line.split("│")[0].strip()]
    assert first_cells == [names[v.name] for v in views]  # every row, newest first
