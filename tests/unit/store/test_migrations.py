"""kiln's migrations: a schema at its newest revisions is left alone without Alembic, any other is migrated."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from kiln.store.database import MIGRATIONS_DIR, at_heads, create_database_engine, migrate, migration_heads


def test_the_heads_read_from_the_files_are_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert migration_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())


def test_a_new_database_is_migrated_then_found_at_its_heads(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    assert not at_heads(engine)  # no alembic_version table yet
    migrate(engine)
    assert at_heads(engine) and "jobs" in inspect(engine).get_table_names()


def test_a_schema_behind_is_migrated_and_one_at_its_heads_is_left_alone(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:  # a database of an older kiln: 0011 and what it needs, no more
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
    assert not at_heads(engine) and "datastores" not in inspect(engine).get_table_names()
    migrate(engine)
    assert at_heads(engine) and "datastores" in inspect(engine).get_table_names()

    def refuse(*_args: object) -> None:
        raise AssertionError("Alembic ran on a schema at its heads")

    monkeypatch.setattr(command, "upgrade", refuse)
    migrate(engine)  # at its heads: nothing to run
