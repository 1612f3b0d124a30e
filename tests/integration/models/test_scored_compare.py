"""``kiln model compare --data``, through the real CLI against the shared workspace: two scikit-learn versions of
different quality, trained on part of iris, are scored on a data asset of the held-out rows; the gate passes one
way (exit 0) and fails the other (exit 1) with the table, the metrics equal those computed here from the same
models, and bad input is an error (exit 2 or 3) before anything is scored."""

from __future__ import annotations

import json
import math
import uuid

import mlflow.sklearn
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from kiln.errors import InvalidSpec, NotFound
from tests.conftest import WorkspaceServer

FEATURES_OF_THE_WEAK_ONE = ["sepal width (cm)"]  # alone, it tells the species apart poorly


@pytest.fixture(scope="module")
def registered(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Model NAME: version 1 weak (one feature, others predicted as the mean), version 2 strong; data asset of
    the held-out rows."""
    folder = tmp_path_factory.mktemp("scored-compare")
    frame = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=1)
    train, test = frame.iloc[:90], frame.iloc[90:]
    features = train.drop(columns=["target"])
    weak_features = features.copy()
    for column in features.columns:
        if column not in FEATURES_OF_THE_WEAK_ONE:
            weak_features[column] = features[column].mean()  # nothing to learn from
    weak = LogisticRegression(max_iter=500).fit(weak_features, train["target"])
    strong = LogisticRegression(max_iter=500).fit(features, train["target"])
    name, data = f"scored-{uuid.uuid4().hex[:6]}", f"holdout-{uuid.uuid4().hex[:6]}"
    with workspace.client() as client:
        for label, model in (("weak", weak), ("strong", strong)):
            mlflow.sklearn.save_model(model, str(folder / label), input_example=features.iloc[:2])
            client.models.create(name=name, path=str(folder / label), type="mlflow_model", description=label)
        test.to_csv(folder / "holdout.csv", index=False)
        client.data.create(name=data, version="1", type="uri_file", path=str(folder / "holdout.csv"))
        client.models.set_alias(name, "champion", "1")
    rows, labels = test.drop(columns=["target"]), test["target"]
    expected = {
        version: {
            "accuracy": accuracy_score(labels, model.predict(rows)),
            "f1": f1_score(labels, model.predict(rows), average="macro"),
        }
        for version, model in (("1", weak), ("2", strong))
    }
    return {"name": name, "data": f"kiln:{data}:1", "expected": expected, "rows": len(test)}


def test_the_better_candidate_passes_and_the_worse_one_fails_with_the_gates_exit_codes(
    workspace: WorkspaceServer, registered: dict[str, object]
) -> None:
    name, data, expected = registered["name"], registered["data"], registered["expected"]
    assert isinstance(expected, dict) and expected["2"]["accuracy"] > expected["1"]["accuracy"] + 0.2
    gate = ["--data", str(data), "--label", "target", "--metric", "accuracy", "--metric", "f1", "--min-delta", "0.0"]

    passed = workspace.cli("model", "compare", "-n", str(name), "--candidate", "2", "--baseline", "@champion", *gate)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    printed = " ".join(passed.stdout.split())  # as a narrow terminal wraps it
    assert f"candidate v2 vs baseline v1 scored on {str(data).removeprefix('kiln:')} ({registered['rows']} rows)" in (
        printed
    )
    assert "gate passed" in passed.stdout and "accuracy" in passed.stdout and "fail" not in passed.stdout

    failed = workspace.cli(
        "model", "compare", "-n", str(name), "--candidate", "1", "--baseline", "2", *gate, "-o", "json"
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    answer = json.loads(failed.stdout)
    assert (answer["candidate"], answer["baseline"], answer["passed"]) == ("1", "2", False)
    assert answer["rows_scored"] == registered["rows"] and answer["candidate_job"] is None
    for row in answer["rows"]:
        assert row["candidate"] == pytest.approx(expected["1"][row["metric"]])
        assert row["baseline"] == pytest.approx(expected["2"][row["metric"]])
        assert row["passed"] is False and row["goal"] == "max"

    # a regression metric on class labels is still computable; a regression allowed by min_delta passes
    with workspace.client() as client:
        loose = client.models.compare(
            str(name), "1", "2", ["rmse:min:-10", "mae:min:-10", "r2:max:-10"], data=str(data), label="target"
        )
    assert loose.passed and all(math.isfinite(row.candidate) for row in loose.rows)
    assert [row.goal for row in loose.rows] == ["min", "min", "max"]
    assert not list((workspace.home / "tmp" / "scoring").iterdir())  # nothing left behind


def test_bad_input_is_an_error_before_anything_is_scored(
    workspace: WorkspaceServer, registered: dict[str, object]
) -> None:
    name, data = str(registered["name"]), str(registered["data"])

    def compare(*args: str) -> tuple[int, str]:
        done = workspace.cli("model", "compare", "-n", name, "--candidate", "2", "--baseline", "1", *args)
        assert "Traceback" not in done.stderr
        return done.returncode, done.stderr

    assert compare("--data", data, "--label", "species", "-m", "accuracy") == (
        2,
        f"error: label: data asset {data.removeprefix('kiln:').replace(':1', '')}:1 has no column 'species' (its "
        "columns: sepal length (cm), sepal width (cm), petal length (cm), petal width (cm), target); name its "
        "column of true answers\n",
    )
    code, message = compare("--data", data, "--label", "target", "-m", "auc")
    assert code == 2 and "'auc' is not a metric kiln computes from scored rows (known: accuracy, f1, precision" in (
        message
    )
    code, message = compare("--data", "kiln:no-such-holdout:1", "--label", "target", "-m", "accuracy")
    assert code in (2, 3) and "no-such-holdout" in message
    code, message = compare("--label", "target", "-m", "accuracy")
    assert code == 2 and "label: a label column is read from a data asset" in message
    code, message = compare("--data", data, "-m", "accuracy")
    assert code == 2 and "--label COLUMN" in message
    code, message = compare("--data", data, "--label", "target", "-m", "accuracy:min")
    assert code == 2 and "write accuracy or accuracy:max" in message
    with workspace.client() as client, pytest.raises(NotFound):
        client.models.compare(name, "2", "@production", "accuracy", data=data, label="target")
    with workspace.client() as client, pytest.raises(InvalidSpec, match="data: '/etc/passwd' is not a data asset"):
        client.models.compare(name, "2", "1", "accuracy", data="/etc/passwd", label="target")
