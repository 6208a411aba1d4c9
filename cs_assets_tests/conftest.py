"""Shared fixtures. PostgreSQL tests run against the local server on 127.0.0.1:5432;
with CI=true an unreachable server fails them instead of skipping them."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

# The tests never read or write the developer's $CS_HOME: not the demo's data or state, and
# not the platform clock `make demo` leaves there (the partitions would end on its day).
os.environ["CS_HOME"] = tempfile.mkdtemp(prefix="cs_home_tests_")
os.environ.pop("CS_REFERENCE_TIME", None)

PG_ADMIN_URL = os.environ.get("CS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} (runs, not skips, with CI=true)")
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """A new empty database for one test, dropped afterwards."""
    name = f"cs_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # identifier built from a uuid only
    url = pg_admin.url.set(database=name)
    yield url.render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    """A state database URL on each store: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("fresh_pg_url")
