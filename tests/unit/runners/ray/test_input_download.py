"""The Ray driver's download of an input manifest (``kiln.runners.ray.entry.fetch_inputs``), from a loopback HTTP
server: each manifest that names a folder is downloaded there once, a refused or cut file fails with the input's
and the file's names (never the URL), and a manifest naming a path outside the working directory is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiln.jobs.input_manifest import MANIFEST_FOLDER
from kiln.runners.ray import entry as ray_entry

FILES = {"/a.csv": b"x,y\n1,2\n", "/sub/b.bin": bytes(range(256)) * 1000}


class Files(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        if self.path == "/refused":
            body = json.dumps({"error": {"type": "RefusedUrl", "message": "this signed URL expired"}}).encode()
            self.send_response(403)
        elif self.path == "/short":
            body = b"abc"
            self.send_response(200)
        else:
            body = FILES[self.path]
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    Files.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_manifest(wd: Path, name: str, files: list[dict[str, object]], download: bool = True) -> None:
    folder = wd / MANIFEST_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {"format": "kiln-input-manifest/1", "input": name, "files": files}
    if download:
        manifest["download_to"] = f"{MANIFEST_FOLDER}/{name}"
    (folder / f"{name}.json").write_text(json.dumps(manifest))


def test_each_manifest_that_names_a_folder_is_downloaded_there_once(tmp_path: Path, base_url: str) -> None:
    files = [{"name": path[1:], "size": len(body), "url": base_url + path} for path, body in FILES.items()]
    write_manifest(tmp_path, "data", files)
    write_manifest(tmp_path, "streamed", files, download=False)  # a kind's url_input: the job reads it itself
    ray_entry.fetch_inputs(tmp_path)
    folder = tmp_path / MANIFEST_FOLDER / "data"
    assert (folder / "a.csv").read_bytes() == FILES["/a.csv"]
    assert (folder / "sub" / "b.bin").read_bytes() == FILES["/sub/b.bin"]
    assert not (tmp_path / MANIFEST_FOLDER / "streamed").exists()
    assert not (tmp_path / MANIFEST_FOLDER / "data.partial").exists()
    ray_entry.fetch_inputs(tmp_path)  # a rank on the same node: already there
    assert sorted(Files.requests) == ["/a.csv", "/sub/b.bin"]


def test_a_refused_file_fails_with_the_workspaces_message_and_no_url(tmp_path: Path, base_url: str) -> None:
    write_manifest(tmp_path, "data", [{"name": "x.csv", "size": 10, "url": f"{base_url}/refused"}])
    with pytest.raises(ray_entry.InputDownloadFailed) as raised:
        ray_entry.fetch_inputs(tmp_path)
    message = str(raised.value)
    assert "input 'data': file 'x.csv'" in message and "HTTP 403: this signed URL expired" in message
    assert base_url not in message and Files.requests == ["/refused"]  # a refusal is not tried again
    assert not (tmp_path / MANIFEST_FOLDER / "data").exists()  # never a half-downloaded input


def test_a_cut_file_is_tried_again_then_fails(tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_entry.time, "sleep", lambda _seconds: None)
    write_manifest(tmp_path, "data", [{"name": "x.csv", "size": 10, "url": f"{base_url}/short"}])
    with pytest.raises(ray_entry.InputDownloadFailed, match=r"3 bytes arrived of 10"):
        ray_entry.fetch_inputs(tmp_path)
    assert len(Files.requests) == ray_entry.DOWNLOAD_TRIES


@pytest.mark.parametrize("name", ["../escape.csv", "/etc/passwd", "a/../../b"])
def test_a_manifest_naming_a_path_outside_the_working_dir_is_refused(tmp_path: Path, name: str) -> None:
    write_manifest(tmp_path / "wd", "data", [{"name": name, "size": 1, "url": "http://127.0.0.1:9/x"}])
    with pytest.raises(ray_entry.InputDownloadFailed, match="outside the job's folder"):
        ray_entry.fetch_inputs(tmp_path / "wd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wd"]


def test_the_driver_fails_before_the_command_when_an_input_cannot_be_downloaded(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifest(tmp_path, "data", [{"name": "x.csv", "size": 10, "url": f"{base_url}/refused"}])
    monkeypatch.chdir(tmp_path)
    config = {"command": "touch ran", "folders": ["outputs", ".kiln_outputs/model"], "return_dir": str(tmp_path)}
    monkeypatch.setattr(ray_entry, "read_config", lambda: config)
    assert ray_entry.main() == 1
    assert "kiln: input 'data': file 'x.csv' could not be downloaded" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists() and (tmp_path / ".kiln_outputs" / "model").is_dir()
