"""Without its engine, kiln privacy says what is missing and how to install it (before anything is charged: the
service asks the engine before it charges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import MissingExtra
from kiln.privacy.engine import PrivacyEngine


def test_a_missing_engine_says_how_to_install_it(tmp_path: Path) -> None:
    engine = PrivacyEngine(tmp_path / "no-venv" / "bin" / "python")
    with pytest.raises(MissingExtra, match=r"not installed at .*no-venv.*: run scripts/install.sh privacy"):
        engine.ask({"op": "ping"})
    engine.close()
