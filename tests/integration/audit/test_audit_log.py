"""The audit log on a real server: a test's changes (jobs, data, models and aliases, endpoints and keys, users and
tokens, computes) listed in the order they were made, by ``kiln audit`` and the SDK, with who and from where."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from kiln.specs.users import WORKSPACE_PRINCIPAL
from tests.conftest import WorkspaceServer

NAME = f"audited-{uuid.uuid4().hex[:6]}"  # every resource of this test has it: one filter lists them all


def test_the_audit_log_lists_a_tests_changes_in_order(workspace: WorkspaceServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("0.5\n")
    with workspace.client() as client:
        client.data.create(name=NAME, type="uri_file", path=str(rows))
        client.data.archive(NAME, 1)
        client.data.restore(NAME, 1)
        client.models.create(name=NAME, path=str(model), type="custom_model")
        client.models.create(name=NAME, path=str(model), type="custom_model")
        client.models.set_alias(NAME, "champion", "1")
        client.models.set_alias(NAME, "champion", "2")  # moved
        client.models.delete_alias(NAME, "champion")
        client.online_endpoints.create({"name": NAME})
        client.online_endpoints.update(NAME, description="scores iris")
        client.online_endpoints.regenerate_keys(NAME, "secondary")
        client.online_endpoints.delete(NAME)
        client.users.create(NAME, "reader")
        client.users.update(NAME, role="contributor")
        token = client.users.create_token(NAME, expires_in="1d", description="ci")
        client.users.revoke_token(token.id)
        client.users.delete(NAME)
        workspace.cli("compute", "create", "--name", NAME, "--type", "local", check=True)  # through the CLI
        workspace.cli("compute", "delete", "--name", NAME, check=True)
        job = client.jobs.create({"name": NAME, "command": "sleep 120", "experiment_name": "audit"})
        job.cancel()
        client.online_endpoints.create({"name": f"{NAME}-read"})
        client.online_endpoints.get_keys(f"{NAME}-read")  # a read: no entry
        client.online_endpoints.delete(f"{NAME}-read")

        listed = client.audit.list(name=NAME)
        by_user = client.audit.list(name=NAME, kind="user", since="1h", user=WORKSPACE_PRINCIPAL)

    made = [(entry.action, entry.kind, entry.version) for entry in listed]
    assert made == [
        ("data.create", "data", "1"), ("data.archive", "data", "1"), ("data.restore", "data", "1"),
        ("models.create", "model", "1"), ("models.create", "model", "2"),
        ("models.set_alias", "model", "1"), ("models.set_alias", "model", "2"), ("models.delete_alias", "model", None),
        ("endpoints.create", "endpoint", None), ("endpoints.update", "endpoint", None),
        ("endpoints.regenerate_keys", "endpoint", None), ("endpoints.delete", "endpoint", None),
        ("users.create", "user", None), ("users.update", "user", None), ("users.create_token", "user", None),
        ("users.delete", "user", None),
        ("computes.create", "compute", None), ("computes.delete", "compute", None),
        ("jobs.create", "job", None), ("jobs.cancel", "job", None),
    ]  # fmt: skip
    # the revoke names the token, not the user (its path has only the token's id): found by the token's id
    assert [entry.action for entry in by_user] == ["users.create", "users.update", "users.create_token", "users.delete"]
    ids = [entry.id for entry in listed]
    assert ids == sorted(ids) and [entry.at for entry in listed] == sorted(entry.at for entry in listed)
    for entry in listed:
        assert (entry.user, entry.via, entry.client) == (WORKSPACE_PRINCIPAL, "workspace token", "127.0.0.1")
        program = "kiln-cli/" if entry.kind == "compute" else "kiln-sdk/"
        assert entry.user_agent is not None and entry.user_agent.startswith(program), entry
    details = {entry.action: entry.detail for entry in listed}
    assert details["models.delete_alias"] == {"alias": "champion"}
    assert details["users.update"] == {"fields": ["role"], "role": "contributor"}
    assert details["endpoints.regenerate_keys"] == {"fields": ["key_type"], "key_type": "secondary"}
    assert token.token not in json.dumps([entry.model_dump(mode="json") for entry in listed])

    shown = workspace.cli("audit", "--name", NAME, "--kind", "model", "-o", "json", check=True)
    entries = json.loads(shown.stdout)
    assert [entry["action"] for entry in entries] == [
        "models.create",
        "models.create",
        "models.set_alias",
        "models.set_alias",
        "models.delete_alias",
    ]
    revoked = workspace.cli("audit", "--kind", "user", "--since", "1h", "-o", "json", check=True)
    assert any(
        e["action"] == "users.revoke_token" and e["detail"] == {"token_id": token.id}
        for e in json.loads(revoked.stdout)
    )
    table = workspace.cli("audit", "--name", NAME, "--kind", "job", check=True, env={"COLUMNS": "250"}).stdout
    assert "jobs.cancel" in table and "127.0.0.1" in table
    read = workspace.cli("audit", "--name", f"{NAME}-read", "-o", "json", check=True)
    assert [entry["action"] for entry in json.loads(read.stdout)] == ["endpoints.create", "endpoints.delete"]
    assert workspace.cli("audit", "--kind", "audit", "-o", "json", check=True).stdout.strip() == "[]"  # reads: none
