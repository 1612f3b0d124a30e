"""``kiln online-endpoint …`` and ``kiln online-deployment …``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, list_table, print_json, print_output, show, when
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.endpoint import OnlineDeploymentView, OnlineEndpointView, parse_traffic_text

endpoint_app = typer.Typer(
    help="Online endpoints: scoring URIs with keys and blue/green traffic.", no_args_is_help=True
)
deployment_app = typer.Typer(help="Deployments of models behind an online endpoint.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--name", "-n", help="The endpoint's name.")]
DeploymentOption = Annotated[str, typer.Option("--name", "-n", help="The deployment's name.")]
EndpointOption = Annotated[str, typer.Option("--endpoint-name", "-e", help="The endpoint's name.")]
STATE_STYLE = {"succeeded": "green", "failed": "red", "creating": "cyan", "updating": "cyan", "deleting": "yellow"}


def _traffic(text: str | None, flag: str) -> dict[str, int] | None:
    if text is None:
        return None
    try:
        return parse_traffic_text(text, flag)
    except ValueError as exc:
        raise InvalidSpec(str(exc)) from None


# Endpoints ---------------------------------------------------------------------------------------
@endpoint_app.command("create")
def create_endpoint(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The endpoint's YAML file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Overrides the file's name.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create an endpoint (keys are made for it; see get-credentials)."""
    fields: dict[str, Any] = {"name": name} if name else {}
    if file is None and not fields:
        raise InvalidSpec("give the endpoint as -f endpoint.yml, or at least --name")
    view = client().online_endpoints.create(file if file is not None else {}, **fields)
    _show_endpoint(view, output)


@endpoint_app.command("list")
def list_endpoints(output: OutputOption = OutputFormat.table) -> None:
    """Endpoints with their traffic."""
    views = client().online_endpoints.list()
    print_output(views, output, lambda: _endpoints_table(views))


@endpoint_app.command("show")
def show_endpoint(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """An endpoint, its deployments, their replicas and request metrics."""
    _show_endpoint(client().online_endpoints.get(name), output)


@endpoint_app.command("update")
def update_endpoint(
    name: NameOption,
    traffic: Annotated[str | None, typer.Option(help='The whole split, e.g. "blue=90 green=10".')] = None,
    mirror_traffic: Annotated[str | None, typer.Option(help='Copies to a deployment, e.g. "green=20".')] = None,
    description: Annotated[str | None, typer.Option()] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Change traffic, mirrored traffic or the description."""
    view = client().online_endpoints.update(
        name, _traffic(traffic, "--traffic"), _traffic(mirror_traffic, "--mirror-traffic"), description
    )
    _show_endpoint(view, output)


@endpoint_app.command("delete")
def delete_endpoint(name: NameOption) -> None:
    """Delete an endpoint with its deployments; their replica processes stop."""
    client().online_endpoints.delete(name)
    console.print(f"deleted online endpoint {name}")


@endpoint_app.command("get-credentials")
def get_credentials(name: NameOption) -> None:
    """Print the endpoint's primary and secondary keys (JSON)."""
    print_json(client().online_endpoints.get_keys(name))


@endpoint_app.command("regenerate-keys")
def regenerate_keys(
    name: NameOption,
    key_type: Annotated[str, typer.Option("--key-type", help="primary or secondary.")] = "primary",
) -> None:
    """Replace one key; the old one stops working at once."""
    if key_type not in ("primary", "secondary"):
        raise InvalidSpec(f"--key-type: {key_type!r}; use primary or secondary")
    client().online_endpoints.regenerate_keys(name, "primary" if key_type == "primary" else "secondary")
    console.print(f"regenerated the {key_type} key of {name} (kiln online-endpoint get-credentials -n {name})")


@endpoint_app.command("invoke")
def invoke(
    name: NameOption,
    request_file: Annotated[Path, typer.Option("--request-file", "-r", help="The JSON body to send.")],
    deployment_name: Annotated[
        str | None, typer.Option("--deployment-name", "-d", help="Send to this deployment only.")
    ] = None,
    encrypted: Annotated[
        bool,
        typer.Option(
            "--encrypted",
            help="Encrypt the file's rows here (CKKS; the secret key stays in this process), score them on an "
            "encrypted deployment, decrypt the answer here.",
        ),
    ] = False,
) -> None:
    """Score a request through the endpoint's scoring URI, with its key (your API token if its auth_mode is
    aml_token)."""
    endpoints = client().online_endpoints
    if encrypted:
        print(json.dumps(endpoints.invoke_encrypted(name, request_file, deployment_name=deployment_name)))
        return
    answer = endpoints.invoke(name, request_file, deployment_name=deployment_name)
    print(answer if isinstance(answer, str) else json.dumps(answer))


# Deployments -------------------------------------------------------------------------------------
@deployment_app.command("create")
def create_deployment(
    file: Annotated[Path, typer.Option("--file", "-f", help="The deployment's YAML file.")],
    all_traffic: Annotated[bool, typer.Option("--all-traffic", help="Give it 100 % of traffic once ready.")] = False,
    endpoint_name: Annotated[str | None, typer.Option("--endpoint-name", "-e", help="Overrides the file's.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return before the replicas are ready.")] = False,
    set_values: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE overrides.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a deployment; it takes traffic only once all its replicas are ready."""
    fields: dict[str, Any] = {"endpoint_name": endpoint_name} if endpoint_name else {}
    operations = client().online_deployments
    view = operations.create(file, all_traffic=all_traffic, wait=False, set_values=set_values, **fields)
    if not no_wait:
        console.print(f"waiting for deployment {view.name} to be ready…")
        view = operations.wait(view.endpoint_name, view.name)
    _show_deployment(view, output)


@deployment_app.command("update")
def update_deployment(
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="The deployment's name (default: the file's).")
    ] = None,
    endpoint_name: Annotated[
        str | None, typer.Option("--endpoint-name", "-e", help="The endpoint's name (default: the file's).")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A new spec (else the stored one).")] = None,
    set_values: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE, e.g. instance_count=2.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Change a deployment; replicas roll one at a time, without dropping requests. With -f blue.yml the
    deployment and endpoint names come from the file (-n and -e override them)."""
    if file is None and not set_values:
        raise InvalidSpec("give a new spec with -f, or changes with --set KEY=VALUE (with -n NAME -e ENDPOINT)")
    if file is None and (name is None or endpoint_name is None):
        raise InvalidSpec("--set changes the stored spec: give the deployment with -n NAME -e ENDPOINT")
    view = client().online_deployments.update(name, endpoint_name, file, set_values, wait=not no_wait)
    _show_deployment(view, output)


@deployment_app.command("show")
def show_deployment(
    name: DeploymentOption, endpoint_name: EndpointOption, output: OutputOption = OutputFormat.table
) -> None:
    """A deployment's state, replicas and metrics."""
    _show_deployment(client().online_deployments.get(name, endpoint_name), output)


@deployment_app.command("list")
def list_deployments(endpoint_name: EndpointOption, output: OutputOption = OutputFormat.table) -> None:
    """The deployments of an endpoint."""
    views = client().online_deployments.list(endpoint_name)
    print_output(views, output, lambda: _deployments_table(views))


@deployment_app.command("delete")
def delete_deployment(name: DeploymentOption, endpoint_name: EndpointOption) -> None:
    """Delete a deployment that takes no traffic; its replicas stop."""
    client().online_deployments.delete(name, endpoint_name)
    console.print(f"deleted deployment {name} of {endpoint_name}")


@deployment_app.command("get-logs")
def get_logs(
    name: DeploymentOption,
    endpoint_name: EndpointOption,
    lines: Annotated[int, typer.Option("--lines", "-l", help="How many lines from the end.")] = 100,
) -> None:
    """The end of the logs of a deployment's replicas."""
    print(client().online_deployments.get_logs(name, endpoint_name, lines))


# Rendering ---------------------------------------------------------------------------------------
def _shares(shares: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in shares.items()) or "-"


def _endpoints_table(views: list[OnlineEndpointView]) -> Table:
    table = list_table("name", "traffic", "mirror", "deployments", "scoring uri", no_wrap=("name",))
    for view in views:
        table.add_row(
            view.name, _shares(view.traffic), _shares(view.mirror_traffic),
            ", ".join(d.name for d in view.deployments), view.scoring_uri,
        )  # fmt: skip
    return table


def _show_endpoint(view: OnlineEndpointView, output: OutputFormat) -> None:
    print_output(view, output, lambda: _print_endpoint(view))


def _print_endpoint(view: OnlineEndpointView) -> None:
    console.print(f"online endpoint [bold]{view.name}[/]  auth {view.auth_mode}")
    console.print(f"  scoring uri  {view.scoring_uri}")
    console.print(f"  traffic      {_shares(view.traffic)}")
    console.print(f"  mirror       {_shares(view.mirror_traffic)}")
    if view.created_by:
        console.print(f"  created by   {view.created_by}")
    if view.description:
        console.print(f"  about        {view.description}")
    if view.deployments:
        show(_deployments_table(view.deployments))


def _deployments_table(views: list[OnlineDeploymentView]) -> Table:
    table = list_table(
        "deployment", "state", "model", "replicas", "requests", "errors", "mirrored", "p50 ms", "p99 ms",
        no_wrap=("deployment",),
    )  # fmt: skip
    for view in views:
        style = STATE_STYLE.get(view.state.value, "")
        model = f"{view.model_name}:{view.model_version}" if view.model_name else view.model
        metrics = view.metrics
        table.add_row(
            view.name, f"[{style}]{view.state.value}[/]", model, f"{view.ready_replicas}/{view.instance_count}",
            str(metrics.requests), str(metrics.errors), str(metrics.mirrored),
            _ms(metrics.latency_p50_ms), _ms(metrics.latency_p99_ms),
        )  # fmt: skip
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _show_deployment(view: OnlineDeploymentView, output: OutputFormat) -> None:
    print_output(view, output, lambda: _print_deployment(view))


def _print_deployment(view: OnlineDeploymentView) -> None:
    show(_deployments_table([view]))
    if view.created_by:
        console.print(f"  created by {view.created_by}")
    for replica in view.replicas:
        console.print(
            f"  replica {replica.index}  {replica.state}  generation {replica.generation}  "
            f"restarts {replica.restarts}  started {when(replica.started_at)}"
        )
    if view.failure_reason:
        console.print(f"[red]failed:[/] {view.failure_reason}", markup=False)


@deployment_app.command("package")
def package_deployment(
    name: DeploymentOption,
    endpoint_name: EndpointOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="The folder to write into, new or empty (default: ./ENDPOINT-NAME-TO)."),
    ] = None,
    to: Annotated[str, typer.Option("--to", help="docker (a build context) or kubernetes (manifests).")] = "docker",
    image: Annotated[str | None, typer.Option(help="kubernetes: the image built from --to docker.")] = None,
    autoscale: Annotated[
        str | None, typer.Option(help="kubernetes: MIN,MAX replicas (a HorizontalPodAutoscaler).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into a folder that holds files already.")
    ] = False,
) -> None:
    """Write the deployment as a Docker build context or Kubernetes manifests (key hashes, never keys)."""
    folder = client().online_deployments.package(name, endpoint_name, to, output, overwrite, image, autoscale)
    console.print(f"wrote {folder}")


# Safe rollout --------------------------------------------------------------------------------------
ROLLED_BACK_EXIT = 9  # the rollout crossed a limit and the traffic went back (cancelled, failed: 10)
STOPPED_EXIT = 10


@endpoint_app.command("rollout")
def rollout(
    name: NameOption,
    deployment: Annotated[str, typer.Option("--deployment", "-d", help="The deployment to roll out.")],
    steps: Annotated[str, typer.Option("--steps", help="Its live share at each step, rising to 100: 10,50,100.")],
    max_error_rate: Annotated[
        float, typer.Option("--max-error-rate", help="Errors (5xx) per request it may answer in a window.")
    ] = 0.01,
    max_p99_ms: Annotated[float | None, typer.Option("--max-p99-ms", help="Its p99 latency limit, in ms.")] = None,
    mirror: Annotated[int, typer.Option("--mirror", help="Percent of requests copied to it first (0: none).")] = 0,
    window: Annotated[str, typer.Option("--window", help="How long each step is watched: 30s, 5m.")] = "30s",
    min_requests: Annotated[
        int, typer.Option("--min-requests", help="Requests a window must see before it is judged and passes.")
    ] = 0,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Start it and return; the server runs it (kiln online-endpoint rollout-show)."),
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Mirror, then shift traffic to a deployment step by step while its own error rate and p99 hold, rolling the
    traffic back if not. The server runs it (it goes on if this command ends). Exit 0: it reached 100 %; 9: rolled
    back; 10: cancelled or failed; 2/3/4: refused before anything changed."""
    from kiln.specs.users import parse_duration

    shares = [_step(text, steps) for text in steps.replace(" ", "").split(",") if text]
    seconds = parse_duration(window, "--window") or 0.0
    started = client().online_endpoints.rollout(
        name, deployment, shares, mirror=mirror, max_error_rate=max_error_rate, max_p99_ms=max_p99_ms,
        window_seconds=seconds, min_requests=min_requests,
    )  # fmt: skip
    if detach:
        print_output(started, output, lambda: _print_rollout(started))
        return
    quiet = output == OutputFormat.json
    final = client().online_endpoints.wait_rollout(name, None if quiet else _print_progress)
    if quiet:
        print_json(final)
    else:
        _print_rollout(final)
    if final.status != "succeeded":
        raise typer.Exit(ROLLED_BACK_EXIT if final.status == "rolled_back" else STOPPED_EXIT)


@endpoint_app.command("rollout-show")
def rollout_show(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """The endpoint's latest rollout: its steps, windows and outcome."""
    view = client().online_endpoints.get_rollout(name)
    print_output(view, output, lambda: _print_rollout(view))


@endpoint_app.command("rollout-cancel")
def rollout_cancel(name: NameOption) -> None:
    """Stop the running rollout and put the traffic back as it was."""
    view = client().online_endpoints.cancel_rollout(name)
    console.print(f"rollout of {view.deployment} {view.status}; traffic {_shares(view.traffic)}")


def _step(text: str, steps: str) -> int:
    if not text.isdigit():
        raise InvalidSpec(f"--steps {steps!r}: {text!r} is not a whole percentage; write e.g. 10,50,100")
    return int(text)


def _window_line(window: Any) -> str:
    p99 = f", p99 {window.latency_p99_ms:g} ms" if window.latency_p99_ms is not None else ""
    where = f"mirror {window.percent} %" if window.phase == "mirror" else f"{window.percent:>3} % live"
    return f"{where}: {window.requests} requests, {window.errors} errors ({window.error_rate:.2%}){p99}  {window.state}"


def _print_progress(view: Any) -> None:
    if view.windows:
        console.print(f"  {_window_line(view.windows[-1])}", markup=False, soft_wrap=True)


def _print_rollout(view: Any) -> None:
    style = {"succeeded": "green", "rolled_back": "red", "running": "cyan"}.get(view.status, "yellow")
    steps = ",".join(str(step) for step in view.steps)
    console.print(
        f"rollout of [bold]{view.deployment}[/] on {view.endpoint}: [{style}]{view.status}[/]  steps {steps}"
        + (f"  mirror {view.mirror} %" if view.mirror else ""),
        soft_wrap=True,
    )
    for window in view.windows:
        console.print(f"  {_window_line(window)}", markup=False, soft_wrap=True)
    if view.reason:
        console.print(f"  reason: {view.reason}", markup=False, soft_wrap=True)
    console.print(f"  traffic now {_shares(view.traffic)} (before: {_shares(view.traffic_before)})", soft_wrap=True)
