"""``kiln model …`` and ``kiln lineage``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from kiln.cli.render import OutputFormat, OutputOption, console, list_table, print_output
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.model import LineageNode, ModelVersionView, ModelView
from kiln.specs.model_compare import ModelComparison

app = typer.Typer(help="Register, version, alias and download models (MLflow's registry).", no_args_is_help=True)
alias_app = typer.Typer(help="Aliases such as champion: models:/NAME@ALIAS.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")

NameOption = Annotated[str, typer.Option("--name", "-n", help="The model's name.")]
VersionOption = Annotated[str, typer.Option("--version", "-v", help="A version number, 'latest' or an alias.")]


def _tags(pairs: list[str] | None) -> dict[str, str]:
    tags = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidSpec(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


@app.command("create")
def create(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The model's YAML file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Must be the next number if given.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="mlflow_model (default) or custom_model.")] = None,
    path: Annotated[
        str | None, typer.Option(help="Local folder, runs:/JOB/PATH, or azureml://jobs/JOB/outputs/OUTPUT.")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable).")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register a new model version."""
    fields: dict[str, Any] = {
        k: v
        for k, v in dict(name=name, version=version, type=type_, path=path, description=description).items()
        if v is not None
    }
    if tag:
        fields["tags"] = _tags(tag)
    if file is None and not fields:
        raise InvalidSpec("give the model as -f model.yml, or with --name and --path")
    view = client().models.create(file, **fields)
    _show_version(view, output)


@app.command("list")
def list_(
    include_archived: Annotated[bool, typer.Option(help="Also models whose versions are all archived.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Registered models with their latest version and aliases."""
    models = client().models.list(include_archived)
    print_output(models, output, lambda: models_table(models))


@app.command("show")
def show(
    name: NameOption,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="One version (number, latest or alias).")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """A model and its versions, or one version with its lineage."""
    if version is None:
        model = client().models.get(name)
        print_output(model, output, lambda: _print_model(model))
        return
    view = client().models.get_version(name, version)
    print_output(view, output, lambda: _print_version_and_lineage(name, view))


@app.command("download")
def download(
    name: NameOption,
    version: VersionOption = "latest",
    download_path: Annotated[Path, typer.Option("--download-path", help="Folder to write into.")] = Path("."),
) -> None:
    """Download a version's files into DOWNLOAD_PATH/NAME."""
    console.print(f"downloaded {client().models.download(name, version, download_path)}")


@app.command("archive")
def archive(name: NameOption, version: Annotated[str, typer.Option("--version", "-v")]) -> None:
    """Hide a version from listings and @latest (it still loads by number)."""
    view = client().models.archive(name, version)
    console.print(f"archived {view.name}:{view.version}")


@app.command("restore")
def restore(name: NameOption, version: Annotated[str, typer.Option("--version", "-v")]) -> None:
    """Undo archive."""
    view = client().models.restore(name, version)
    console.print(f"restored {view.name}:{view.version}")


@app.command("update")
def update(
    name: NameOption,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="A version; without it, the model itself.")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable).")] = None,
) -> None:
    """Set the description or tags of a model or of one version."""
    model = client().models.update(name, version, description, _tags(tag))
    _print_model(model)


@alias_app.command("set")
def alias_set(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str, typer.Argument(help="e.g. champion")],
    version: Annotated[str, typer.Option("--version", "-v")],
) -> None:
    """Point ALIAS at a version: models:/NAME@ALIAS then loads it."""
    view = client().models.set_alias(name, alias, version)
    console.print(f"{name}@{alias} → version {view.version}")


@alias_app.command("delete")
def alias_delete(name: Annotated[str, typer.Argument()], alias: Annotated[str, typer.Argument()]) -> None:
    """Remove an alias."""
    client().models.delete_alias(name, alias)
    console.print(f"deleted alias {name}@{alias}")


def lineage_command(
    target: Annotated[str, typer.Argument(help="model:NAME:VERSION (VERSION may be latest or an alias)")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Print where a model version came from: jobs, data, code, environments, earlier models."""
    kind, _, rest = target.partition(":")
    name, _, version = rest.partition(":")
    if kind != "model" or not name:
        raise InvalidSpec(f"{target!r}: expected model:NAME:VERSION, e.g. model:iris:3")
    node = client().models.lineage(name, version or "latest")
    print_output(node, output, lambda: lineage_tree(node))


STYLE = {
    "model": "bold magenta",
    "job": "bold blue",
    "data": "green",
    "upload": "green",
    "code": "dim",
    "environment": "cyan",
}


def lineage_tree(node: LineageNode, tree: Tree | None = None) -> Tree:
    label = f"[{STYLE.get(node.kind, '')}]{node.kind}[/] {node.id}" + _detail(node)
    branch = Tree(label) if tree is None else tree.add(label)
    for parent in node.upstream:
        lineage_tree(parent, branch)
    return branch


def _detail(node: LineageNode) -> str:
    details = node.details
    parts = []
    if "input" in details:
        parts.append(f"input {details['input']}")
    if node.kind == "job":
        parts.append(str(details.get("status", "")))
    if node.kind == "environment" and details.get("packages"):
        parts.append(f"{details['packages']} packages locked")
    if node.kind == "data" and details.get("private"):
        parts.append("private: rows for owners; see its privacy budget")
    if node.kind == "model" and details.get("aliases"):
        parts.append("@" + ", @".join(details["aliases"]))
    return f"  [dim]({'; '.join(p for p in parts if p)})[/]" if any(parts) else ""


def models_table(models: list[ModelView]) -> Table:
    table = list_table("name", "latest", "versions", "aliases", "description", no_wrap=("name",))
    for model in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(model.aliases.items()))
        table.add_row(
            model.name, model.latest_version or "-", str(len(model.versions)), aliases, model.description or ""
        )
    return table


def _show_version(view: ModelVersionView, output: OutputFormat) -> None:
    print_output(view, output, lambda: _print_version(view))


def _print_version_and_lineage(name: str, view: ModelVersionView) -> Tree:
    _print_version(view)
    return lineage_tree(client().models.lineage(name, view.version))


def _print_version(view: ModelVersionView) -> None:
    aliases = f"  @{', @'.join(view.aliases)}" if view.aliases else ""
    archived = "  [yellow](archived)[/]" if view.archived else ""
    console.print(f"model [bold]{view.name}[/] version [bold]{view.version}[/] ({view.type}){aliases}{archived}")
    console.print(f"  uri     {view.uri}\n  source  {view.source}\n  job     {view.job or '-'}")
    console.print(f"  created {view.created_at:%Y-%m-%d %H:%M}" + (f" by {view.created_by}" if view.created_by else ""))
    if view.description:
        console.print(f"  about   {view.description}")
    conversion = {k: v for k, v in view.tags.items() if k.startswith("onnx.")}
    others = {k: v for k, v in view.tags.items() if k not in conversion}
    if others:
        console.print("  tags    " + ", ".join(f"{k}={v}" for k, v in others.items()))
    if conversion:
        _print_conversion(conversion)


def _print_model(model: ModelView) -> None:
    aliases = ", ".join(f"@{a}→{v}" for a, v in sorted(model.aliases.items())) or "none"
    console.print(f"model [bold]{model.name}[/]  latest {model.latest_version or '-'}  aliases {aliases}")
    if model.description:
        console.print(f"  {model.description}")
    for version in model.versions:
        flags = (" [yellow]archived[/]" if version.archived else "") + (
            f" @{', @'.join(version.aliases)}" if version.aliases else ""
        )
        console.print(
            f"  v{version.version}  {version.type}  job {version.job or '-'}  {version.created_at:%Y-%m-%d %H:%M}{flags}"
        )


OutputFolder = Annotated[
    Path | None, typer.Option("--output", help="The folder to write into, new or empty (default: ./NAME-TO).")
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Write into a folder that holds files already.")]


@app.command("package")
def package(
    name: NameOption,
    output: OutputFolder = None,
    version: VersionOption = "latest",
    to: Annotated[
        str, typer.Option("--to", help="docker: a build context that `docker build` takes as is.")
    ] = "docker",
    overwrite: OverwriteOption = False,
) -> None:
    """Write a Docker build context that serves the version with kiln's replica (no Docker needed here)."""
    console.print(f"wrote {client().models.package(name, version, to, output, overwrite)}")


@app.command("export")
def export(
    name: NameOption,
    output: OutputFolder = None,
    version: VersionOption = "latest",
    to: Annotated[str, typer.Option("--to", help="triton: a Triton model repository.")] = "triton",
    max_batch_size: Annotated[int | None, typer.Option(help="Triton's max_batch_size (0: no batching).")] = None,
    instance_kind: Annotated[str | None, typer.Option(help="gpu (default) or cpu.")] = None,
    instance_count: Annotated[int | None, typer.Option(help="Model instances per device.")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Write an ONNX version as a Triton model repository: NAME/config.pbtxt and NAME/1/model.onnx."""
    folder = client().models.export(name, version, to, output, overwrite, max_batch_size, instance_kind, instance_count)
    console.print(f"wrote {folder}")


def _print_conversion(tags: dict[str, str]) -> None:
    """A converted version's record: where from, opset, converters, and its parity report."""
    from kiln.conversion.report import CONVERTERS_TAG, OPSET_TAG, SOURCE_TAG, report_from_tags

    console.print(f"  converted from {tags.get(SOURCE_TAG, '-')}  opset {tags.get(OPSET_TAG, '-')}")
    console.print(f"  converters     {tags.get(CONVERTERS_TAG, '-')}")
    report = report_from_tags(tags)
    console.print(f"  parity         {report.summary() if report else '-'}", markup=False)


@app.command("convert")
def convert(
    name: NameOption,
    version: Annotated[str, typer.Option("--version", "-v", help="A version number, 'latest' or an alias.")],
    to: Annotated[str, typer.Option("--to", help="The format to convert to (onnx).")] = "onnx",
    tolerance: Annotated[
        float | None, typer.Option(help="Largest |source - converted| accepted on any score (default 1e-4).")
    ] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default: the converter's).")] = None,
    data: Annotated[str | None, typer.Option(help="A data asset whose rows join the proof: kiln:NAME:VERSION.")] = None,
    register_as: Annotated[
        str | None, typer.Option("--register-as", help="Register the result as this model (default NAME-onnx).")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Follow the job, then print the parity report.")] = False,
) -> None:
    """Convert a model version to ONNX in a tracked job, with a parity proof; registers NAME-onnx when it holds."""
    from kiln.cli import render
    from kiln.errors import ParityFailed

    job = client().models.convert(
        name, version, to, tolerance=tolerance, opset=opset, data=data, register_as=register_as
    )
    if not stream:
        console.print(f"job [bold]{job.name}[/] submitted: {job.view.command}  (kiln job stream -n {job.name})")
        return
    render.err_console.print(f"[dim]job {job.name}: {job.view.command}; streaming its log[/]")
    client().jobs.stream(job.name)
    done = job.refresh()
    if done.status.value != "completed":
        log = "".join(client().jobs.logs(job.name))
        failure = next((line for line in reversed(log.splitlines()) if line.startswith("error: ")), None)
        parity = failure is not None and failure.startswith("error: parity failed")
        message = failure.removeprefix("error: ") if failure else f"job {job.name} {done.status.value}"
        render.err_console.print(f"error: {message} (kiln job logs {job.name})", markup=False)
        raise typer.Exit(ParityFailed.exit_code if parity else 1)
    target = register_as or f"{name}-onnx"
    registered = next(v for v in reversed(client().models.get(target).versions) if v.job == job.name)
    console.print(f"registered [bold]{registered.name}[/] version [bold]{registered.version}[/]")
    _print_version(registered)


GATE_FAILED_EXIT = 1  # the candidate did not beat the baseline: a CI step fails; bad input exits 2 (or 3: not found)


@app.command("compare")
def compare(
    name: NameOption,
    candidate: Annotated[str, typer.Option("--candidate", help="A version number, latest or @ALIAS.")],
    baseline: Annotated[str, typer.Option("--baseline", help="A version number, latest or @ALIAS (e.g. @champion).")],
    metric: Annotated[
        list[str],
        typer.Option(
            "--metric",
            "-m",
            help="NAME[:max|min[:MIN_DELTA]] (repeatable). Without a goal: min for loss/error/rmse/mse/mae-like "
            "names, else max.",
        ),
    ],  # fmt: skip
    min_delta: Annotated[
        float, typer.Option("--min-delta", help="How much better the candidate must be (negative: allowed regression).")
    ] = 0.0,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Score both versions on this data asset's rows instead of reading their runs (kiln:NAME:VERSION); "
            "metrics: accuracy, f1, precision, recall, rmse, mae, r2.",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="With --data: the column of true answers (held out).")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Gate a candidate version against a baseline on their runs' metrics (or, with --data and --label, on metrics
    of their predictions on a data asset's rows): exit 0 when every metric passes, 1 when one does not; a version,
    alias, metric, data asset or column that does not exist is an error (exit 2 or 3) before any comparison."""
    result = client().models.compare(name, candidate, baseline, metric, min_delta, data=data, label=label)
    print_output(result, output, lambda: _comparison_table(result))
    if not result.passed:
        raise typer.Exit(GATE_FAILED_EXIT)


def _comparison_table(result: ModelComparison) -> None:
    table = list_table(
        "metric",
        "goal",
        f"candidate v{result.candidate}",
        f"baseline v{result.baseline}",
        "delta",
        "min delta",
        "result",
    )
    for row in result.rows:
        verdict = "[green]pass[/]" if row.passed else "[red]fail[/]"
        table.add_row(
            row.metric, row.goal, f"{row.candidate:.6g}", f"{row.baseline:.6g}", f"{row.delta:+.6g}",
            f"{row.min_delta:g}", verdict,
        )  # fmt: skip
    outcome = "[green]passed[/]" if result.passed else "[red]failed[/]"
    scored = f" scored on {result.data} ({result.rows_scored} rows)" if result.data else ""
    console.print(f"model [bold]{result.name}[/]: candidate v{result.candidate} vs baseline v{result.baseline}{scored}")
    console.print(table)
    console.print(f"gate {outcome}")
