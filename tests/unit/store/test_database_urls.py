"""Database URLs: psycopg 3 for PostgreSQL, MLflow's sibling database, passwords never shown."""

from __future__ import annotations

import pytest

from kiln.config import Settings
from kiln.errors import InvalidSpec
from kiln.store.postgres import display_url, is_postgres, lock_key, normalize_url, sibling_database_url
from kiln.tracking.mlflow_store import mlflow_store_uri


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres+psycopg2://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("sqlite:////tmp/kiln.db", "sqlite:////tmp/kiln.db"),
    ],
)
def test_postgres_urls_use_psycopg_3(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
    assert is_postgres(given) == given.startswith("postgres")


def test_a_url_without_a_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(InvalidSpec) as caught:
        normalize_url("kiln:s3cret@db-host:5432/kiln")
    assert caught.value.message.startswith("database_url: 'kiln:***@db-host:5432/kiln' is not a database URL")
    assert "s3cret" not in caught.value.message


def test_passwords_are_hidden_in_what_is_shown() -> None:
    assert display_url("postgresql://kiln:s3cret@h:5432/db") == "postgresql://kiln:***@h:5432/db"
    assert display_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_mlflow_gets_a_sibling_database_on_postgres_and_its_own_sqlite_file_otherwise(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert sibling_database_url("postgresql+psycopg://u:p@h:5432/kiln") == "postgresql+psycopg://u:p@h:5432/kiln_mlflow"
    on_postgres = Settings.load(home=tmp_path, database_url="postgres://u:p@h/team")
    assert mlflow_store_uri(on_postgres) == "postgresql+psycopg://u:p@h/team_mlflow"
    named = Settings.load(
        home=tmp_path, database_url="postgres://u:p@h/team", mlflow_backend_store_uri="postgresql://u:p@h/m"
    )
    assert mlflow_store_uri(named) == "postgresql+psycopg://u:p@h/m"
    assert mlflow_store_uri(Settings.load(home=tmp_path)) == f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"


def test_advisory_lock_keys_are_stable_signed_64_bit() -> None:
    assert lock_key("migrations") == lock_key("migrations") != lock_key("endpoint-controller")
    assert -(2**63) <= lock_key("migrations") < 2**63
