"""``kiln datastore …``"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, details_table, list_table, print_output
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.datastore import DATASTORE_TYPES, DatastoreView

app = typer.Typer(
    help="Datastores: where remote data lives (blob, ADLS Gen2, S3, GCS, a shared folder, HTTPS).", no_args_is_help=True
)

NameOption = Annotated[str, typer.Option("--name", "-n", help="The datastore's name.")]


@app.command("create")
def create(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Azure ML's datastore YAML file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Its name (overrides the file's).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help=f"One of: {', '.join(DATASTORE_TYPES)}.")] = None,
    account_name: Annotated[str | None, typer.Option("--account-name", help="Azure: the storage account.")] = None,
    container_name: Annotated[str | None, typer.Option("--container-name", help="azure_blob: the container.")] = None,
    filesystem: Annotated[
        str | None, typer.Option("--filesystem", help="azure_data_lake_gen2: the file system.")
    ] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="s3, gcs: the bucket.")] = None,
    endpoint_url: Annotated[str | None, typer.Option("--endpoint-url", help="s3: the S3 API endpoint.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="local: a folder the server shares.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="https: the base URL.")] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option(
            "--secret-env",
            help="FIELD=VARIABLE: a credential field (account_key, sas_token, client_secret, "
            "access_key_id, secret_access_key…) read from this environment variable, not the command line.",
        ),
    ] = None,  # fmt: skip
    description: Annotated[str | None, typer.Option("--description", help="A note for people.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register a datastore; its credential is stored encrypted and never shown again."""
    if file is None and (name is None or type_ is None):
        raise InvalidSpec("give --file datastore.yml, or --name NAME --type TYPE and the type's location options")
    fields = {
        "name": name, "type": type_, "account_name": account_name, "container_name": container_name,
        "filesystem": filesystem, "bucket": bucket, "endpoint_url": endpoint_url, "path": path, "url": url,
        "description": description,
    }  # fmt: skip
    if secret_env:
        fields["credentials"] = _secrets_from_environment(secret_env)  # type: ignore[assignment]
    view = client().datastores.create(file, **fields)
    print_output(view, output, lambda: details(view))


def _secrets_from_environment(pairs: list[str]) -> dict[str, str]:
    secrets = {}
    for pair in pairs:
        field, _, variable = pair.partition("=")
        if not field or not variable:
            raise InvalidSpec(f"--secret-env: {pair!r} is not FIELD=VARIABLE (e.g. account_key=AZURE_STORAGE_KEY)")
        if not os.environ.get(variable):
            raise InvalidSpec(f"--secret-env: the environment variable {variable} (for {field}) is not set")
        secrets[field] = os.environ[variable]
    return secrets


@app.command("list")
def list_(output: OutputOption = OutputFormat.table) -> None:
    """Every datastore: its type, location and which credential kind is set."""
    views = client().datastores.list()
    print_output(views, output, lambda: datastores_table(views))


@app.command("show")
def show(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """One datastore: its location and which credential kind is set (never the credential)."""
    view = client().datastores.get(name)
    print_output(view, output, lambda: details(view))


@app.command("delete")
def delete(name: NameOption) -> None:
    """Forget a datastore and its credential (the store itself is untouched)."""
    client().datastores.delete(name)
    console.print(f"datastore [bold]{name}[/] deleted")


def _where(view: DatastoreView) -> str:
    return ", ".join(f"{key}={value}" for key, value in view.location.items())


def datastores_table(views: list[DatastoreView]) -> Table:
    table = list_table("name", "type", "credential", "location", no_wrap=("name", "type", "credential"))
    for view in views:
        table.add_row(view.name, view.type, view.credential or "none", _where(view))
    return table


def details(view: DatastoreView) -> Table:
    rows = [("name", view.name), ("type", view.type), *view.location.items()]
    rows.append(("credential", view.credential or "none (anonymous access)"))
    rows += [
        (key, value) for key, value in (("description", view.description), ("created by", view.created_by)) if value
    ]
    return details_table(rows)
