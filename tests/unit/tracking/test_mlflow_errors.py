"""MLflow's refusals as kiln's errors, version numbers MLflow can hold, bounded client retries."""

from __future__ import annotations

import os

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from kiln.errors import Conflict, InvalidSpec, NotFound, Unavailable
from kiln.tracking.mlflow_errors import CLIENT_RETRIES, bound_client_retries, caller_errors, version_number


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), ("2147483647", 2**31 - 1), ("2147483648", None), ("99999999999999999999999", None), ("0", None),
     ("-1", None), ("٣", None), (" 1", None), ("1e3", None), ("", None), ("latest", None)],
)  # fmt: skip
def test_only_numbers_mlflow_can_hold_are_versions(text: str, number: int | None) -> None:
    assert version_number(text) == number


@pytest.mark.parametrize(
    ("code", "error"),
    [("RESOURCE_DOES_NOT_EXIST", NotFound), ("INVALID_PARAMETER_VALUE", InvalidSpec),
     ("RESOURCE_ALREADY_EXISTS", Conflict), ("INTERNAL_ERROR", Unavailable)],
)  # fmt: skip
def test_mlflow_refusals_become_kilns_errors_naming_what_was_asked(code: str, error: type) -> None:
    with pytest.raises(error, match=r"^tags: tag 'x' of model 'iris'.*Invalid tag name") as raised:
        with caller_errors("tags: tag 'x' of model 'iris'"):
            raise MlflowException("Invalid tag name: 'x'", error_code=ErrorCode.Value(code))
    assert type(raised.value) is error


def test_the_servers_client_retries_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLIENT_RETRIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")  # a setting already there wins
    bound_client_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "4"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "0"
