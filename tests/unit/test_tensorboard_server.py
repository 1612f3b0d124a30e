"""Starting TensorBoard: a missing package and a busy port are clear errors before anything starts."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from kiln.errors import Conflict, KilnError
from kiln.tracking import tensorboard_server
from kiln.tracking.tensorboard_server import TensorBoardServer, choose_port, require_tensorboard


def test_a_missing_tensorboard_names_the_extra_that_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        tensorboard_server.importlib.util,
        "find_spec",
        lambda name: None if name == "tensorboard" else real_find_spec(name),
    )
    with pytest.raises(KilnError, match=r"pip install 'kiln\[tensorboard\]'"):
        require_tensorboard()


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
