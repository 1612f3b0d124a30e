"""What an ended job kept is listed from the store once (``kiln.services.ended_outputs``): a list of a thousand ended
jobs makes no thousand listings each time; the remembered answer is the store's, and the oldest job is forgotten
past the bound."""

from __future__ import annotations

from pathlib import Path

from kiln.artifacts.store import ArtifactStore
from kiln.jobs.folders import output_key
from kiln.services.ended_outputs import EndedOutputs


class _CountingStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.listings = 0

    def names_under(self, key: str) -> set[str]:
        self.listings += 1
        return super().names_under(key)


def _kept_folder(tmp_path: Path, store: ArtifactStore, job_id: str, *names: str) -> None:
    for name in names:
        produced = tmp_path / "produced" / job_id / name
        produced.mkdir(parents=True)
        (produced / "result.txt").write_text(name)
        store.put(produced, output_key(job_id, name))


def test_an_ended_job_s_outputs_are_listed_once_and_read_as_the_store_says(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path / "store")
    _kept_folder(tmp_path, store, "a" * 32, "default", "model")
    ended = EndedOutputs(store)
    assert (
        ended.kept("a" * 32)
        == frozenset({"default", "model"})
        == frozenset(store.names_under(f"jobs/{'a' * 32}/outputs"))
    )
    listings = store.listings
    assert [ended.kept("a" * 32) for _ in range(3)] == [frozenset({"default", "model"})] * 3
    assert store.listings == listings  # remembered: no more listings
    assert ended.kept("b" * 32) == frozenset()  # kept nothing


def test_past_the_bound_the_oldest_job_is_forgotten_and_listed_again(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path / "store")
    ended = EndedOutputs(store, remembered=2)
    for job_id in ("1" * 32, "2" * 32, "3" * 32):
        ended.kept(job_id)
    assert store.listings == 3
    ended.kept("3" * 32)
    ended.kept("2" * 32)
    assert store.listings == 3
    ended.kept("1" * 32)  # forgotten: listed again
    assert store.listings == 4
