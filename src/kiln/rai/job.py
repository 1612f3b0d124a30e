"""The process of a ``type: responsible_ai`` job: ``python -m kiln.rai.job --settings JSON …``.

It loads the model and the two tables the engine put in place, explains, assesses and mitigates as the job
file asks, writes the report (``report.json``, ``report.html``, PNG plots) into the output ``report``, the
mitigated model into ``mitigated_model``, and logs the headline numbers as the run's metrics and the report
as its artifacts (``rai_report/``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kiln.errors import InvalidSpec, KilnError
from kiln.rai import explanations as explaining
from kiln.rai import html_report, plots
from kiln.rai.fairness import assess_fairness
from kiln.rai.mitigation import mitigate
from kiln.rai.report_schema import HTML_FILE, REPORT_FILE, RaiReport
from kiln.rai.tables import LoadedModel, load_model, read_table

ARTIFACT_FOLDER = "rai_report"


def run(settings: dict[str, Any], model_path: Path, train_path: Path, test_path: Path, report_dir: Path,
        mitigated_dir: Path | None) -> dict[str, Any]:  # fmt: skip
    """The whole analysis; answers the report (also written into ``report_dir``)."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    target, task = settings["target_column"], settings["task_type"]
    fairness = settings.get("fairness") or None
    sensitive = list(fairness["sensitive_features"]) if fairness else []
    train, test = read_table(train_path, "train_data"), read_table(test_path, "test_data")
    loaded = load_model(model_path)
    features = loaded.features or [c for c in train.columns if c != target and c not in sensitive]
    for label, table in (("train_data", train), ("test_data", test)):
        missing = [c for c in [*features, target, *sensitive] if c not in table.columns]
        if missing:
            raise InvalidSpec(
                f"{label}: no column {', '.join(map(repr, missing))} (columns: {', '.join(table.columns)})"
            )
    X_train, X_test, y_test = train[features], test[features], test[target]
    predictions = loaded.predict(X_test)
    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"reference": settings["model"], "flavors": loaded.flavors, "features": features},
        "data": {"train_rows": len(train), "test_rows": len(test), "target_column": target, "task_type": task},
        "performance": _performance(y_test, predictions, task),
        "notes": [],
        "plots": [],
    }
    explanation = settings.get("explanation")
    if explanation:
        step = time.perf_counter()
        explained = explaining.explain(
            loaded.model, X_test, background=X_train, method=explanation["method"],
            local_rows=explanation["local_rows"] if explanation.get("local_rows") else (),
            sample_rows=explanation["sample_rows"], background_rows=explanation["background_rows"], y=y_test,
            seed=settings["seed"],
        )  # fmt: skip
        explained.pop("seconds", None)
        if not explanation.get("global", True):
            explained["importances"] = []
        report["explanations"] = explained
        seconds["explain"] = time.perf_counter() - step
    if fairness:
        step = time.perf_counter()
        report["fairness"] = assess_fairness(
            y_test, predictions, test[sensitive], metrics=fairness["metrics"], task_type=task
        )
        seconds["assess"] = time.perf_counter() - step
        if fairness.get("mitigation"):
            step = time.perf_counter()
            report["mitigation"] = _mitigate(
                fairness, sensitive, loaded, train, test, features, target, mitigated_dir, settings["seed"]
            )
            seconds["mitigate"] = time.perf_counter() - step
    seconds["total"] = time.perf_counter() - started
    report["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    report_dir.mkdir(parents=True, exist_ok=True)
    report["plots"] = _plots(report, report_dir)
    checked = RaiReport.model_validate(report).model_dump(mode="json")  # the documented shape, or a failed job
    (report_dir / REPORT_FILE).write_text(json.dumps(checked, indent=2))
    (report_dir / HTML_FILE).write_text(html_report.render(checked, report_dir))
    return checked


def _mitigate(fairness: dict[str, Any], sensitive: list[str], loaded: LoadedModel, train: pd.DataFrame,
              test: pd.DataFrame, features: list[str], target: str, mitigated_dir: Path | None, seed: int) -> dict[str, Any]:  # fmt: skip
    settings = fairness["mitigation"]
    column = settings.get("sensitive_feature") or sensitive[0]
    method = settings["method"]
    if method != "threshold_optimizer" and loaded.estimator is None:
        raise InvalidSpec(
            f"fairness.mitigation.method: {method} retrains the model's scikit-learn estimator, and this model has "
            f"no sklearn flavor (flavors: {', '.join(loaded.flavors)}); use threshold_optimizer"
        )
    estimator = loaded.estimator if loaded.estimator is not None else loaded.model
    mitigated = mitigate(
        estimator, train[features], train[target], train[column], test[features], test[target], test[column],
        method=method, constraint=settings["constraint"], prefit=True, metrics=fairness["metrics"],
        max_iter=settings["max_iter"], grid_size=settings["grid_size"], seed=seed,
    )  # fmt: skip
    if mitigated_dir is not None:
        from kiln.rai.mitigated_model import save

        save(mitigated.model, mitigated_dir, test)
        mitigated.result["registered_as"] = settings.get("register_as")
    return mitigated.result


def _performance(y_true: pd.Series, predicted: Any, task: str) -> dict[str, float | None]:
    from sklearn import metrics

    if task == "classification":
        return {"accuracy": float(metrics.accuracy_score(y_true, predicted))}
    return {
        "r2": float(metrics.r2_score(y_true, predicted)),
        "mean_absolute_error": float(metrics.mean_absolute_error(y_true, predicted)),
    }


def _plots(report: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    drawn: list[dict[str, str] | None] = []
    if report.get("explanations"):
        if report["explanations"]["importances"]:
            drawn.append(plots.importances(report["explanations"], folder))
        drawn.append(plots.local(report["explanations"], folder))
    if report.get("fairness"):
        drawn.append(plots.groups(report["fairness"], folder))
    if report.get("mitigation"):
        drawn.append(plots.before_after(report["mitigation"], folder))
    return [plot for plot in drawn if plot]


def headline_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The run's metrics: performance, disparities per sensitive feature, per-group metrics, before/after."""
    found: dict[str, float | None] = dict(report["performance"])
    fairness = report.get("fairness")
    if fairness:
        for grouping in fairness["groupings"]:
            key = "_x_".join(grouping["features"])
            for name in ("demographic_parity_difference", "equalized_odds_difference"):
                found[f"{name}.{key}"] = grouping.get(name)
            if len(grouping["features"]) == 1:
                for group in grouping["groups"]:
                    for metric, value in group["metrics"].items():
                        found[f"{metric}.{key}.{group['label']}"] = value
    mitigation = report.get("mitigation")
    if mitigation:
        found.update(
            {
                "mitigated_accuracy": mitigation["accuracy_after"],
                f"mitigated_{mitigation['disparity_metric']}": mitigation["disparity_after"],
                "accuracy_paid": mitigation["accuracy_paid"],
                "disparity_reduction": mitigation["disparity_reduction"],
            }
        )
    return {_metric_key(k): float(v) for k, v in found.items() if v is not None}


def _metric_key(key: str) -> str:
    """MLflow's metric names: letters, digits, _ - . / and spaces."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)[:250]


def _log_to_mlflow(report: dict[str, Any], report_dir: Path) -> None:
    import mlflow

    mlflow.log_metrics(headline_metrics(report))
    mlflow.log_artifacts(str(report_dir), ARTIFACT_FOLDER)


def _summary(report: dict[str, Any]) -> str:
    lines = [f"performance: {report['performance']}"]
    if report.get("explanations"):
        top = ", ".join(f"{i['feature']} {i['importance']:.3g}" for i in report["explanations"]["importances"][:5])
        lines.append(f"explanations ({report['explanations']['method']}): {top}")
    if report.get("fairness"):
        for grouping in report["fairness"]["groupings"]:
            lines.append(
                f"fairness by {' x '.join(grouping['features'])}: demographic parity difference "
                f"{grouping.get('demographic_parity_difference')}"
            )
    if report.get("mitigation"):
        m = report["mitigation"]
        lines.append(
            f"mitigation {m['method']}: {m['disparity_metric']} {m['disparity_before']:.3f} -> {m['disparity_after']:.3f}, "
            f"accuracy {m['accuracy_before']:.3f} -> {m['accuracy_after']:.3f}"
        )
    lines.append(f"seconds: {report['seconds']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.rai.job")
    parser.add_argument("--settings", required=True, help="the job file's analysis fields, as JSON")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--mitigated", type=Path)
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to the job's MLflow run")
    args = parser.parse_args(argv)
    try:
        report = run(json.loads(args.settings), args.model, args.train, args.test, args.report, args.mitigated)
        if not args.no_mlflow:
            _log_to_mlflow(report, args.report)
    except KilnError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(_summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
