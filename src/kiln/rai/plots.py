"""The report's PNG plots, drawn with matplotlib (Agg: no display): importances, local explanations,
metrics per group, before/after mitigation. Each function writes one file and answers its ``Plot`` entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = ("#3b6ea8", "#d9822b", "#5a9a5a", "#b04a4a", "#7a5aa8", "#888888")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def importances(explanations: dict[str, Any], folder: Path) -> dict[str, str]:
    plt = _pyplot()
    rows = explanations["importances"][:20][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    axes.barh([r["feature"] for r in rows], [r["importance"] for r in rows], color=COLOURS[0])
    axes.set_xlabel(f"importance ({explanations['method']})")
    title = "What the model's predictions depend on"
    axes.set_title(title)
    return _save(figure, plt, folder, "importances", title)


def local(explanations: dict[str, Any], folder: Path) -> dict[str, str] | None:
    rows = explanations.get("local") or []
    if not rows:
        return None
    plt = _pyplot()
    figure, all_axes = plt.subplots(len(rows), 1, figsize=(7, 2.2 * len(rows) + 0.5), squeeze=False)
    for axes, row in zip(all_axes[:, 0], rows, strict=True):
        top = row["contributions"][:8][::-1]
        values = [c["contribution"] for c in top]
        axes.barh([f"{c['feature']} = {c['value']}" for c in top], values,
                  color=[COLOURS[3] if v > 0 else COLOURS[0] for v in values])  # fmt: skip
        axes.axvline(0, color="#444", linewidth=0.8)
        axes.set_title(f"row {row['row']}: prediction {row['prediction']:.3g}", fontsize=10)
    title = "Why the model predicted what it did, row by row"
    figure.suptitle(title)
    return _save(figure, plt, folder, "local", title)


def groups(fairness: dict[str, Any], folder: Path) -> dict[str, str]:
    plt = _pyplot()
    groupings = fairness["groupings"]
    metrics = [m for m in fairness["metrics"] if m != "count"]
    figure, all_axes = plt.subplots(len(groupings), 1, figsize=(8, 2.6 * len(groupings) + 0.5), squeeze=False)
    for axes, grouping in zip(all_axes[:, 0], groupings, strict=True):
        labels = [g["label"] for g in grouping["groups"]]
        width = 0.8 / max(len(metrics), 1)
        for index, metric in enumerate(metrics):
            positions = [i + index * width for i in range(len(labels))]
            values = [g["metrics"].get(metric) or 0.0 for g in grouping["groups"]]
            axes.bar(positions, values, width=width, label=metric, color=COLOURS[index % len(COLOURS)])
        axes.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, fontsize=8, rotation=20)
        axes.set_title(" × ".join(grouping["features"]), fontsize=10)
        axes.legend(fontsize=7)
    title = "Metrics per group"
    figure.suptitle(title)
    return _save(figure, plt, folder, "groups", title)


def before_after(mitigation: dict[str, Any], folder: Path) -> dict[str, str]:
    plt = _pyplot()
    names = ["accuracy", mitigation["disparity_metric"]]
    before = [mitigation["accuracy_before"], mitigation["disparity_before"]]
    after = [mitigation["accuracy_after"], mitigation["disparity_after"]]
    figure, axes = plt.subplots(figsize=(6, 3.2))
    axes.bar([0, 1], before, width=0.38, label="before", color=COLOURS[5])
    axes.bar([0.4, 1.4], after, width=0.38, label="after", color=COLOURS[2])
    axes.set_xticks([0.2, 1.2], names)
    axes.legend()
    title = f"Before and after {mitigation['method']} ({mitigation['constraint']})"
    axes.set_title(title, fontsize=10)
    return _save(figure, plt, folder, "before_after", title)


def _save(figure: Any, plt: Any, folder: Path, name: str, title: str) -> dict[str, str]:
    figure.tight_layout()
    figure.savefig(folder / f"{name}.png", dpi=90)
    plt.close(figure)
    return {"name": name, "file": f"{name}.png", "title": title}
