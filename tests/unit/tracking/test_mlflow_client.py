"""The server's MLflow client: made at first use, each use after MLflow answers (``ready``)."""

from __future__ import annotations

import os

import mlflow.environment_variables as variables
import pytest

from kiln.errors import Unavailable
from kiln.tracking.mlflow_client import REGISTRY_URI_VARIABLE, TRACKING_URI_VARIABLE, mlflow_client, warm_up_soon


def test_the_variables_it_sets_are_mlflows() -> None:
    assert TRACKING_URI_VARIABLE == variables.MLFLOW_TRACKING_URI.name
    assert REGISTRY_URI_VARIABLE == variables.MLFLOW_REGISTRY_URI.name


def test_each_use_waits_for_mlflow_and_a_refusal_is_the_callers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRACKING_URI_VARIABLE, raising=False)
    monkeypatch.delenv(REGISTRY_URI_VARIABLE, raising=False)
    answers: list[str] = []

    def ready() -> None:
        answers.append("asked")
        if len(answers) == 1:
            raise Unavailable("MLflow's tracking server is still starting; try again in a moment")

    client = mlflow_client("http://127.0.0.1:9/mlflow", ready, registry=True)
    assert os.environ[REGISTRY_URI_VARIABLE] == "http://127.0.0.1:9/mlflow"  # set at once, MLflow not imported
    with pytest.raises(Unavailable, match="still starting"):
        client.get_experiment_by_name  # noqa: B018 (an attribute is a use)
    assert client.tracking_uri == "http://127.0.0.1:9/mlflow"  # made once MLflow answers
    assert client._registry_uri == "http://127.0.0.1:9/mlflow"
    assert answers == ["asked", "asked", "asked"]


def test_the_warm_up_hands_on_once_mlflows_client_is_imported_and_not_when_mlflow_failed() -> None:
    import sys
    import threading

    done = threading.Event()
    seen: list[bool] = []

    def then() -> None:
        seen.append("mlflow.tracking" in sys.modules and "mlflow.server.handlers" in sys.modules)
        done.set()

    warm_up_soon(lambda: None, then=then)
    assert done.wait(120) and seen == [True]

    def failed() -> None:
        raise Unavailable("MLflow's tracking server failed to start")

    called = threading.Event()
    warm_up_soon(failed, then=called.set)
    assert not called.wait(1.0)
