"""The privacy engine's process: run by the engine's own Python (SmartNoise SQL and OpenDP, which cannot share
kiln's environment), driven by the workspace server over stdin/stdout, one JSON request a line and one JSON
answer a line. It imports nothing of kiln: the engine's environment has no kiln installed.

Requests: ``{"op": "query", "csv": PATH, "table": NAME, "metadata": {...}, "sql": TEXT, "epsilon": E,
"delta": D}`` answers ``{"ok": true, "columns": [...], "rows": [[...]], "epsilon": COST, "delta": COST}`` (the
cost SmartNoise's odometer reports, never above what was asked); ``{"op": "synthesize", "csv", "metadata",
"synthesizer", "epsilon", "delta", "rows", "out": PATH}`` writes a synthetic CSV to ``out`` and answers its cost;
``{"op": "ping"}`` answers the versions. A
refusal or failure answers ``{"ok": false, "error": KIND, "message": TEXT}``; nothing is ever written.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

SCHEMA = "public"  # SmartNoise names tables SCHEMA.TABLE; kiln's queries name the asset alone
_frames: dict[str, Any] = {}  # csv path (content-addressed: never changes) -> DataFrame


def _frame(path: str) -> Any:
    import pandas as pd

    if path not in _frames:
        if len(_frames) > 8:
            _frames.clear()
        _frames[path] = pd.read_csv(path)
    return _frames[path]


def _qualified(sql: str, table: str) -> str:
    """The query with its table named as SmartNoise's metadata names it (``FROM t`` -> ``FROM public.t``)."""
    import re

    pattern = re.compile(rf"(\bFROM\s+)(?!{SCHEMA}\.)({re.escape(table)})\b", re.IGNORECASE)
    return pattern.sub(lambda m: f"{m.group(1)}{SCHEMA}.{m.group(2)}", sql)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def query(request: dict[str, Any]) -> dict[str, Any]:
    import snsql
    from snsql import Privacy
    from snsql.sql.odometer import OdometerHeterogeneous

    table = request["table"]
    metadata = {"Database": {SCHEMA: {table: request["metadata"]}}}
    sql = _qualified(request["sql"], table)
    frame = _frame(request["csv"])
    epsilon, delta = float(request["epsilon"]), float(request["delta"])

    # one reader per query. SmartNoise spends epsilon per mechanism: its cost at a per-mechanism epsilon of 1 tells
    # the per-mechanism epsilon that makes the whole query cost what was asked (basic composition is linear in it);
    # the reader is then set to it and the query run, and its odometer's spend checked before anything is answered
    private = snsql.from_df(frame, privacy=Privacy(epsilon=1.0, delta=delta), metadata=metadata)
    unit_eps, unit_delta = private.get_privacy_cost(sql)
    per_eps = epsilon / float(unit_eps) if unit_eps > 0 else epsilon
    per_delta = delta * delta / float(unit_delta) if unit_delta > 0 and delta > 0 else delta
    private.privacy = Privacy(epsilon=per_eps, delta=per_delta)
    private.odometer = OdometerHeterogeneous(private.privacy)
    result = private.execute(sql)
    cost_eps, cost_delta = (float(v) for v in private.odometer.spent)
    if cost_eps > epsilon * (1 + 1e-6) or cost_delta > delta * (1 + 1e-6):  # past float rounding: never answered
        return _refusal(
            "cost", f"the query would cost epsilon {cost_eps:.6g}, delta {cost_delta:.3g}, above what was asked"
        )
    columns, rows = [str(c) for c in result[0]], [[_plain(v) for v in row] for row in result[1:]]
    return {"ok": True, "columns": columns, "rows": rows, "epsilon": cost_eps, "delta": cost_delta}


SYNTHESIZERS = ("mst", "aim", "mwem")  # smartnoise-synth's that run without its pinned opacus
PREPROCESSOR_SHARE = 0.1  # of the epsilon: what smartnoise-synth spends learning numeric columns' bounds


def synthesize(request: dict[str, Any]) -> dict[str, Any]:
    """Fit ``synthesizer`` on the declared columns (never the private id) with the whole ``epsilon`` (and
    ``delta``), sample ``rows`` rows and write them as CSV to ``out``."""
    from snsynth import Synthesizer

    name = request["synthesizer"]
    if name not in SYNTHESIZERS:
        return _refusal("request", f"synthesizer {name!r} is not one of {', '.join(SYNTHESIZERS)}")
    columns = {k: v for k, v in request["metadata"].items() if isinstance(v, dict) and not v.get("private_id")}
    categorical = [c for c, v in columns.items() if v.get("type") in ("string", "boolean")]
    continuous = [c for c, v in columns.items() if v.get("type") in ("int", "float")]
    frame = _frame(request["csv"])[categorical + continuous]
    epsilon, delta = float(request["epsilon"]), float(request["delta"])
    options: dict[str, Any] = {"epsilon": epsilon}
    if name != "mwem":
        options["delta"] = delta
    synthesizer = Synthesizer.create(name, **options)
    preprocessor_eps = epsilon * PREPROCESSOR_SHARE if continuous else 0.0
    synthesizer.fit(
        frame, categorical_columns=categorical, continuous_columns=continuous, preprocessor_eps=preprocessor_eps
    )
    sample = synthesizer.sample(int(request["rows"]))
    for column in continuous:
        if columns[column].get("type") == "int":
            sample[column] = sample[column].round().astype("int64")
    sample.to_csv(request["out"], index=False)
    return {"ok": True, "epsilon": epsilon, "delta": delta if name != "mwem" else 0.0, "rows": len(sample)}


def ping(_request: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import version

    return {"ok": True, "versions": {p: version(p) for p in ("smartnoise-sql", "smartnoise-synth", "opendp", "pandas")}}


OPERATIONS = {"query": query, "synthesize": synthesize, "ping": ping}


def _refusal(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": kind, "message": message}


def answer(line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
        operation = OPERATIONS.get(request.get("op"))
        if operation is None:
            return _refusal("request", f"unknown operation {request.get('op')!r}")
        return operation(request)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # SmartNoise's refusals
        return _refusal("query", str(exc).strip() or type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - the server turns it into a clear error; the engine keeps running
        return _refusal("engine", f"{type(exc).__name__}: {exc}")


def main() -> None:
    answers, sys.stdout = sys.stdout, sys.stderr  # what the libraries print must not mix with the answers
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(answer(line)) + "\n")
            answers.flush()


if __name__ == "__main__":
    main()
