"""Starting TensorBoard: a missing package and a busy port are clear errors before anything starts."""

from __future__ import annotations

import socket
import sys

import pytest

from kiln.cli.main import main
from kiln.errors import Conflict, KilnError, MissingExtra
from kiln.tensorboard.server import TensorBoardServer, choose_port


def test_a_missing_tensorboard_names_the_extra_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what an uninstalled package looks like to find_spec
    monkeypatch.setattr(sys, "argv", ["kiln", "tensorboard", "some-job"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == MissingExtra.exit_code
    error = capsys.readouterr().err
    assert error.startswith("error: kiln tensorboard needs 'tensorboard' (the kiln[tensorboard] extra)")
    assert 'pip install "kiln[tensorboard]"' in error


def test_a_busy_port_is_refused_and_no_port_means_a_free_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(Conflict, match=f"port {busy} .* in use; pick another with --port"):
            choose_port(busy)
        assert choose_port(None) != busy


def test_a_folder_with_a_comma_cannot_be_given_to_tensorboard(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KilnError, match="comma"):
        TensorBoardServer({"job": tmp_path / "a,b"}, 6006, tmp_path / "tb.log")
