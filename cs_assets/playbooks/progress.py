"""Which open enrolments end on an as-of day, and whether that day's conditional steps go out.

Judged once a day from the day's assets, before the day's steps are sent (the enrolment run
precedes the dispatcher), so the dispatcher only delivers. DESIGN's "responded": after a step
of the enrolment was sent, a login (household_features' last login), or a reply, click or
open recorded as a message event on one of its messages.

Exit order when several apply: churned, opted_out, downgraded, recovered, responded. An exit
whose asset is missing that day is not judged (no data is no evidence). Downgraded: active
that day (household_features) on a plan outside the premium plans (product.yaml `premium`),
for playbooks about Premium households, whose later messages quote Premium figures. On
PetForce a move up to Enterprise, which has no Premium treatment, ends them too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta

import polars as pl

from cs_assets.contract.product import PRODUCT
from cs_assets.playbooks.config import Playbook, PlaybookCatalog
from cs_assets.playbooks.enrolment import matching_rows
from cs_assets.vocabulary import HH, UTC_TS, instant

# Open enrolments as read from the state database, with what the judgments need.
OPEN_SCHEMA = {
    "enrolment_id": pl.Int64,
    "playbook": pl.String,
    HH: pl.String,
    "enrolled_on": pl.Date,
    "first_sent_at": UTC_TS,  # null: nothing sent yet
    "event_at": UTC_TS,  # first reply, click or open on its messages; null: none
}
DUE_SCHEMA = {"step_id": pl.Int64, "enrolment_id": pl.Int64, "condition": pl.String}
EXIT_ORDER = ("churned", "opted_out", "downgraded", "recovered", "responded")


def with_responded(frame: pl.DataFrame, catalog: PlaybookCatalog,
                   frames: Mapping[str, pl.DataFrame], as_of: date) -> pl.DataFrame:
    """`frame` (open enrolments) with `_responded`: a reply, click or open of the playbook's
    own message before the as-of instant, or, after its first send, the household matching
    the playbook's `comeback` that day. `_judged` is false where a `comeback` could not be
    read (its assets missing that day): the answer is then left for a later day."""
    back = {name: _matching(catalog.playbooks[name].comeback, frames, as_of)
            for name in frame["playbook"].unique() if name in catalog.playbooks}
    came_back = [(name, household) for name, found in back.items() if found
                 for household in found]
    unknown = [name for name in back if back[name] is None
               and catalog.playbooks[name].comeback is not None]
    returned = pl.DataFrame(came_back, schema={"playbook": pl.String, HH: pl.String},
                            orient="row").with_columns(_back=pl.lit(True))
    event = pl.col("event_at") < instant(as_of)
    after_send = pl.col("first_sent_at") < instant(as_of)
    return frame.join(returned, on=["playbook", HH], how="left").with_columns(
        _responded=event.fill_null(False) | (pl.col("_back").fill_null(False)
                                             & after_send.fill_null(False)),
        _judged=~pl.col("playbook").is_in(unknown),
    ).drop("_back")


def _matching(flt, frames: Mapping[str, pl.DataFrame], as_of: date) -> set[str] | None:
    """Households matching `flt` on `as_of`; None without a filter or when its assets are
    missing."""
    if flt is None or not {flt.asset, *flt.join} <= frames.keys():
        return None
    return set(matching_rows(flt, frames, as_of)[HH])


def _at_risk(
    catalog: PlaybookCatalog, playbook: str, frames: Mapping[str, pl.DataFrame], as_of: date
) -> tuple[set[str], set[str]] | None:
    """(households the at_risk asset scored that day, those still matching), None if unknown."""
    flt = catalog.playbooks[playbook].at_risk
    still = _matching(flt, frames, as_of)
    if still is None:
        return None
    return set(frames[flt.asset].filter(pl.col("as_of") == as_of)[HH]), still


def exits(
    catalog: PlaybookCatalog,
    open_enrolments: pl.DataFrame,
    frames: Mapping[str, pl.DataFrame],
    opted_out: Mapping[str, Collection[str]],
    as_of: date,
) -> pl.DataFrame:
    """enrolment_id, exit_status for the open enrolments (OPEN_SCHEMA) that end on `as_of`.

    Only enrolments from before `as_of` are judged: one made today has not had a chance.
    `opted_out` holds the households refusing each channel; an enrolment exits `opted_out`
    when its household refuses every channel the playbook reaches it on (a CSM task reaches
    the CSM, a receipt is never refused). Enrolments of a playbook no longer in the catalog
    are not judged."""
    frame = open_enrolments.filter(
        pl.col("enrolled_on") < as_of, pl.col("playbook").is_in(list(catalog.playbooks))
    )
    features = frames.get("household_features")
    today = None if features is None else features.filter(pl.col("as_of") == as_of)
    active = None if today is None else set(today[HH])
    premium = None if today is None else set(
        today.filter(pl.col("plan").is_in(PRODUCT.premium_plans))[HH])
    frame = with_responded(frame, catalog, frames, as_of)
    risk = {name: _at_risk(catalog, name, frames, as_of) for name in frame["playbook"].unique()}
    out = []
    for row in frame.iter_rows(named=True):
        exit_on = catalog.playbooks[row["playbook"]].exit_on
        household = row[HH]
        reach = reached_on(catalog.playbooks[row["playbook"]])
        found = {
            "churned": active is not None and household not in active,
            "opted_out": bool(reach) and all(household in opted_out[c] for c in reach),
            "downgraded": active is not None and household in active
            and household not in premium,
            "recovered": (r := risk[row["playbook"]]) is not None
            and household in r[0]
            and household not in r[1],
            "responded": row["_responded"] and row["_judged"],
        }
        status = next((s for s in EXIT_ORDER if s in exit_on and found[s]), None)
        if status:
            out.append((row["enrolment_id"], status))
    return pl.DataFrame(
        out, schema={"enrolment_id": pl.Int64, "exit_status": pl.String}, orient="row"
    )


def conditions(
    catalog: PlaybookCatalog,
    due: pl.DataFrame,
    open_enrolments: pl.DataFrame,
    frames: Mapping[str, pl.DataFrame],
    as_of: date,
) -> pl.DataFrame:
    """step_id, met (bool) for the conditional steps due on `as_of` (DUE_SCHEMA) whose
    condition can be judged from the day's frames; the others are left out (judged later)."""
    frame = due.join(open_enrolments, on="enrolment_id", how="inner").filter(
        pl.col("playbook").is_in(list(catalog.playbooks))
    )
    frame = with_responded(frame, catalog, frames, as_of)
    risk = {name: _at_risk(catalog, name, frames, as_of) for name in frame["playbook"].unique()}
    out = []
    for row in frame.iter_rows(named=True):
        if row["condition"] == "no_response_since_enrolment":
            if not row["_judged"]:
                continue
            out.append((row["step_id"], not row["_responded"]))
        elif row["condition"] == "still_at_risk":
            r = risk[row["playbook"]]
            if r is None:
                continue
            out.append((row["step_id"], row[HH] in r[1]))
        else:
            raise ValueError(f"unknown step condition {row['condition']!r}")
    return pl.DataFrame(out, schema={"step_id": pl.Int64, "met": pl.Boolean}, orient="row")


CUSTOMER_CHANNELS = ("email", "in_app")  # what an opt-out can refuse


def reached_on(playbook: Playbook) -> frozenset[str]:
    """The channels a playbook reaches the household on (not receipts, not CSM tasks)."""
    return frozenset(
        step.channel
        for step in playbook.steps
        if step.channel in CUSTOMER_CHANNELS and not step.transactional
    )


def due_window(as_of: date) -> tuple[object, object]:
    """[start, end) of the as-of day: the steps it judges and refreshes."""
    return instant(as_of), instant(as_of + timedelta(days=1))
