"""Probes of a scored ``models.compare`` (``kiln model compare --data``): a reader may score on a data asset that is
not private, a private version's rows are scored for owners alone (as every raw-row read), the data reference names a
stored data asset and nothing else (the ways out of uploads and jobs' outputs of tests/security/test_references.py
are refused with 422 naming ``data``), and a model's own code runs in the job sandbox: not in the server, without the
server's token, its variables or its home."""

from __future__ import annotations

import uuid

import httpx
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from kiln import api
from kiln.errors import Forbidden
from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Team
from tests.security.test_references import JOB_ESCAPES, UPLOAD_ESCAPES

PRIVACY_METADATA = {
    "max_ids": 1, "pid": {"type": "int", "private_id": True}, "age": {"type": "int", "lower": 0, "upper": 99},
    "label": {"type": "int", "lower": 0, "upper": 1},
}  # fmt: skip
# a model whose answers say what it could reach: 0 per row when nothing, 1 when the server's token or credentials
PROBE_MODEL = """
import os


class Probe:
    def predict(self, rows, params=None):
        reached = any("TOKEN" in name or name.startswith("KILN_") for name in os.environ)
        reached = reached or any(os.path.exists(path) for path in ({token!r}, {home!r} + "/artifacts"))
        return [int(reached)] * len(rows)


def _load_pyfunc(path):
    return Probe()
"""


@pytest.fixture(scope="module")
def gate(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Model NAME (versions 1 and 2, logistic regressions on age), a data asset PUBLIC (version 1) and PRIVATE
    (version 1, private), and PROBE (version 1 of another model: the probe above)."""
    folder = tmp_path_factory.mktemp("compare-probes")
    ages = list(range(20, 80))
    pids = np.random.default_rng(0).permutation(len(ages))  # ids that say nothing of the label
    frame = pd.DataFrame({"pid": pids, "age": ages, "label": [int(age > 50) for age in ages]})
    frame.to_csv(folder / "rows.csv", index=False)
    names = {key: f"cmp-{key}-{uuid.uuid4().hex[:6]}-{SUFFIX}" for key in ("model", "public", "private", "probe")}
    home = str(security_server.home)
    (folder / "probe_model.py").write_text(PROBE_MODEL.format(token=f"{home}/token", home=home))
    features = frame[["pid", "age"]]
    with team.contributor.client(security_server) as contributor, team.owner.client(security_server) as owner:
        for version, columns in ((1, ["pid"]), (2, ["pid", "age"])):
            used = features.copy()
            used.loc[:, [c for c in used.columns if c not in columns]] = 0
            model = LogisticRegression(max_iter=1000).fit(used, frame["label"])
            mlflow.sklearn.save_model(model, str(folder / f"v{version}"), input_example=features.iloc[:2])
            contributor.models.create(name=names["model"], path=str(folder / f"v{version}"), type="mlflow_model")
        mlflow.pyfunc.save_model(
            str(folder / "probe"), loader_module="probe_model", code_paths=[str(folder / "probe_model.py")]
        )
        contributor.models.create(name=names["probe"], path=str(folder / "probe"), type="mlflow_model")
        contributor.models.create(name=names["probe"], path=str(folder / "probe"), type="mlflow_model")
        contributor.data.create(name=names["public"], version="1", type="uri_file", path=str(folder / "rows.csv"))
        owner.data.create(
            {
                "name": names["private"],
                "version": "1",
                "type": "uri_file",
                "path": str(folder / "rows.csv"),
                "privacy": {"epsilon": 1.0, "delta": 1e-6, "metadata": PRIVACY_METADATA},
            }  # fmt: skip
        )
    return names


def _body(data: str, metric: str = "accuracy") -> dict[str, object]:
    return {"candidate": "2", "baseline": "1", "metrics": [{"name": metric}], "data": data, "label": "label"}


def test_a_reader_may_score_on_a_data_asset_that_is_not_private(
    security_server: WorkspaceServer, team: Team, gate: dict[str, str]
) -> None:
    with team.reader.client(security_server) as reader:
        result = reader.models.compare(
            gate["model"], "2", "1", "accuracy", data=f"kiln:{gate['public']}:1", label="label"
        )
    assert result.passed and result.rows_scored == 60 and result.rows[0].candidate > result.rows[0].baseline


def test_a_private_version_is_scored_for_owners_only(
    security_server: WorkspaceServer, team: Team, gate: dict[str, str]
) -> None:
    private = f"kiln:{gate['private']}:1"
    for member in (team.reader, team.contributor):
        with member.client(security_server) as client, pytest.raises(Forbidden) as refused:
            client.models.compare(gate["model"], "2", "1", "accuracy", data=private, label="label")
        assert refused.value.message.startswith(
            f"data asset '{gate['private']}' version '1' is private: scoring models on its rows needs owner"
        )
        cli = security_server.cli(
            "model", "compare", "-n", gate["model"], "--candidate", "2", "--baseline", "1", "--data", private,
            "--label", "label", "-m", "accuracy", env={"KILN_TOKEN": member.token},
        )  # fmt: skip
        assert cli.returncode == 5 and "is private" in cli.stderr and "Traceback" not in cli.stderr
    with team.owner.client(security_server) as owner:
        assert owner.models.compare(gate["model"], "2", "1", "accuracy", data=private, label="label").passed
        budget = owner.privacy.budget(gate["private"], "1")
    assert (budget.spent_epsilon, budget.charges) == (0.0, [])  # an owner's read of raw rows charges nothing


def _refused(answer: httpx.Response) -> str:
    assert answer.status_code == 422, f"expected 422, got {answer.status_code}: {answer.text[:500]}"
    message: str = answer.json()["error"]["message"]
    assert message.startswith(("data: ", "field 'data'")), message
    return message


def test_the_data_reference_names_a_stored_data_asset_and_nothing_else(
    security_server: WorkspaceServer, team: Team, gate: dict[str, str]
) -> None:
    path = api.models.COMPARE.path.format(name=gate["model"])
    escapes = [
        *UPLOAD_ESCAPES.values(), *(f"upload:0/{escape}" for escape in UPLOAD_ESCAPES.values()),
        *(escape.format(job="some-job") for escape in JOB_ESCAPES.values()),
        "kiln:../../token:1", f"kiln:{gate['public']}:../1", f"kiln:{gate['public']}@champion", "kiln:..:1",
        f"azureml:{gate['public']}/../../token:1",
    ]  # fmt: skip
    with team.reader.http(security_server) as reader:
        for escape in escapes:
            message = _refused(reader.post(path, json=_body(escape)))
            assert security_server.token not in message
    assert not list((security_server.home / "tmp" / "scoring").glob("*"))  # nothing was scored or left


def test_a_models_code_runs_sandboxed_without_the_servers_token_or_home(
    security_server: WorkspaceServer, team: Team, gate: dict[str, str]
) -> None:
    """The probe answers 1 for a row when it reached the token, the database, the server's variables or its home:
    every label of the data is 0 here, so an accuracy of 1 means it reached nothing."""
    with team.reader.client(security_server) as reader:
        result = reader.models.compare(
            gate["probe"], "2", "1", "accuracy", data=f"kiln:{gate['public']}:1", label="label", min_delta=-1.0
        )
    # the probe answers alike for every row: 0 (reached nothing) is right on the 31 rows of ages 20 to 50
    assert (security_server.home / "token").is_file() and result.rows[0].candidate == pytest.approx(31 / 60)
