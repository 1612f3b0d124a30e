"""Optional packages: one import helper, one wording when one is missing, and every extra named in the
code declared in pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

from kiln.errors import ERROR_CLASSES, MissingExtra
from kiln.extras import LazyExtra, check_extra, require_extra
from tests.conftest import REPO

EXTRA_HELPERS = {"require_extra", "check_extra", "missing_extra", "LazyExtra"}


def test_an_installed_extra_is_imported_and_returned() -> None:
    import tensorboard

    assert require_extra("tensorboard", needed_by="a test") is tensorboard


def test_a_missing_extra_says_who_needs_what_and_the_command_that_installs_it() -> None:
    with pytest.raises(MissingExtra) as caught:
        require_extra("onnx", "kiln_test_not_installed", needed_by="kiln model convert")
    assert caught.value.message == (
        "kiln model convert needs 'kiln_test_not_installed' (the kiln[onnx] extra), which is not installed in "
        f'{sys.executable}: pip install "kiln[onnx]"'
    )
    assert (MissingExtra.http_status, MissingExtra.exit_code) == (501, 7)
    assert ERROR_CLASSES["MissingExtra"] is MissingExtra  # the SDK rebuilds it from the server's answer


def test_a_package_that_is_there_but_fails_to_import_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kiln_test_broken_extra.py").write_text("import kiln_test_its_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra, match=r"which cannot be imported in .*No module named 'kiln_test_its_missing"):
        require_extra("rai", "kiln_test_broken_extra", needed_by="kiln rai show")


def test_check_extra_finds_without_importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kiln_test_explodes_on_import.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_extra("rai", ("kiln_test_explodes_on_import",), needed_by="a test")
    assert "kiln_test_explodes_on_import" not in sys.modules
    with pytest.raises(MissingExtra, match=r"^a test needs 'kiln_test_nowhere' \(the kiln\[rai\] extra\)"):
        check_extra("rai", ("kiln_test_explodes_on_import", "kiln_test_nowhere"), needed_by="a test")
    with pytest.raises(MissingExtra, match="needs 'kiln_test_nowhere.sub'"):
        check_extra("rai", ("kiln_test_nowhere.sub",), needed_by="a test")


def test_a_lazy_extra_imports_on_first_use_only() -> None:
    missing = LazyExtra("torch", "kiln_test_not_installed", needed_by="kiln.integrations.torch")  # no error yet
    with pytest.raises(MissingExtra, match=r'kiln.integrations.torch needs .*pip install "kiln\[torch\]"'):
        missing.device("cpu")
    import tensorboard

    assert LazyExtra("tensorboard", needed_by="a test").__version__ == tensorboard.__version__


def test_every_extra_named_in_the_code_is_declared_in_pyproject() -> None:
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {extra: path for path in (REPO / "src" / "kiln").rglob("*.py") for extra in _extras_named(path)}
    assert named, "no call of the extra helpers found: the scan is broken"
    assert {"tensorboard", "ray", "postgres", "s3", "torch", "tensorflow"} <= set(named)
    undeclared = {extra: str(path.relative_to(REPO)) for extra, path in named.items() if extra not in declared}
    assert not undeclared, f"extras named in code but missing from pyproject.toml: {undeclared}"


def _extras_named(path: Path) -> set[str]:
    """The extras a module names: first arguments of the helpers, and ``extra=`` of a Capability."""
    extras = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if called in EXTRA_HELPERS and node.args and isinstance(node.args[0], ast.Constant):
            extras.add(str(node.args[0].value))
        if called == "Capability":
            extras |= {
                str(k.value.value) for k in node.keywords if k.arg == "extra" and isinstance(k.value, ast.Constant)
            }
    return extras - {"None"}
