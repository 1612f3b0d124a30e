"""The one resolver of references (kiln.artifacts.references) and the artifact store that opens keys only through it."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from kiln import mltable
from kiln.artifacts.references import (
    JobOutputReference,
    RunReference,
    UploadReference,
    inside,
    join_key,
    open_inside,
    parse_job_output,
    parse_run,
    parse_upload,
    regular_files,
    relative_path,
    remove_links,
)
from kiln.artifacts.store import ArtifactStore, tree_hash
from kiln.errors import InvalidSpec

DIGEST = "a" * 64
# each way out of a root, and what the refusal says
OUTSIDE = [
    ("..", "'..'"),
    ("../../../token", "'..'"),
    ("a/../../etc", "'..'"),
    ("a/..", "'..'"),
    ("/etc/passwd", "absolute"),
    ("//etc", "absolute"),
    ("a\\..\\..\\token", "backslash"),
    ("a\0b", "NUL"),
    ("%2e%2e/%2e%2e/token", "%-encoded"),
    ("%2E%2E", "%-encoded"),
    ("a%2f..%2f..%2ftoken", "%-encoded"),
    ("%252e%252e/token", "%-encoded"),
    ("a%5c..", "%-encoded"),
    ("a%00", "%-encoded"),
]


@pytest.mark.parametrize(("text", "why"), OUTSIDE)
def test_a_path_that_leaves_its_root_is_refused_naming_the_field(text: str, why: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        relative_path(text, "inputs.x.path")
    assert caught.value.message.startswith("inputs.x.path: ") and why in caught.value.message


@pytest.mark.parametrize(
    ("text", "clean"),
    [("a/b", "a/b"), ("./a//b/", "a/b"), ("a/./b", "a/b"), ("a..b/c", "a..b/c"), ("my%20file", "my%20file")],
)
def test_a_path_inside_is_normalised(text: str, clean: str) -> None:
    assert relative_path(text, "f") == clean


def test_the_root_itself_only_where_allowed() -> None:
    assert relative_path("./", "f", allow_root=True) == ""
    with pytest.raises(InvalidSpec, match="names no file or folder"):
        relative_path(".", "f")
    assert join_key("snapshots/x", "", "f") == "snapshots/x"
    assert join_key("snapshots/x", "./a/", "f") == "snapshots/x/a"


@pytest.mark.parametrize("text", [path for path, _ in OUTSIDE])
def test_every_reference_kind_refuses_the_same_ways_out(text: str) -> None:
    for reference in (f"upload:{DIGEST}/{text}", f"runs:/job-1/{text}", f"azureml://jobs/j/outputs/o/paths/{text}"):
        with pytest.raises(InvalidSpec, match="^path: "):
            parse_upload(reference, "path") if reference.startswith("upload:") else (
                parse_run(reference, "path") or parse_job_output(reference, "path")
            )


def test_the_reference_kinds_parse() -> None:
    assert parse_upload(f"upload:{DIGEST}", "f") == UploadReference(DIGEST, "")
    assert parse_upload(f"upload:{DIGEST}/m/./w.txt", "f") == UploadReference(DIGEST, "m/w.txt")
    assert parse_run("runs:/job-1/model", "f") == RunReference("job-1", "model")
    assert parse_run("kiln:iris@latest", "f") is None
    assert parse_job_output("azureml://jobs/j/outputs/o", "f") == JobOutputReference("j", "o", "")
    assert parse_job_output("kiln://jobs/j/outputs/o/", "f") == JobOutputReference("j", "o", "")
    assert parse_job_output("azureml://jobs/j/outputs/o/paths/m/w", "f") == JobOutputReference("j", "o", "m/w")
    assert parse_job_output("upload:x", "f") is None


@pytest.mark.parametrize(
    "reference",
    [
        "azureml://jobs/j/outputs/..",
        "azureml://jobs/j/outputs/../",
        "azureml://jobs/j/outputs/%2e%2e",
        "azureml://jobs/../outputs/o",
        "kiln://jobs/j/outputs/.",
        "azureml://jobs/j/outputs/o/extra",
        "azureml://jobs/j/outputs/",
        "runs:/../x",
        "runs:/j",
        "runs:/j/",
        "upload:nothex/x",
    ],
)
def test_malformed_or_escaping_references_are_refused(reference: str) -> None:
    with pytest.raises(InvalidSpec, match="^path: "):
        if reference.startswith("upload:"):
            parse_upload(reference, "path")
        else:
            parse_run(reference, "path") or parse_job_output(reference, "path")


def test_inside_refuses_a_symbolic_link_out(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (tmp_path / "secret").write_text("token")
    (base / "link").symlink_to(tmp_path / "secret")
    (base / "folder-link").symlink_to(tmp_path)
    (base / "inner").symlink_to(base / "sub")
    assert inside(base, "inner", "f") == base / "inner"
    for path in ("link", "folder-link/secret", "folder-link"):
        with pytest.raises(InvalidSpec, match="symbolic link"):
            inside(base, path, "f")


def test_an_mltable_cannot_read_through_a_symbolic_link(tmp_path: Path) -> None:
    folder = tmp_path / "table"
    folder.mkdir()
    (tmp_path / "outside.csv").write_text("a\n1\n")
    (folder / "data.csv").symlink_to(tmp_path / "outside.csv")
    (folder / "MLTable").write_text("paths: [{file: ./data.csv}]\n")
    with pytest.raises(InvalidSpec, match="symbolic link"):
        mltable.parse(folder)
    (folder / "MLTable").write_text("paths: [{pattern: ./*.csv}]\n")
    with pytest.raises(InvalidSpec, match="points outside the MLTable's folder"):
        mltable.parse(folder)


def _tree_with_links(tmp_path: Path) -> Path:
    (tmp_path / "secret").write_text("the token")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "passwd").write_text("root:x:0:0")
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.txt").write_text("weights")
    (folder / "token").symlink_to(tmp_path / "secret")
    (folder / "sub" / "etc").symlink_to(tmp_path / "elsewhere")
    (folder / "copy").symlink_to(folder / "model.txt")
    return folder


def test_regular_files_never_follow_a_link(tmp_path: Path) -> None:
    folder = _tree_with_links(tmp_path)
    files, links = regular_files(folder)
    assert files == [folder / "model.txt"]
    assert links == [folder / "copy", folder / "sub" / "etc", folder / "token"]
    assert regular_files(folder / "token") == ([], [folder / "token"])


def test_remove_links_clears_a_jobs_folder(tmp_path: Path) -> None:
    folder = _tree_with_links(tmp_path)
    assert remove_links(folder) == ["outputs/copy", "outputs/sub/etc", "outputs/token"]
    assert sorted(p.name for p in folder.rglob("*")) == ["model.txt", "sub"]
    assert (tmp_path / "secret").read_text() == "the token"  # the targets are untouched


def test_the_store_keeps_no_link_target(tmp_path: Path) -> None:
    folder = _tree_with_links(tmp_path)
    store = ArtifactStore(str(tmp_path / "store"))
    store.put(folder, "jobs/j/outputs/default")
    store.put(folder / "token", "jobs/j/outputs/single")
    assert store.list_files("jobs/j/outputs/default") == ["model.txt"]
    assert not store.exists("jobs/j/outputs/single")
    digest = store.put_content_addressed(folder, "snapshots")
    assert store.list_files(f"snapshots/{digest}") == ["model.txt"]
    assert tree_hash(folder) == digest
    stored = Path(tmp_path / "store")
    assert not any(p.is_symlink() for p in stored.rglob("*"))
    assert "the token" not in "".join(p.read_text() for p in stored.rglob("*") if p.is_file())


def _key_methods() -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(ArtifactStore, inspect.isfunction)
        if not name.startswith("_") and "key" in inspect.signature(member).parameters
    ]


def test_every_store_method_taking_a_key_opens_it_through_the_resolver(tmp_path: Path) -> None:
    """The store's path-taking methods, found by their ``key`` parameter, refuse every way out of the root."""
    (tmp_path / "token").write_text("secret")
    store = ArtifactStore(str(tmp_path / "store"))
    methods = _key_methods()
    assert {"exists", "is_dir", "put", "get", "open", "remove", "write_bytes", "list_files", "iter_tar", "size"} <= set(
        methods
    )
    arguments = {"local": tmp_path / "copy", "data": b"x", "arcname": "a", "mode": "rb", "seconds": 60}
    for method in methods:
        parameters = inspect.signature(getattr(ArtifactStore, method)).parameters
        for key in ("../token", "a/../../token", "/etc/passwd", "%2e%2e/token"):
            call = getattr(store, method)
            extra = {name: arguments[name] for name in parameters if name in arguments}
            with pytest.raises(InvalidSpec, match="artifact key"):
                result = call(key, **extra) if method != "put" else call(tmp_path / "token", key)
                if inspect.isgenerator(result):
                    next(result)
                elif hasattr(result, "__enter__"):
                    with result:
                        pass
    assert (tmp_path / "token").read_text() == "secret"
    assert not (tmp_path / "copy").exists()


def test_a_link_planted_in_the_store_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("secret")
    store = ArtifactStore(str(tmp_path / "store"))
    os.symlink(tmp_path, tmp_path / "store" / "jobs")
    with pytest.raises(InvalidSpec, match="symbolic link"):
        store.open("jobs/token")


def test_open_inside_follows_no_link_on_the_way(tmp_path: Path) -> None:
    base = tmp_path / "job"
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "real.txt").write_text("live")
    (tmp_path / "token").write_text("secret")
    (base / "logs" / "token").symlink_to(tmp_path / "token")
    (base / "wd").symlink_to(base / "logs")
    with open_inside(base, "logs/real.txt", "f") as handle:
        assert handle.read() == b"live"
    for path in ("logs/token", "wd/real.txt"):
        with pytest.raises(OSError):
            open_inside(base, path, "f")
    with pytest.raises(InvalidSpec):
        open_inside(base, "../token", "f")
    with pytest.raises(IsADirectoryError):
        open_inside(base, "logs", "f")
