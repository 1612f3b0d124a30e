"""Capability plug-ins in a real workspace server: named by KILN_PLUGINS, their routes reach a service
built from the workspace's own services, their commands run in the CLI, and one whose extra is
missing answers MissingExtra over REST, through the SDK and in the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from kiln.errors import MissingExtra

PLUGINS = "tests.capability_plugins.echo,tests.capability_plugins.absent"
MISSING = (
    "needs 'kiln_test_absent_extra_module' (the kiln[absent-test] extra), which is not installed in "
    f'{sys.executable}: pip install "kiln[absent-test]"'
)


def test_a_plugin_capability_on_a_real_server(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(plugins=PLUGINS)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})

    assert http.get("/api/v1/echo-test/say", params={"text": "hi"}).json() == {"echo": "echo: hi"}
    given = http.get("/api/v1/echo-test/context").json()
    assert given["url"] == server.url
    assert Path(given["folder"]) == (server.home / "capabilities" / "echo-test").resolve()
    assert given["services"] == (
        "ArtifactStore,RunTracker,JobService,DataService,ModelService,EnvironmentService,EndpointService"
    )
    assert httpx.get(f"{server.url}/api/v1/echo-test/say", params={"text": "hi"}).status_code == 401

    absent = http.get("/api/v1/absent-test/ping")
    assert absent.status_code == 501
    assert absent.json()["error"] == {
        "type": "MissingExtra",
        "message": f"GET /api/v1/absent-test/ping on the workspace server {MISSING}",
    }
    with server.client() as client, pytest.raises(MissingExtra, match="pip install"):
        client._rest.request("GET", "/api/v1/absent-test/ping")

    assert server.cli("echo-test", "from", "the", "cli", check=True).stdout == "echo: from the cli\n"
    missing = server.cli("absent-test")
    assert (
        missing.returncode == MissingExtra.exit_code and missing.stderr.strip() == f"error: kiln absent-test {MISSING}"
    )
