"""Scored comparisons: the metrics computed from answers (checked against values worked out by hand), the request's
rules (label and scored metrics only with data), the scoring process on a real scikit-learn model saved by MLflow,
and the gate built from scored metrics, before which every check runs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.model_scoring import process
from kiln.model_scoring.metrics import score
from kiln.services.model_compare import compare_versions
from kiln.specs.model_compare import SCORED_METRICS, CompareRequest, parse_metric_gate
from tests.unit.services.test_model_compare import MODELS, TRACKER

LABELS = ["a", "a", "b", "b", "c", "c"]
ANSWERS = ["a", "b", "b", "b", "c", "a"]


def test_classification_metrics_match_the_values_worked_out_by_hand() -> None:
    assert score("accuracy", LABELS, ANSWERS) == pytest.approx(4 / 6)
    # per class (a, b, c): precision 1/2, 2/3, 1/1; recall 1/2, 2/2, 1/2
    precision, recall = [1 / 2, 2 / 3, 1.0], [1 / 2, 1.0, 1 / 2]
    assert score("precision", LABELS, ANSWERS) == pytest.approx(sum(precision) / 3)
    assert score("recall", LABELS, ANSWERS) == pytest.approx(sum(recall) / 3)
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert score("f1", LABELS, ANSWERS) == pytest.approx(sum(f1) / 3)
    # a class never predicted counts 0 (macro), without a warning
    assert score("precision", [0, 1, 2], [0, 0, 1]) == pytest.approx((1 / 2 + 0 + 0) / 3)


def test_labels_read_as_text_match_numeric_answers() -> None:
    assert score("accuracy", ["1", "0", "1"], [1, 0, 0]) == pytest.approx(2 / 3)
    assert score("accuracy", [1.0, 0.0], [1, 0]) == 1.0


def test_regression_metrics_match_the_values_worked_out_by_hand() -> None:
    labels, answers = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 5.0]  # errors 0.5, 0, 1, 1
    assert score("mae", labels, answers) == pytest.approx(2.5 / 4)
    assert score("rmse", labels, answers) == pytest.approx(math.sqrt(2.25 / 4))
    assert score("r2", labels, answers) == pytest.approx(1 - 2.25 / 5.0)  # total sum of squares about 2.5: 5
    assert score("rmse", [0, 1, 2], [0, 2, 2]) == pytest.approx(math.sqrt(1 / 3))  # class labels are numbers too


def test_a_metric_that_does_not_fit_the_answers_is_an_error() -> None:
    with pytest.raises(InvalidSpec, match="'rmse' compares numbers, and the labels are not numbers.*accuracy"):
        score("rmse", ["a", "b"], [1.0, 2.0])
    with pytest.raises(InvalidSpec, match="'auc' is not a scored metric.*accuracy, f1"):
        score("auc", [1], [1])
    with pytest.raises(InvalidSpec, match="2 predictions for 3"):
        score("accuracy", [1, 2, 3], [1, 2])


def request(*metrics: str, **fields: object) -> CompareRequest:
    gates = [parse_metric_gate(m) for m in metrics]
    return CompareRequest(candidate="5", baseline="@champion", metrics=gates, **fields)  # type: ignore[arg-type]


def test_a_scored_request_needs_a_label_and_scored_metrics_in_their_own_direction() -> None:
    assert request("accuracy", "rmse", data="kiln:holdout:1", label="target").scored
    assert [parse_metric_gate(n).resolved_goal for n in SCORED_METRICS] == list(SCORED_METRICS.values())
    with pytest.raises(ValueError, match="label: a scored comparison needs"):
        request("accuracy", data="kiln:holdout:1")
    with pytest.raises(ValueError, match="label: a label column is read from a data asset"):
        request("accuracy", label="target")
    with pytest.raises(ValueError, match="'val_loss' is not a metric kiln computes.*accuracy, f1, precision"):
        request("accuracy", "val_loss", data="kiln:holdout:1", label="target")
    with pytest.raises(ValueError, match="'accuracy' is better when it is higher; write accuracy or accuracy:max"):
        request("accuracy:min", data="kiln:holdout:1", label="target")


class FakeScoring:
    def __init__(self, metrics: dict[str, dict[str, float]]) -> None:
        self.metrics, self.calls = metrics, []

    def check(self, req: CompareRequest, role: object) -> object:
        self.calls.append(("check", role))
        return type("Row", (), {"name": "holdout", "version": "2"})()

    def score(self, row: object, models: dict[str, tuple[str, str]], req: CompareRequest) -> tuple[int, dict]:
        self.calls.append(("score", models))
        return 50, self.metrics


def test_a_scored_gate_compares_the_scored_metrics_not_the_runs() -> None:
    scoring = FakeScoring({"candidate": {"accuracy": 0.96, "rmse": 0.2}, "baseline": {"accuracy": 0.7, "rmse": 0.5}})
    result = compare_versions(
        MODELS, TRACKER, "iris", request("accuracy", "rmse", data="kiln:holdout@latest", label="y"),  # type: ignore[arg-type]
        scoring, "reader",  # type: ignore[arg-type]
    )  # fmt: skip
    assert result.passed and (result.data, result.rows_scored) == ("holdout:2", 50)
    assert [(r.metric, r.goal, r.candidate, r.baseline) for r in result.rows] == [
        ("accuracy", "max", 0.96, 0.7), ("rmse", "min", 0.2, 0.5),
    ]  # fmt: skip
    assert scoring.calls == [("check", "reader"), ("score", {"candidate": ("iris", "5"), "baseline": ("iris", "3")})]
    worse = FakeScoring({"candidate": {"accuracy": 0.7}, "baseline": {"accuracy": 0.96}})
    assert not compare_versions(MODELS, TRACKER, "iris", request("accuracy", data="kiln:h:1", label="y"), worse).passed  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """A logistic regression saved by MLflow and a CSV of rows it was not trained on (label column ``target``)."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("scored")
    frame = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=0)
    train, test = frame.iloc[:100], frame.iloc[100:]
    model = LogisticRegression(max_iter=500).fit(train.drop(columns=["target"]), train["target"])
    mlflow.sklearn.save_model(model, str(folder / "model"), input_example=train.drop(columns=["target"]).iloc[:2])
    (folder / "data").mkdir()
    test.to_csv(folder / "data" / "holdout.csv", index=False)
    return folder / "model", folder / "data", model


def test_the_process_scores_a_saved_model_on_the_rows_with_the_label_held_out(
    holdout: tuple[Path, Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, data_dir, model = holdout
    argv = ["--model", f"candidate={model_dir}", "--data", str(data_dir), "--label", "target", "--metric", "accuracy"]
    assert process.main([*argv, "--metric", "mae"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows, labels = process.labelled_rows(data_dir, "target")
    expected = sum(int(a == b) for a, b in zip(model.predict(rows), labels, strict=True)) / len(labels)  # type: ignore[attr-defined]
    assert answer["rows"] == len(labels) == 50 and "target" not in rows.columns
    assert answer["metrics"]["candidate"]["accuracy"] == pytest.approx(expected)
    assert answer["metrics"]["candidate"]["mae"] >= 0


def test_the_process_answers_bad_input_as_an_error_line(
    holdout: tuple[Path, Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, data_dir, _ = holdout
    base = ["--model", f"candidate={model_dir}", "--data", str(data_dir), "--metric", "accuracy"]
    assert process.main([*base, "--label", "species"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error.startswith("label: the data has no column 'species' (its columns: sepal length (cm),")
    assert process.main([*base, "--label", "target", "--max-rows", "10"]) == 2
    assert "50 rows; a scored comparison reads at most 10" in json.loads(capsys.readouterr().out)["error"]
    assert process.main([*base, "--label", "sepal width (cm)"]) == 2  # the model now misses a column it needs
    assert json.loads(capsys.readouterr().out)["error"].startswith("model: model could not predict")


def test_a_scoring_process_past_its_time_is_stopped_and_one_without_an_answer_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiln.errors import KilnError, Unavailable
    from kiln.services import model_scoring

    scoring = model_scoring.ModelScoring(None, None, None, tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr(model_scoring, "TIMEOUT_SECONDS", 1)
    (tmp_path / "slow").mkdir()
    with pytest.raises(Unavailable, match="took longer than 1 s"):
        scoring._run(tmp_path / "slow", [sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "silent").mkdir()
    with pytest.raises(KilnError, match="exit code 3 without an answer: gone"):
        scoring._run(
            tmp_path / "silent", [sys.executable, "-c", "import sys; print('gone', file=sys.stderr); sys.exit(3)"]
        )
