"""``kiln ui``: kiln studio in the browser, signed in with one click through a one-time link (it carries
a code that works once, within two minutes, never the token)."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Annotated

import typer

from kiln.cli.render import console
from kiln.cli.workspace import client


def ui_command(
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the link.")] = False,
) -> None:
    """Open the workspace's web UI, kiln studio, signed in (or print its link)."""
    with client() as workspace:
        link = workspace.users.sign_in_link()
    opened = not no_browser and _has_display() and webbrowser.open(link)
    where = "opened in your browser" if opened else "open it in a browser on this machine"
    console.print(f"kiln studio: {link}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"  ({where}; the link signs in once, within 2 minutes: run 'kiln ui' again for a new one)")


def _has_display() -> bool:
    """A graphical browser can open here (not a text browser taking over the terminal)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
