"""``kiln server …``: run the workspace server in the foreground or manage the background one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kiln.cli.render import console
from kiln.config import Settings

app = typer.Typer(help="Run or manage the workspace server.", invoke_without_command=True)

HomeOption = Annotated[Path | None, typer.Option("--home", help="Workspace folder (default KILN_HOME or ~/.kiln).")]


@app.callback()
def server(
    ctx: typer.Context,
    home: HomeOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: a free one, written to server.json).")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Metadata database: sqlite:///PATH (default: in the home) or postgresql://USER:PASSWORD@HOST:PORT/DB "
            "(several servers may share one; MLflow then uses the database DB_mlflow beside it)."
        ),
    ] = None,
    artifact_root: Annotated[
        str | None,
        typer.Option(
            help="Artifact store: a local folder (default: in the home) or s3://BUCKET/PREFIX (the bucket must exist)."
        ),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None,
        typer.Option(
            help="S3 API endpoint for an s3:// artifact root (default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS)."
        ),
    ] = None,
    mlflow_backend_store_uri: Annotated[
        str | None, typer.Option(help="MLflow's own store (default: beside the metadata database).")
    ] = None,
) -> None:
    """Without a sub-command: run the server in the foreground until Ctrl+C."""
    ctx.obj = dict(
        home=home, host=host, port=port, database_url=database_url, artifact_root=artifact_root,
        mlflow_backend_store_uri=mlflow_backend_store_uri, s3_endpoint_url=s3_endpoint_url,
    )  # fmt: skip
    if ctx.invoked_subcommand is None:
        _run(Settings.load(**ctx.obj))


@app.command("run", hidden=True)
def run(ctx: typer.Context, home: HomeOption = None, host: str | None = None, port: int | None = None) -> None:
    """Foreground server (what ``kiln server start`` launches)."""
    flags = {**(ctx.obj or {}), **{k: v for k, v in dict(home=home, host=host, port=port).items() if v is not None}}
    _run(Settings.load(**flags))


def _run(settings: Settings) -> None:
    from kiln.server.process import serve_foreground

    serve_foreground(settings)


@app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the workspace server in the background (the CLI and SDK also do this on first use)."""
    from kiln.server.process import ensure_server

    info = ensure_server(Settings.load(**ctx.obj), quiet=False)
    console.print(f"kiln workspace running at {info.url} (pid {info.pid})")


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the background server. Running jobs go on and are re-adopted at the next start."""
    from kiln.server.process import stop_server

    info = stop_server(Settings.load(**ctx.obj))
    console.print(f"stopped the kiln workspace (pid {info.pid})" if info else "no kiln workspace server was running")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Is the server running, and where? Exits 1 if it is not."""
    from kiln.server.process import running_server

    settings = Settings.load(**ctx.obj)
    info = running_server(settings)
    if info is None:
        console.print(f"no kiln workspace server is running for {settings.resolved_home}")
        raise typer.Exit(1)
    console.print(
        f"kiln workspace running at {info.url} (pid {info.pid})\nhome: {settings.resolved_home}\nMLflow: {info.url}/mlflow"
    )
