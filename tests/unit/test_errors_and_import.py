"""The error tree round-trips by name, and importing kiln stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiln.errors import ERROR_CLASSES, InvalidSpec, KilnError, NotFound, error_from_json


@pytest.mark.parametrize("cls", list(ERROR_CLASSES.values()))
def test_every_error_is_rebuilt_as_the_same_class(cls: type[KilnError]) -> None:
    rebuilt = error_from_json(cls("what went wrong").to_json(), cls.http_status)
    assert type(rebuilt) is cls
    assert rebuilt.message == "what went wrong"


def test_an_unexpected_body_still_gives_a_readable_error() -> None:
    rebuilt = error_from_json("<html>bad gateway</html>", 404)
    assert isinstance(rebuilt, NotFound)
    assert "HTTP 404" in rebuilt.message


def test_statuses_and_exit_codes_differ_by_kind() -> None:
    assert InvalidSpec.http_status == 422 and NotFound.http_status == 404
    assert InvalidSpec.exit_code != 0 and KilnError.exit_code != 0


def test_import_kiln_imports_no_ml_framework_nor_server_code() -> None:
    code = (
        "import sys, kiln; kiln.Client; kiln.CommandJobSpec; "
        "heavy = [m for m in ('mlflow', 'sklearn', 'torch', 'tensorflow', 'ray', 'onnx', 'fastapi', 'sqlalchemy', 'uvicorn') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_every_error_class_of_the_tree_is_registered() -> None:
    import kiln.errors

    defined = {
        name for name, value in vars(kiln.errors).items() if isinstance(value, type) and issubclass(value, KilnError)
    }
    assert defined == set(ERROR_CLASSES)


def test_a_bare_status_is_rebuilt_as_a_general_class_only() -> None:
    """Scoring and gateway classes are rebuilt from their name, never guessed from a status alone."""
    assert type(error_from_json("<html>oops</html>", 500)) is KilnError
    assert type(error_from_json("<html>bad gateway</html>", 502)) is KilnError
    assert type(error_from_json("", 400)) is KilnError
