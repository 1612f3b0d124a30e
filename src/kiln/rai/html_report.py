"""``report.html``: the report as one page a person can open anywhere (plots embedded, no scripts)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}.note{color:#666}"""


def _number(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_number(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(report: dict[str, Any], folder: Path) -> str:
    parts = [f"<h1>Responsible AI report: {html.escape(report['model']['reference'])}</h1>"]
    data = report["data"]
    parts.append(
        f"<p>{data['task_type']} of <b>{html.escape(data['target_column'])}</b>, {data['train_rows']} training rows, "
        f"{data['test_rows']} test rows; created {html.escape(report['created_at'])}</p>"
    )
    parts.append(_table(["metric", "value"], [[k, v] for k, v in report["performance"].items()]))
    explanations = report.get("explanations")
    if explanations:
        parts.append(f"<h2>Explanations</h2><p class=note>{html.escape(explanations['method'])}: "
                     f"{html.escape(explanations['method_reason'])}; explains the {html.escape(explanations['explained_output'])}</p>")  # fmt: skip
        parts.append(
            _table(["feature", "importance"], [[i["feature"], i["importance"]] for i in explanations["importances"]])
        )
        for row in explanations.get("local") or []:
            parts.append(
                f"<h3>Row {row['row']}: prediction {_number(row['prediction'])}, actual {_number(row['actual'])}</h3>"
            )
            parts.append(_table(["feature", "value", "contribution"],
                                [[c["feature"], c["value"], c["contribution"]] for c in row["contributions"]]))  # fmt: skip
    fairness = report.get("fairness")
    if fairness:
        parts.append("<h2>Fairness</h2>")
        parts.append(_table(["overall", *fairness["metrics"]], [["all rows", *fairness["overall"].values()]]))
        for grouping in fairness["groupings"]:
            parts.append(f"<h3>By {html.escape(' × '.join(grouping['features']))}</h3>")
            rows = [
                [g["label"], g["count"], *(g["metrics"].get(m) for m in fairness["metrics"])]
                for g in grouping["groups"]
            ]
            parts.append(_table(["group", "rows", *fairness["metrics"]], rows))
            disparities = {k: grouping.get(k) for k in ("demographic_parity_difference", "equalized_odds_difference")}
            parts.append(_table(["disparity", "value"], [[k, v] for k, v in disparities.items() if v is not None]))
    mitigation = report.get("mitigation")
    if mitigation:
        parts.append(
            f"<h2>Mitigation: {html.escape(mitigation['method'])} for {html.escape(mitigation['constraint'])}</h2>"
            f"<p>{html.escape(mitigation['disparity_metric'])}: {_number(mitigation['disparity_before'])} → "
            f"{_number(mitigation['disparity_after'])} ({mitigation['disparity_reduction']:.0%} less); accuracy "
            f"{_number(mitigation['accuracy_before'])} → {_number(mitigation['accuracy_after'])} "
            f"(paid {_number(mitigation['accuracy_paid'])})</p>"
        )
        parts.append(_table(["metric", "before", "after", "change"],
                            [[c["metric"], c["before"], c["after"], c["change"]] for c in mitigation["comparison"]]))  # fmt: skip
        if mitigation.get("registered_as"):
            parts.append(f"<p>Registered as a new version of <b>{html.escape(mitigation['registered_as'])}</b>.</p>")
    for plot in report.get("plots") or []:
        encoded = base64.b64encode((folder / plot["file"]).read_bytes()).decode()
        parts.append(
            f"<h2>{html.escape(plot['title'])}</h2><img alt='{html.escape(plot['name'])}' src='data:image/png;base64,{encoded}'>"
        )
    for note in report.get("notes") or []:
        parts.append(f"<p class=note>{html.escape(note)}</p>")
    title = html.escape(f"Responsible AI: {report['model']['reference']}")
    return f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
