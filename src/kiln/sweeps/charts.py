"""A sweep's two charts, laid out for server-drawn SVG (the studio's sweep part, ``templates/sweeps/_trials.html``):

- ``metric_chart``: the primary metric of each trial in trial order (a point per trial that logged it) and the
  best value so far among completed trials (a step line);
- ``parallel_coordinates``: an axis per search-space parameter and one for the metric, a line per trial that
  logged it, coloured by its value (the best dark, the worst light). A ``choice`` parameter is a categorical
  axis (its values in the spec's order), a log-scaled type (``loguniform``, ``lognormal`` and their ``q``
  forms) a log axis, the rest linear; each numeric axis spans the values the trials took.

Only geometry and labels here; the template escapes every text (parameter values are user text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 64
MARGIN_RIGHT = 24
MARGIN_TOP = 16
MARGIN_BOTTOM = 36
AXIS_GAP = 130  # pixels between parallel axes
LABEL_LIMIT = 18  # characters of an axis label or category before it is cut (the whole text is its title)
LOG_TYPES = frozenset({"loguniform", "qloguniform", "lognormal", "qlognormal"})
# a perceptually ordered ramp (viridis, its lightest end darkened to stay visible on white): best → worst
RAMP = ((0x44, 0x01, 0x54), (0x3B, 0x52, 0x8B), (0x21, 0x91, 0x8C), (0x5E, 0xC9, 0x62), (0xC2, 0xC8, 0x1E))


@dataclass(frozen=True)
class ChartTrial:
    """What the charts need of one trial."""

    index: int  # its number in the sweep (kiln.sweep.trial)
    name: str
    status: str
    params: dict[str, Any]
    value: float | None  # the primary metric's last value, None when it logged none (or not a finite number)


@dataclass
class Tick:
    position: float  # pixels along the axis (y for vertical axes, x for the metric chart's trial axis)
    label: str
    title: str = ""  # the whole label, when ``label`` was cut


@dataclass
class Axis:
    name: str
    kind: str  # "linear", "log" or "choice"
    x: float
    ticks: list[Tick] = field(default_factory=list)


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def short(text: str, limit: int = LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(value: float) -> str:
    return f"{value:.4g}"


def color(t: float) -> str:
    """The ramp's colour at ``t`` in [0, 1] (0: the best value, 1: the worst)."""
    t = min(max(t, 0.0), 1.0) * (len(RAMP) - 1)
    low = min(int(t), len(RAMP) - 2)
    part = t - low
    mixed = (round(a + (b - a) * part) for a, b in zip(RAMP[low], RAMP[low + 1], strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def badness(values: list[float], goal: str) -> Any:
    """A function from a metric value to 0 (the best of ``values``) … 1 (the worst)."""
    low, high = min(values), max(values)
    spread = high - low

    def of(value: float) -> float:
        if spread == 0:
            return 0.0
        share = (value - low) / spread
        return share if goal == "minimize" else 1.0 - share

    return of


class Scale:
    """Values to a share of an axis (0: its bottom or left, 1: its top or right)."""

    def __init__(self, kind: str, values: list[Any], categories: list[str] | None = None) -> None:
        self.kind = kind
        self.categories = categories or []
        numbers = [v for v in (finite(v) for v in values) if v is not None]
        if kind == "log" and (not numbers or min(numbers) <= 0):
            self.kind = "linear"  # a log axis needs positive values
        if self.kind != "choice":
            mapped = [self._map(v) for v in numbers] or [0.0]
            self.low, self.high = min(mapped), max(mapped)
            if self.low == self.high:  # one value: it sits in the middle
                self.low, self.high = self.low - 1.0, self.high + 1.0

    def _map(self, value: float) -> float:
        return math.log10(value) if self.kind == "log" else value

    def share(self, value: Any) -> float | None:
        if self.kind == "choice":
            text = category(value)
            if text not in self.categories:
                return None
            count = len(self.categories)
            return 0.5 if count == 1 else self.categories.index(text) / (count - 1)
        number = finite(value)
        if number is None:
            return None
        return (self._map(number) - self.low) / (self.high - self.low)

    def ticks(self) -> list[tuple[float, str, str]]:
        """(share, label, title) of each tick: every category, or the ends and the middle of a numeric axis."""
        if self.kind == "choice":
            return [(self.share(c) or 0.0, short(c), c if short(c) != c else "") for c in self.categories]
        ticks = []
        for share in (0.0, 0.5, 1.0):
            mapped = self.low + (self.high - self.low) * share
            ticks.append((share, label(10**mapped if self.kind == "log" else mapped), ""))
        return ticks


def category(value: Any) -> str:
    """A choice value as its axis shows it (``json``-like: true, 3, 0.5, text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def metric_chart(trials: list[ChartTrial], goal: str) -> dict[str, Any]:
    """The primary metric per trial (x: trial number, y: value) and the best-so-far step line (completed
    trials only, as the sweep's best trial is chosen among them)."""
    width, height = WIDTH, HEIGHT
    inner_w, inner_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    scored = [t for t in trials if t.value is not None]
    last = max((t.index for t in trials), default=0)
    y_scale = Scale("linear", [t.value for t in scored])

    def x_of(index: int) -> float:
        return round(MARGIN_LEFT + (index / last if last else 0.5) * inner_w, 1)

    def y_of(value: float) -> float:
        return round(MARGIN_TOP + (1.0 - (y_scale.share(value) or 0.0)) * inner_h, 1)

    best: float | None = None
    steps: list[tuple[float, float]] = []
    for trial in sorted(scored, key=lambda t: t.index):
        if trial.status != "completed" or trial.value is None:
            continue
        if best is None or (trial.value < best if goal == "minimize" else trial.value > best):
            if steps:  # hold the previous best until this trial, then step
                steps.append((x_of(trial.index), steps[-1][1]))
            best = trial.value
            steps.append((x_of(trial.index), y_of(best)))
    if steps:
        steps.append((x_of(last), steps[-1][1]))
    path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(steps))
    points = [
        {"x": x_of(t.index), "y": y_of(t.value), "name": t.name, "index": t.index, "value": t.value,
         "status": t.status}
        for t in scored if t.value is not None
    ]  # fmt: skip
    x_ticks = [Tick(x_of(i), str(i)) for i in sorted({0, last // 2, last})]
    y_ticks = [Tick(round(MARGIN_TOP + (1 - share) * inner_h, 1), text) for share, text, _ in y_scale.ticks()]
    return {"width": width, "height": height, "points": points, "best_path": path, "x_ticks": x_ticks,
            "y_ticks": y_ticks, "left": MARGIN_LEFT, "right": width - MARGIN_RIGHT, "top": MARGIN_TOP,
            "bottom": height - MARGIN_BOTTOM}  # fmt: skip


def parallel_coordinates(
    trials: list[ChartTrial], search_space: dict[str, dict[str, Any]], metric: str, goal: str, best: str | None
) -> dict[str, Any]:
    """An axis per parameter then the metric's; a line per trial that logged the metric, coloured by it."""
    scored = [t for t in trials if t.value is not None]
    scales: list[tuple[str, Scale]] = []
    for name, parameter in search_space.items():
        taken = [t.params.get(name) for t in scored]
        kind = parameter.get("type", "")
        if kind == "choice" or any(finite(v) is None for v in taken if v is not None):
            categories = [category(v) for v in parameter.get("values") or []]
            categories += sorted({category(v) for v in taken if v is not None} - set(categories))
            scales.append((name, Scale("choice", taken, categories)))
        else:
            scales.append((name, Scale("log" if kind in LOG_TYPES else "linear", taken)))
    scales.append((metric, Scale("linear", [t.value for t in scored])))
    width = max(MARGIN_LEFT + MARGIN_RIGHT + AXIS_GAP * (len(scales) - 1), WIDTH)
    gap = (width - MARGIN_LEFT - MARGIN_RIGHT) / max(len(scales) - 1, 1)
    top, bottom = MARGIN_TOP + 14, HEIGHT - MARGIN_BOTTOM
    axes = []
    for number, (name, scale) in enumerate(scales):
        axis = Axis(short(name), scale.kind, round(MARGIN_LEFT + number * gap, 1))
        axis.ticks = [
            Tick(round(bottom - share * (bottom - top), 1), text, title) for share, text, title in scale.ticks()
        ]
        axes.append(axis)
    rank = badness([t.value for t in scored if t.value is not None], goal) if scored else None
    lines = []
    for trial in sorted(scored, key=lambda t: (t.name == best, t.index)):  # the best drawn last, on top
        shares = [scale.share(trial.params.get(name)) for name, scale in scales[:-1]]
        shares.append(scales[-1][1].share(trial.value))
        path = " ".join(
            f"{'M' if i == 0 or shares[i - 1] is None else 'L'}{axes[i].x},{round(bottom - s * (bottom - top), 1)}"
            for i, s in enumerate(shares) if s is not None
        )  # fmt: skip
        worse = rank(trial.value) if rank is not None and trial.value is not None else 0.0
        lines.append({"name": trial.name, "path": path, "color": color(worse), "value": trial.value,
                      "params": trial.params, "best": trial.name == best})  # fmt: skip
    names = [name for name, _ in scales]
    return {"width": width, "height": HEIGHT, "axes": axes, "lines": lines, "top": top, "bottom": bottom,
            "names": names, "best_color": color(0.0), "worst_color": color(1.0)}  # fmt: skip
