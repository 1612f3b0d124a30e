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


def _listening(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def _is_free(port: int) -> bool:
    try:
        _listening(port).close()
    except OSError:
        return False
    return True


def test_a_busy_port_given_with_port_is_refused() -> None:
    with _listening() as sock:
        busy = sock.getsockname()[1]
        with pytest.raises(Conflict, match=f"port {busy} .* in use; pick another with --port"):
            choose_port(busy)


def test_no_port_means_6006_while_it_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tensorboard_server.DEFAULT_PORT == 6006  # TensorBoard's own default, what users expect
    with _listening() as sock:  # a port known to be free once this socket closes: 6006 may be taken here
        free = sock.getsockname()[1]
    monkeypatch.setattr(tensorboard_server, "DEFAULT_PORT", free)
    assert choose_port(None) == free


def test_no_port_and_6006_taken_means_another_free_port() -> None:
    try:  # the one test that takes 6006 itself (xdist runs a module on one worker: never two at once)
        holder = _listening(6006)
    except OSError:  # something else on this machine holds it: the case under test all the same
        holder = None
    try:
        chosen = choose_port(None)
        assert chosen != 6006 and _is_free(chosen)
    finally:
        if holder is not None:
            holder.close()


def test_a_folder_with_a_comma_cannot_be_given_to_tensorboard(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KilnError, match="comma"):
        TensorBoardServer({"job": tmp_path / "a,b"}, 6006, tmp_path / "tb.log")
