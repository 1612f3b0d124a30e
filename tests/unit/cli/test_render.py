"""The CLI's job table: generated ids shortened to their shortest unique start (at least 8), as git does."""

from __future__ import annotations

from kiln.cli.render import short_names


def test_generated_ids_are_cut_to_their_shortest_unique_start_and_given_names_kept() -> None:
    a, b, c = "abcdef01" + "0" * 24, "abcdef0123" + "1" * 22, "9" * 32
    assert short_names([a, b, c, "my-run"]) == {a: "abcdef010", b: "abcdef012", c: "99999999", "my-run": "my-run"}
    assert short_names([c]) == {c: "99999999"}
