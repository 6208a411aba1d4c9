"""Tiny hand-built raw tables that satisfy the contract, for tests to break on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from cs_assets.contract.tables import TABLES
from cs_assets.playbooks.enrolment import Enrolment
from cs_assets.state.store import enrol_many, schedule_many

REFERENCE = datetime(2026, 6, 1, tzinfo=UTC)
SIGNUP = datetime(2026, 1, 1, tzinfo=UTC)


def ts(days: float) -> datetime:
    """An instant `days` after the reference signup."""
    return SIGNUP + timedelta(days=days)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows with every contract column, missing ones null, typed as the contract says."""
    columns = TABLES[table].columns
    return pl.DataFrame(
        [{c: r.get(c) for c in columns} for r in rows], schema=columns, orient="row"
    )


def households() -> pl.DataFrame:
    return frame("households", [
        dict(household_id="hh_1", created_at=SIGNUP, region="US", timezone="America/New_York",
             email_opt_out=False),
        dict(household_id="hh_2", created_at=ts(10), region="EU", timezone=None,
             email_opt_out=True, churned_at=ts(100)),
    ])


def members() -> pl.DataFrame:
    return frame("members", [
        dict(user_id="u_1", household_id="hh_1", role="owner", joined_at=SIGNUP),
        dict(user_id="u_2", household_id="hh_2", role="owner", joined_at=ts(10)),
    ])


def pets() -> pl.DataFrame:
    return frame("pets", [
        dict(pet_id="pet_1", household_id="hh_1", species="dog", added_at=ts(1),
             has_medical_needs=False),
    ])


def events() -> pl.DataFrame:
    return frame("activity_events", [
        dict(event_id="ev_1", household_id="hh_1", user_id="u_1", occurred_at=ts(2),
             event_type="task_completion"),
        dict(event_id="ev_2", household_id="hh_1", user_id="u_1", occurred_at=ts(3),
             event_type="app_session", session_minutes=12.5),
        dict(event_id="ev_3", household_id="hh_2", user_id="u_2", occurred_at=ts(20),
             event_type="feature_use", feature_name="walk_tracker"),
    ])


def subscription_changes() -> pl.DataFrame:
    return frame("subscription_changes", [
        dict(change_id="sc_1", household_id="hh_1", changed_at=SIGNUP, change_type="new",
             to_plan="Free", mrr_after=0.0),
        dict(change_id="sc_2", household_id="hh_2", changed_at=ts(10), change_type="new",
             to_plan="Premium", mrr_after=100.0),
        dict(change_id="sc_3", household_id="hh_2", changed_at=ts(100), change_type="cancel",
             from_plan="Premium", mrr_after=0.0),
    ])


def write_raw(folder, tables: dict[str, pl.DataFrame]) -> None:
    """Write every contract table as `<table>.parquet`; tables not given are written empty."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        tables.get(name, frame(name, [])).write_parquet(folder / f"{name}.parquet")


def minimal_raw() -> dict[str, pl.DataFrame]:
    return {
        "households": households(),
        "members": members(),
        "pets": pets(),
        "activity_events": events(),
        "subscription_changes": subscription_changes(),
    }


def enrol(engine, playbook: str, household_id: str, enrolled_on, *, holdout: bool, now,
          key: str | None = None, context: dict | None = None) -> int:
    """One household enrolled the way the runner records a batch; returns its id."""
    row = Enrolment(playbook, household_id, enrolled_on, holdout, key, context).row()
    return enrol_many(engine, [row], now)[0]


def schedule_steps(engine, enrolment_id: int, steps) -> None:
    """An enrolment's `StepPlan`s scheduled the way the runner schedules a batch."""
    schedule_many(engine, {enrolment_id: [step.row() for step in steps]})
