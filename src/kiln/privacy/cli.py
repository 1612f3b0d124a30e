"""``kiln privacy``: differentially private queries over a private data version (``query``) and its budget with
every charge (``budget``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, print_output
from kiln.cli.workspace import client
from kiln.privacy.api import BudgetView, QueryAnswer

app = typer.Typer(
    help="Differential privacy: DP queries over private data versions, their budgets.", no_args_is_help=True
)
NameOption = Annotated[str, typer.Option("--name", "-n", help="The private data asset.")]
VersionOption = Annotated[str, typer.Option("--version", "-v", help="Its version.")]


@app.command("query")
def query(
    name: NameOption,
    version: VersionOption,
    sql: Annotated[str, typer.Option("--sql", help="One SELECT of aggregates; the table is named as the asset.")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="What the whole query may cost in epsilon.")],
    delta: Annotated[
        float | None, typer.Option("--delta", help="What it may cost in delta (default: a tenth of the total delta).")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """A differentially private answer, charged to the version's privacy budget."""
    answer = client().privacy.query(name, version, sql, epsilon, delta)
    print_output(answer, output, lambda: _answer_table(answer))


@app.command("synthesize")
def synthesize(
    source: Annotated[str, typer.Option("--source", "-n", help="The private data asset.")],
    version: VersionOption,
    epsilon: Annotated[float, typer.Option("--epsilon", help="What fitting the synthesizer may cost in epsilon.")],
    rows: Annotated[int, typer.Option("--rows", help="How many synthetic rows.")],
    to: Annotated[str, typer.Option("--name", help="The new, non-private data asset.")],
    synthesizer: Annotated[str, typer.Option("--synthesizer", help="mst, aim or mwem (smartnoise-synth).")] = "mst",
    to_version: Annotated[str | None, typer.Option("--to-version", help="Its version (default: the next).")] = None,
    delta: Annotated[float | None, typer.Option("--delta", help="Default: a tenth of the total delta.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """DP synthetic data: a new, non-private data version, charged to the private version's budget."""
    made = client().privacy.synthesize(
        source, version, synthesizer=synthesizer, epsilon=epsilon, rows=rows, to=to, to_version=to_version, delta=delta
    )
    print_output(made, output, lambda: console.print(
        f"created data asset {made.data.name}:{made.data.version} ({rows} rows); charged epsilon {made.epsilon:.4g}, "
        f"delta {made.delta:.3g}; left epsilon {made.remaining_epsilon:.4g}, delta {made.remaining_delta:.3g}"
    ))  # fmt: skip


@app.command("budget")
def budget(name: NameOption, version: VersionOption, output: OutputOption = OutputFormat.table) -> None:
    """Total, spent and remaining budget, and every charge: who, when, what, epsilon, delta."""
    view = client().privacy.budget(name, version)
    print_output(view, output, lambda: _budget_table(view))


def _answer_table(answer: QueryAnswer) -> Table:
    table = Table(*answer.columns)
    for row in answer.rows:
        table.add_row(*("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    table.caption = (
        f"charged epsilon {answer.epsilon:.4g}, delta {answer.delta:.3g}; "
        f"left epsilon {answer.remaining_epsilon:.4g}, delta {answer.remaining_delta:.3g}"
    )
    return table


def _budget_table(view: BudgetView) -> Table:
    console.print(
        f"[bold]{view.name}:{view.version}[/] epsilon {view.epsilon:g} (spent {view.spent_epsilon:.4g}, left "
        f"{view.remaining_epsilon:.4g}), delta {view.delta:g} (spent {view.spent_delta:.3g}, left "
        f"{view.remaining_delta:.3g}); {view.accountant}"
    )
    table = Table("#", "who", "when", "kind", "what", "epsilon", "delta")
    for charge in view.charges:
        table.add_row(
            str(charge.id), charge.charged_by, f"{charge.charged_at:%Y-%m-%d %H:%M:%S}", charge.kind, charge.what,
            f"{charge.epsilon:.4g}", f"{charge.delta:.3g}",
        )  # fmt: skip
    return table
