"""``kiln schedule``: create a schedule from its YAML file, list the schedules with their next and last runs, show
one with its latest runs, disable, enable and delete one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, details_table, list_table, print_output, when
from kiln.cli.workspace import client
from kiln.schedules.api import ScheduleView
from kiln.schedules.text import state_text, trigger_text

app = typer.Typer(help="Schedules: jobs submitted on a cron or recurrence timetable.", no_args_is_help=True)
NameOption = Annotated[str, typer.Option("--name", "-n", help="The schedule's name.")]


@app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="The schedule's YAML file (Azure ML's schedule).")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a schedule; its job file's code is uploaded now, and each run submits that job."""
    view = client().schedules.create(file)
    print_output(view, output, lambda: f"created schedule [bold]{view.name}[/]; next run {when(view.next_run_at)}")


@app.command("list")
def list_schedules(output: OutputOption = OutputFormat.table) -> None:
    """The schedules with their trigger, next and last runs."""
    views = client().schedules.list()
    print_output(views, output, lambda: schedules_table(views))


@app.command("show")
def show(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """A schedule, its timetable and its latest runs (each run's job, or why none was started)."""
    view = client().schedules.get(name)
    print_output(view, output, lambda: Group(schedule_details(view), runs_table(view)))


@app.command("disable")
def disable(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """Stop its runs (it is kept; enable starts them again)."""
    view = client().schedules.disable(name)
    print_output(view, output, lambda: f"schedule [bold]{view.name}[/] disabled")


@app.command("enable")
def enable(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """Start its runs again, from the next time on its timetable."""
    view = client().schedules.enable(name)
    print_output(view, output, lambda: f"schedule [bold]{view.name}[/] enabled; next run {when(view.next_run_at)}")


@app.command("delete")
def delete(name: NameOption) -> None:
    """Delete it (the jobs it started are kept)."""
    client().schedules.delete(name)
    console.print(f"schedule [bold]{name}[/] deleted")


def schedules_table(views: list[ScheduleView]):  # type: ignore[no-untyped-def]
    columns = ("name", "state", "trigger", "job", "next run", "last run", "last job")
    table = list_table(*columns, no_wrap=("name", "state", "next run", "last run"))
    for view in views:
        table.add_row(
            view.name, state_text(view), trigger_text(view.trigger), view.job_type, when(view.next_run_at),
            when(view.last_run_at), view.last_job or "-",
        )  # fmt: skip
    return table


def schedule_details(view: ScheduleView) -> Table:
    rows = [
        ("name", view.name), ("state", state_text(view)), ("trigger", trigger_text(view.trigger)),
        ("job", f"{view.job_type}: {view.create_job.get('display_name') or view.create_job.get('command') or ''}"),
        ("next run", when(view.next_run_at)), ("last run", when(view.last_run_at)), ("last job", view.last_job or "-"),
        ("created by", view.created_by or "-"), ("created", when(view.created_at)),
    ]  # fmt: skip
    if view.stopped_reason:
        rows.append(("stopped", view.stopped_reason))
    return details_table(rows)


def runs_table(view: ScheduleView) -> Table:
    table = Table("due", "started", "job", "missed", "note", title="latest runs")
    for run in view.runs:
        table.add_row(when(run.due_at), when(run.started_at), run.job or "-", str(run.missed or ""), run.reason or "")
    return table
