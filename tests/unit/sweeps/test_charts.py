"""The sweep page's charts (kiln.sweeps.charts): the metric over trials with its best-so-far line, and the
parallel-coordinates layout (a categorical axis for a choice, a log axis for loguniform, lines coloured best to
worst), drawn by the studio's template with every user text escaped."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

from kiln.studio.rendering import fragment
from kiln.sweeps.charts import ChartTrial, Scale, color, metric_chart, parallel_coordinates

SPACE = {
    "lr": {"type": "loguniform", "min_value": -7.0, "max_value": -1.0},
    "kind": {"type": "choice", "values": ["a", "b", "<c>"]},
    "depth": {"type": "randint", "upper": 10},
}


def _trials() -> list[ChartTrial]:
    return [
        ChartTrial(0, "s_0", "completed", {"lr": 0.01, "kind": "a", "depth": 2}, 0.5),
        ChartTrial(1, "s_1", "completed", {"lr": 0.001, "kind": "<c>", "depth": 8}, 0.2),
        ChartTrial(2, "s_2", "canceled", {"lr": 0.1, "kind": "b", "depth": 5}, 0.1),  # better, but not completed
        ChartTrial(3, "s_3", "completed", {"lr": 0.0001, "kind": "a", "depth": 1}, 0.9),
        ChartTrial(4, "s_4", "running", {"lr": 0.05, "kind": "b", "depth": 3}, None),
    ]


def test_the_metric_chart_has_a_point_per_scored_trial_and_a_best_so_far_step_line() -> None:
    chart = metric_chart(_trials(), "minimize")
    assert [p["name"] for p in chart["points"]] == ["s_0", "s_1", "s_2", "s_3"]
    xs = [p["x"] for p in chart["points"]]
    assert xs == sorted(xs) and xs[0] == chart["left"]
    by_name = {p["name"]: p for p in chart["points"]}
    assert by_name["s_2"]["y"] > chart["top"] - 1 and by_name["s_3"]["y"] == chart["top"]  # 0.9: the top
    # the line: 0.5 at trial 0, steps down to 0.2 at trial 1 and holds to the last trial (s_2 is not completed)
    corners = [tuple(map(float, pair.split(","))) for pair in re.findall(r"[ML]([\d.]+,[\d.]+)", chart["best_path"])]
    assert corners[0] == (by_name["s_0"]["x"], by_name["s_0"]["y"])
    assert (by_name["s_1"]["x"], by_name["s_1"]["y"]) in corners
    assert corners[-1][1] == by_name["s_1"]["y"] and corners[-1][0] == chart["right"]
    assert by_name["s_2"]["y"] not in [y for _, y in corners]


def test_maximizing_the_best_so_far_line_follows_the_highest_value() -> None:
    chart = metric_chart(_trials(), "maximize")
    by_name = {p["name"]: p for p in chart["points"]}
    assert chart["best_path"].endswith(f"{float(chart['right'])},{by_name['s_3']['y']}")


def test_parallel_coordinates_axes_and_lines() -> None:
    drawn = parallel_coordinates(_trials(), SPACE, "loss", "minimize", best="s_1")
    assert drawn["names"] == ["lr", "kind", "depth", "loss"]
    assert [axis.kind for axis in drawn["axes"]] == ["log", "choice", "linear", "linear"]
    assert [tick.label for tick in drawn["axes"][1].ticks] == ["a", "b", "<c>"]  # the spec's order
    assert [tick.label for tick in drawn["axes"][0].ticks] == ["0.0001", "0.003162", "0.1"]  # log middle
    assert len(drawn["lines"]) == 4  # the running trial has no value yet
    assert drawn["lines"][-1]["name"] == "s_1" and drawn["lines"][-1]["best"]  # drawn last, on top
    colors = {line["name"]: line["color"] for line in drawn["lines"]}
    assert colors["s_2"] == color(0.0) and colors["s_3"] == color(1.0)  # by value: the lowest loss darkest
    for line in drawn["lines"]:
        assert line["path"].startswith("M") and line["path"].count("L") == 3  # through all four axes
    xs = [axis.x for axis in drawn["axes"]]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_scales_put_a_lone_value_in_the_middle_and_fall_back_from_log_for_non_positive_values() -> None:
    assert Scale("linear", [3.0]).share(3.0) == 0.5
    assert Scale("choice", ["x"], ["x"]).share("x") == 0.5
    assert Scale("log", [0.0, 1.0]).kind == "linear"
    assert Scale("linear", [math.nan, 1.0, 2.0]).share(math.inf) is None
    assert Scale("choice", [True], ["true", "false"]).share(True) == 0.0


def test_the_template_escapes_parameter_values_and_names() -> None:
    evil = "<script>alert(1)</script>"
    trials = [
        ChartTrial(0, "s_0", "completed", {"kind": evil}, 1.0),
        ChartTrial(1, "s_1", "completed", {"kind": "b"}, 2.0),
    ]
    space = {"kind": {"type": "choice", "values": [evil, "b"]}}
    context = {
        "sweep": SimpleNamespace(name="s"), "metric": "loss", "goal": "minimize", "parameters": ["kind"],
        "trials": trials, "best": trials[0], "total": 2, "ended": 2, "refresh": 2,
        "metric_chart": metric_chart(trials, "minimize"),
        "parallel": parallel_coordinates(trials, space, "loss", "minimize", "s_0"),
    }  # fmt: skip
    html = fragment("sweeps/_trials.html", live=False, **context)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('class="trial-point') == 2 and html.count('class="trial-line') == 2
    assert "hx-trigger" not in html  # an ended sweep does not reload itself
    assert 'hx-trigger="every 2s"' in fragment("sweeps/_trials.html", live=True, **context)
