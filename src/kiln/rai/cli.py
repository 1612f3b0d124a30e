"""``kiln rai``: a responsible_ai job's report in the terminal (``show``), its files (``download``), and the
analyses of a model (``list``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, print_output
from kiln.cli.workspace import client
from kiln.rai import api
from kiln.rai.report_schema import RaiReport
from kiln.rai.spec import REPORT_OUTPUT

app = typer.Typer(help="Responsible AI reports: show, download, list a model's analyses.", no_args_is_help=True)
JobOption = Annotated[str, typer.Option("--name", "-n", help="The responsible_ai job (name or id).")]
TOP_FEATURES = 10


@app.command("show")
def show(name: JobOption, output: OutputOption = OutputFormat.table) -> None:
    """The report: top features, local explanations, metrics per group, disparities, before/after."""
    report = client().rest.call(api.REPORT, name=name)
    print_output(report, output, lambda: _print_report(name, report))


@app.command("download")
def download(
    name: JobOption,
    download_path: Annotated[Path, typer.Option("--download-path", help="Folder to write into.")] = Path("."),
) -> None:
    """report.json, report.html and the PNG plots, into DOWNLOAD_PATH."""
    download_path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kiln-rai-", dir=download_path) as scratch:
        client().jobs.download(name, scratch, REPORT_OUTPUT)
        for path in sorted((Path(scratch) / REPORT_OUTPUT).iterdir()):
            target = download_path / path.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(path), target)
            console.print(f"downloaded {target}")


@app.command("list")
def list_analyses(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only the analyses of this model.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """responsible_ai jobs, newest first."""
    found = client().rest.call(api.ANALYSES, params={"model": model} if model else None)
    table = Table("job", "status", "model", "mitigated as", "created")
    for item in found:
        table.add_row(item.job, item.status, item.model, item.mitigated_as or "-", f"{item.created_at:%Y-%m-%d %H:%M}")
    print_output(found, output, lambda: table)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print_report(name: str, report: RaiReport) -> None:
    data = report.data
    console.print(
        f"[bold]{report.model.reference}[/] ({data.task_type} of '{data.target_column}'), job {name}: "
        f"{data.train_rows} training rows, {data.test_rows} test rows"
    )
    console.print("performance: " + ", ".join(f"{k} {_number(v)}" for k, v in report.performance.items()))
    if report.explanations:
        explained = report.explanations
        console.print(f"\n[bold]Top features[/] ({explained.method}: {explained.method_reason})")
        table = Table("feature", "importance", "")
        largest = max((i.importance for i in explained.importances), default=0.0) or 1.0
        for item in explained.importances[:TOP_FEATURES]:
            table.add_row(item.feature, _number(item.importance), "█" * round(24 * item.importance / largest))
        console.print(table)
        for row in explained.local:
            console.print(f"row {row.row}: prediction {_number(_float(row.prediction))}, actual {row.actual}")
            for part in row.contributions[:5]:
                console.print(f"    {part.feature} = {part.value}: {part.contribution:+.4g}")
    if report.fairness:
        fairness = report.fairness
        console.print("\n[bold]Metrics per group[/]")
        for grouping in fairness.groupings:
            table = Table("group", "rows", *fairness.metrics, title=" × ".join(grouping.features))
            for group in grouping.groups:
                table.add_row(group.label, str(group.count), *(_number(group.metrics.get(m)) for m in fairness.metrics))
            console.print(table)
            console.print(
                f"  demographic parity difference {_number(grouping.demographic_parity_difference)}, "
                f"equalized odds difference {_number(grouping.equalized_odds_difference)}"
            )
    if report.mitigation:
        m = report.mitigation
        console.print(f"\n[bold]Before/after[/] {m.method} for {m.constraint} by {m.sensitive_feature}")
        table = Table("metric", "before", "after", "change")
        for compared in m.comparison:
            table.add_row(compared.metric, _number(compared.before), _number(compared.after), _number(compared.change))
        console.print(table)
        console.print(
            f"  {m.disparity_metric}: {m.disparity_before:.4g} → {m.disparity_after:.4g} "
            f"({m.disparity_reduction:.0%} less); accuracy paid {m.accuracy_paid:.4g}"
            + (f"; registered as a new version of {m.registered_as}" if m.registered_as else "")
        )
    for note in report.notes:
        console.print(f"note: {note}")


def _float(value: float | str | None) -> float | None:
    return value if isinstance(value, float) else None
