"""The scoring replica runs beside the workspace, not in it: loading every module of
``kiln.serving.replica`` loads no database, service, server or control-plane code, and
``python -m kiln.serving.replica`` is still the replica's command line."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import kiln.serving.replica

# what a replica may load of kiln (its package docstring says why); and no database library at all
ALLOWED_KILN = (
    "kiln.errors", "kiln.processes", "kiln.internal_secret", "kiln.authorization", "kiln.specs", "kiln.serving",
    "kiln.serving.replica",
    "kiln.encrypted", "kiln.extras",  # encrypted scoring (encrypted_path): the protocol and the CKKS evaluation
)  # fmt: skip
DATABASE = ("sqlalchemy", "alembic")


def test_the_replica_loads_nothing_of_the_workspace() -> None:
    modules = [m.name for m in pkgutil.walk_packages(kiln.serving.replica.__path__, "kiln.serving.replica.")]
    modules = [m for m in modules if not m.endswith(".__main__")]
    assert "kiln.serving.replica.scoring_server" in modules and "kiln.serving.replica.protocols.v2" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stdout.split()
    assert "kiln.specs.replica" in loaded
    assert [m for m in loaded if m.split(".")[0] in DATABASE] == []
    kiln_modules = [m for m in loaded if m.split(".")[0] == "kiln"]
    assert [m for m in kiln_modules if m != "kiln" and not _under_any(m, ALLOWED_KILN)] == []


def _under_any(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_python_m_kiln_serving_replica_is_the_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kiln.serving.replica"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "usage: python -m kiln.serving.replica CONFIG.json" in result.stdout
