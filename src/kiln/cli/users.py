"""``kiln user …`` (users, roles, API tokens), ``kiln login URL`` and ``kiln logout``."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.table import Table

from kiln.cli.render import (
    OutputFormat,
    OutputOption,
    console,
    details_table,
    err_console,
    list_table,
    print_output,
    when,
)
from kiln.cli.workspace import client
from kiln.client import Client
from kiln.errors import InvalidSpec
from kiln.sdk.login import StoredLogin, forget_login, login_file, same_workspace, save_login
from kiln.specs.users import NEVER, NewTokenView, Role, TokenView, UserView, WhoAmIView

app = typer.Typer(help="Users, their roles (reader, contributor, owner) and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="A user's API tokens: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")

NameArgument = Annotated[str, typer.Argument(help="The user's name.")]
STATE_STYLE = {"active": "green", "expired": "yellow", "revoked": "red"}


# Users -------------------------------------------------------------------------------------------
@app.command("create")
def create(
    name: NameArgument,
    role: Annotated[Role, typer.Option("--role", "-r", help="reader, contributor or owner.")],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Add a user (owners only); then give them a token: kiln user token create NAME."""
    _show_user(client().users.create(name, role, description), output)


@app.command("list")
def list_(output: OutputOption = OutputFormat.table) -> None:
    """Every user with their role."""
    views = client().users.list()
    print_output(views, output, lambda: _users_table(views))


@app.command("show")
def show(name: NameArgument, output: OutputOption = OutputFormat.table) -> None:
    """One user: role, who created them, how many active tokens they have."""
    _show_user(client().users.get(name), output)


@app.command("update")
def update(
    name: NameArgument,
    role: Annotated[Role | None, typer.Option("--role", "-r", help="The new role.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Change a user's role (owners only); it counts from their next request."""
    if role is None and description is None:
        raise InvalidSpec("nothing to change: give --role and/or --description")
    _show_user(client().users.update(name, role, description), output)


@app.command("delete")
def delete(name: NameArgument) -> None:
    """Remove a user and all their tokens (owners only); what they created keeps their name."""
    client().users.delete(name)
    console.print(f"user [bold]{name}[/] deleted; their tokens no longer work", soft_wrap=True)


@app.command("whoami")
def whoami(output: OutputOption = OutputFormat.table) -> None:
    """The user and role the CLI acts as."""
    view = client().users.whoami()
    print_output(view, output, lambda: _print_whoami(view))


def _print_whoami(view: WhoAmIView) -> None:
    via = f"token {view.token_id}" if view.token_id else "the workspace token"
    console.print(f"[bold]{view.name}[/] ({view.role.value}) at {client().url}, with {via}", soft_wrap=True)


# Tokens ------------------------------------------------------------------------------------------
@token_app.command("create")
def create_token(
    name: NameArgument,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help=f"Lifetime: 45s, 90m, 12h, 30d, 2w or '{NEVER}' (default 90d).")
    ] = None,
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            "--expires-at", help="Expiry moment: 2027-01-31 or 2027-01-31T12:00:00 (UTC unless a zone is given)."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="What it is for.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Make an API token for NAME (yourself, or anyone if you are an owner). It is printed once, alone on
    stdout: keep it secret; the workspace keeps only its hash."""
    if expires_in is not None and expires_at is not None:
        raise InvalidSpec("give --expires-in or --expires-at, not both")
    view = client().users.create_token(name, expires_in=expires_in, expires_at=expires_at, description=description)
    print_output(view, output, lambda: _print_new_token(view))


def _print_new_token(view: NewTokenView) -> None:
    """The token alone on stdout (for scripts); what it is, on stderr."""
    expiry = f"expires {when(view.expires_at)}" if view.expires_at else "never expires"
    err_console.print(
        f"token [bold]{view.id}[/] of {view.user} ({expiry}); shown this once, keep it secret:", soft_wrap=True
    )
    print(view.token)
    err_console.print(
        f"[dim]use it: kiln login {client().url} (then paste it), or KILN_TOKEN / MLFLOW_TRACKING_TOKEN[/]",
        soft_wrap=True,
    )


@token_app.command("list")
def list_tokens(name: NameArgument, output: OutputOption = OutputFormat.table) -> None:
    """NAME's tokens (their ids and first characters, never the tokens), and running jobs' tokens."""
    views = client().users.list_tokens(name)
    print_output(views, output, lambda: _tokens_table(views))


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tk_…), as token list shows it.")]) -> None:
    """Stop a token working: at once on this server, within seconds on others sharing the database."""
    view = client().users.revoke_token(token_id)
    console.print(f"token [bold]{view.id}[/] of {view.user} revoked at {when(view.revoked_at)}", soft_wrap=True)


# Login -------------------------------------------------------------------------------------------
def login_command(
    url: Annotated[str, typer.Argument(help="The workspace server: http(s)://HOST:PORT.")],
    token: Annotated[
        str | None, typer.Option("--token", help="The API token (default: asked for, without echo).")
    ] = None,
) -> None:
    """Check a token against a workspace and keep both for the CLI and SDK (a file only you can read)."""
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidSpec(f"URL: {url!r} is not a workspace address; give it as http(s)://HOST:PORT")
    given = (token if token is not None else typer.prompt("Token", hide_input=True)).strip()
    if not given:
        raise InvalidSpec("--token: empty; give the API token (kiln user token create NAME makes one)")
    with Client(url=url, token=given) as workspace:
        who = workspace.users.whoami()
    path = save_login(StoredLogin(url=url, token=given))
    console.print(f"logged in to {url} as [bold]{who.name}[/] ({who.role.value}); token kept in {path}", soft_wrap=True)
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            "[yellow]warning:[/] http:// sends the token unencrypted; use https:// beyond this machine", soft_wrap=True
        )
    if os.environ.get("KILN_URL") and not same_workspace(os.environ["KILN_URL"], url):
        err_console.print(
            f"[yellow]note:[/] KILN_URL={os.environ['KILN_URL']} is set and wins over this login", soft_wrap=True
        )
    elif os.environ.get("KILN_HOME") and not os.environ.get("KILN_URL"):
        err_console.print(
            "[yellow]note:[/] KILN_HOME is set: the CLI uses that local workspace until you unset it", soft_wrap=True
        )


def logout_command() -> None:
    """Forget the stored login; the CLI goes back to the local workspace (the token itself stays valid)."""
    removed = forget_login()
    if removed is None:
        console.print(f"not logged in (no {login_file()})", soft_wrap=True)
    else:
        console.print(
            f"logged out: removed {removed} (kiln user token revoke ID ends the token itself)", soft_wrap=True
        )


# Rendering ---------------------------------------------------------------------------------------
def _show_user(view: UserView, output: OutputFormat) -> None:
    print_output(view, output, lambda: _user_details(view))


def _user_details(view: UserView) -> Table:
    rows = [
        ("name", view.name),
        ("role", view.role.value),
        ("created", when(view.created_at) + (f" by {view.created_by}" if view.created_by else "")),
        ("updated", when(view.updated_at)),
        ("active tokens", str(view.active_tokens)),
    ]
    if view.description:
        rows.insert(2, ("description", view.description))
    return details_table(rows)


def _users_table(views: list[UserView]) -> Table:
    table = list_table("name", "role", "active tokens", "created", "created by", "description", no_wrap=("name",))
    for view in views:
        table.add_row(
            view.name, view.role.value, str(view.active_tokens), when(view.created_at), view.created_by or "-",
            view.description or "",
        )  # fmt: skip
    return table


def _tokens_table(views: list[TokenView]) -> Table:
    table = list_table(
        "id", "starts", "state", "expires", "created", "created by", "description", no_wrap=("id", "starts")
    )
    for view in views:
        style = STATE_STYLE[view.state]
        expires = when(view.expires_at) if view.expires_at else NEVER
        table.add_row(
            view.id, view.prefix + "…", f"[{style}]{view.state}[/]", expires,
            when(view.created_at), view.created_by or "-",
            view.description or "",
        )  # fmt: skip
    return table
