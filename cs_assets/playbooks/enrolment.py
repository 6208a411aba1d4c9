"""Who enters a playbook on an as-of day, who of them is held out, and when each step is due.

Pure functions over the trigger assets' frames (`household_id`, `as_of`, ...) and the
enrolments already recorded; the runner writes the result with `cs_assets.state.store`'s
`enrol_many` and `schedule_many`, which are idempotent, so a re-fired sensor enrols no one
twice.

A playbook with several triggers (the segment playbooks: every household daily, and again
those with health < 60 or churn risk > 0.4) enrols a household matching more than one of them
once, and the cooldown keeps a later run or day from enrolling it again: running both of the
spec's runs is safe, and the at-risk run adds only households the daily one missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import polars as pl

from cs_assets.playbooks.config import SEND_HOUR, Filter, Playbook
from cs_assets.state.delivery import TRANSACTIONAL_CHANNELS
from cs_assets.vocabulary import HH, KEYS, stable_draw

(EMAIL_TRANSACTIONAL,) = TRANSACTIONAL_CHANNELS
ENROLMENT_COLUMNS = ["playbook", HH, "enrolment_key", "enrolled_on", "holdout"]
# The recorded enrolments `select_enrolments` reads (the state table's columns).
EXISTING_SCHEMA = {
    "playbook": pl.String,
    HH: pl.String,
    "enrolment_key": pl.String,
    "enrolled_on": pl.Date,
}


@dataclass(frozen=True)
class StepPlan:
    """One playbook step for one enrolment: `day N: channel, template` resolved to a time."""

    index: int
    due_at: datetime
    channel: str
    template: str
    condition: str | None = None  # judged on the due day before the step may be claimed
    priority: int = 0  # claim order (the contact policy's rank of the playbook's kind)

    def row(self) -> dict:
        """The step as columns of the state's `step_executions`."""
        return dict(step_index=self.index, due_at=self.due_at, channel=self.channel,
                    template=self.template, condition=self.condition, priority=self.priority)


@dataclass(frozen=True)
class Enrolment:
    """A household entering a playbook; `key` defaults to the enrolment day."""

    playbook: str
    household_id: str
    enrolled_on: date
    holdout: bool
    key: str | None = None
    context: dict | None = None  # the messages' render contexts (cs_assets.playbooks.content)

    def row(self) -> dict:
        """The enrolment as columns of the state's `enrolments`."""
        return dict(playbook=self.playbook, household_id=self.household_id,
                    enrolment_key=self.key or self.enrolled_on.isoformat(),
                    enrolled_on=self.enrolled_on, holdout=self.holdout, context=self.context)


def matching_rows(flt: Filter, frames: Mapping[str, pl.DataFrame], as_of: date) -> pl.DataFrame:
    """The `as_of` rows of the filter's asset, with its joined assets' other columns, that
    satisfy its condition. Also how the dispatcher judges `at_risk` on a step's day."""
    missing = sorted({flt.asset, *flt.join} - frames.keys())
    if missing:
        raise KeyError(f"frames lack the assets {missing}")
    rows = frames[flt.asset].filter(pl.col("as_of") == as_of)
    for name in flt.join:
        other = frames[name].filter(pl.col("as_of") == as_of)
        added = [c for c in other.columns if c not in rows.columns]
        rows = rows.join(other.select(*KEYS, *added), on=list(KEYS), how="left")
    return rows.filter(flt.expr)


def is_holdout(playbook: str, household_id: str, share: float, salt: str) -> bool:
    """Whether the household is in the playbook's holdout: a hash of (salt, playbook,
    household) below `share`. The same on every run and machine, independent across playbooks,
    and a household stays on its side at each re-enrolment."""
    return stable_draw(salt, playbook, household_id) < share * 2**64


def in_spread_window(playbook: Playbook, household_id: str, as_of: date) -> bool:
    """Whether `as_of` is in the household's window of the playbook's spread period (always,
    without a spread)."""
    spread = playbook.spread
    if spread is None:
        return True
    phase = stable_draw("spread", playbook.name, household_id) % spread.every_days
    return (as_of.toordinal() - phase) % spread.every_days < spread.window_days


def trigger_rows(
    playbook: Playbook, frames: Mapping[str, pl.DataFrame], as_of: date
) -> pl.DataFrame:
    """The rows of `as_of` that enrol a household, with their `enrolment_key`: one per
    household and key (the first trigger's row when several match), for the messages to quote."""
    rows = [
        matching_rows(trigger, frames, as_of).with_columns(
            enrolment_key=pl.lit(as_of.isoformat())
            if trigger.key is None
            else pl.col(trigger.key).cast(pl.String)
        )
        for trigger in playbook.triggers
    ]
    return pl.concat(rows, how="diagonal_relaxed").unique(
        [HH, "enrolment_key"], keep="first", maintain_order=True
    )


def select_enrolments(
    playbook: Playbook,
    frames: Mapping[str, pl.DataFrame],
    as_of: date,
    existing: pl.DataFrame,
    *,
    salt: str,
    rows: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The enrolments of `as_of` (ENROLMENT_COLUMNS, by household and key).

    `frames` holds the assets the triggers read, by name (`playbook.assets`); `rows` their
    `trigger_rows` when the caller has them already; `existing` the
    recorded enrolments (EXISTING_SCHEMA), of which only those before `as_of` count, so
    re-running a day gives the same answer. A household is left out when it already has the
    enrolment key, or entered the playbook fewer than `cooldown_days` days before `as_of`
    (exactly `cooldown_days` before is allowed again), or when `as_of` is outside its window
    of the playbook's `spread`."""
    name = playbook.name
    earlier = existing.filter((pl.col("playbook") == name) & (pl.col("enrolled_on") < as_of))
    cooling = earlier.filter(pl.col("enrolled_on") > as_of - timedelta(days=playbook.cooldown_days))
    if rows is None:
        rows = trigger_rows(playbook, frames, as_of)
    chosen = (
        rows.select(HH, "enrolment_key")
        .join(earlier.select(HH, "enrolment_key"), on=[HH, "enrolment_key"], how="anti")
        .join(cooling.select(HH), on=HH, how="anti")
        .sort(HH, "enrolment_key")
    )
    if playbook.spread is not None:
        chosen = chosen.filter(pl.Series(
            [in_spread_window(playbook, h, as_of) for h in chosen[HH]], dtype=pl.Boolean))
    holdout = [
        is_holdout(name, household, playbook.holdout_share, salt) for household in chosen[HH]
    ]
    return chosen.select(
        pl.lit(name).alias("playbook"),
        HH,
        "enrolment_key",
        pl.lit(as_of).alias("enrolled_on"),
        pl.Series("holdout", holdout, dtype=pl.Boolean),
    )


def send_time(day: date, send_hour: int = SEND_HOUR, tz: tzinfo = UTC) -> datetime:
    """`send_hour` on `day` where the household lives (`tz`), in UTC."""
    return datetime.combine(day, time(send_hour), tzinfo=tz).astimezone(UTC)


def plan_steps(
    playbook: Playbook,
    enrolled_on: date,
    send_hour: int = SEND_HOUR,
    tz: tzinfo = UTC,
    priority: int = 0,
) -> list[StepPlan]:
    """Each step due `day` days after the enrolment day at `send_hour` in the household's
    time zone `tz` (10am where they live, not 10:00 UTC everywhere). A transactional email
    goes on the delivery layer's transactional channel, which an opt-out does not stop."""
    return [
        StepPlan(
            index=i,
            channel=EMAIL_TRANSACTIONAL if step.transactional else step.channel,
            template=step.template,
            condition=None if step.condition == "always" else step.condition,
            due_at=send_time(enrolled_on + timedelta(days=step.day), send_hour, tz),
            priority=priority,
        )
        for i, step in enumerate(playbook.steps)
    ]
