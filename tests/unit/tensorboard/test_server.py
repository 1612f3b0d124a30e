"""Starting TensorBoard: a missing package and a busy port are clear errors before anything starts."""

from __future__ import annotations

import socket
import sys

import pytest

from kiln.cli.main import main
from kiln.errors import Conflict, KilnError, MissingExtra
from kiln.tensorboard import server as tensorboard_server
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
    assert error.startswith(
        "error: kiln tensorboard (without --export-only) needs 'tensorboard' (the kiln[tensorboard] extra)"
    )
    assert 'pip install "kiln[tensorboard]"' in error


def test_export_only_goes_on_without_tensorboard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with socket.socket() as closed:  # a workspace URL nothing listens on: the command gets as far as asking it
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KILN_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    monkeypatch.setenv("KILN_TOKEN", "kiln_" + "A" * 43)
    monkeypatch.setattr(sys, "argv", ["kiln", "tensorboard", "some-job", "--export-only"])
    with pytest.raises(SystemExit) as exit_:
        main()
    error = capsys.readouterr().err
    assert exit_.value.code != MissingExtra.exit_code, error
    assert "needs 'tensorboard'" not in error
    assert "127.0.0.1" in error  # it tried the workspace, which TensorBoard has nothing to do with


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
