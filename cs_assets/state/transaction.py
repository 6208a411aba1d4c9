"""A transaction on whatever the caller holds: functions that write the state database take an
engine (their own transaction) or a connection (the caller's: a dispatch batch writes its
steps' outcomes, outbox rows and CSM tasks in one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def transaction(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    """A new transaction on an engine, or the caller's own on a connection."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.begin() as conn:
        yield conn
