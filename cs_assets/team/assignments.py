"""`assign_csms`: which CSM owns each household on an as-of day (the spec's "Account
assignment logic"), with the roster as configuration.

Rules, for the households present on day `D` (as-of instant `T`, midnight UTC starting `D`):

* A plan without a CSM (`product.yaml`; PetForce's Free) goes to automated CS
  (`automated_id`).
* A CSM plan (PetForce's Enterprise and Premium) goes to a roster member with role CSM whose
  `specialization` is the plan and whose `regions` include the household's region.
* Stability: the household's latest assignment made strictly before `T` (the platform's own
  state, so a re-run of `D` gives the same answer) is kept while that CSM is still on the
  roster and still matches plan and region, even if another CSM is less loaded and even if a
  lowered capacity is now exceeded (rebalancing a portfolio is a manager's decision, not a
  side effect of a config change). A changed plan or a CSM gone from the roster reassigns.
* New work (households on a CSM plan, not kept) is placed one at a time, longest waiting
  first (time in the queue, then household_id): to the eligible CSM with spare capacity
  (load < capacity) and the smallest load, ties by csm_id. Load counts today's households
  only, kept and placed, so churned households free their seat.
* Paid households nobody can take go to the team queue (`queue_owner`, CS Ops) and are
  retried every day; the caller logs one summary warning with their count, not one per
  household (the spec warns per household and returns "unassigned").

`assigned_at` is when the household got its current assignee (kept from the previous state
when unchanged, else `T`); for the queue it is when it started waiting.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Literal, Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import REGIONS
from cs_assets.validated_config import StrictModel, Violation
from cs_assets.vocabulary import HH, UTC_TS, instant

CSM_PLANS = PRODUCT.csm_plans  # a CSM specializes in one of them
Role = Literal["CSM", "CS Ops", "CS Leadership", "CS Analyst"]
Region = Literal[REGIONS]
ASSIGNMENT_COLUMNS = [HH, "plan", "region", "csm_id", "route", "assigned_at"]
PREVIOUS_SCHEMA = {HH: pl.String, "csm_id": pl.String, "assigned_at": UTC_TS}


class TeamMember(StrictModel):
    """A person on the CS team. Ids, not names, go into outputs and logs."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    display_name: str = Field(min_length=1)
    role: Role
    specialization: str | None = None
    capacity: int | None = Field(None, ge=0)  # the spec's portfolioSize: a maximum, not a count
    # The most open CSM tasks the person can work at once (ours; null: not checked). CSMs and
    # CS Ops (whose queue owner gets the tasks of households no CSM could take) get tasks.
    task_capacity: int | None = Field(None, ge=1)
    regions: list[Region] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.role == "CSM" and self.specialization not in CSM_PLANS:
            raise Violation("specialization", f"a CSM's must be one of {list(CSM_PLANS)}, "
                            f"got {self.specialization!r}")
        if self.role == "CSM" and self.capacity is None:
            raise Violation("capacity", "is required for a CSM")
        if self.role != "CSM" and self.capacity is not None:
            raise Violation("capacity", "only CSMs take households")
        if self.role not in ("CSM", "CS Ops") and self.task_capacity is not None:
            raise Violation("task_capacity", "only CSMs and CS Ops get tasks")
        return self


ALL_REGIONS: list[Region] = list(REGIONS)


def default_roster() -> list[TeamMember]:
    """The spec's csTeam, on PetForce's plans and regions (built when a config leaves the
    roster out); its coverage.segments equals the specialization for CSMs and is not used."""
    return [
        TeamMember(id="lead_01", display_name="Casey", role="CS Leadership", regions=ALL_REGIONS),
        TeamMember(id="csm_01", display_name="Sarah", role="CSM", specialization="Enterprise",
                   capacity=50, task_capacity=20, regions=["US"]),
        TeamMember(id="csm_02", display_name="Mike", role="CSM", specialization="Premium",
                   capacity=100, task_capacity=30, regions=["US", "EU"]),
        TeamMember(id="ops_01", display_name="Lisa", role="CS Ops", regions=ALL_REGIONS),
        TeamMember(id="analyst_01", display_name="Tom", role="CS Analyst",
                   specialization="Churn Analysis", regions=ALL_REGIONS),
    ]


class AssignmentConfig(StrictModel):
    roster: list[TeamMember] = Field(default_factory=default_roster)
    queue_owner: str = "ops_01"
    automated_id: str = "automated_cs"

    @model_validator(mode="after")
    def _check(self) -> Self:
        ids = Counter(member.id for member in self.roster)
        if repeated := sorted(i for i, n in ids.items() if n > 1):
            raise Violation("roster", f"ids must be unique, repeated: {repeated}")
        if not any(m.id == self.queue_owner and m.role == "CS Ops" for m in self.roster):
            raise Violation("queue_owner", f"must be the id of a CS Ops member, "
                            f"got {self.queue_owner!r}")
        if self.automated_id in ids:
            raise Violation("automated_id", f"must not be a roster id, got {self.automated_id!r}")
        return self

    @property
    def csms(self) -> list[TeamMember]:
        return [member for member in self.roster if member.role == "CSM"]

    @property
    def task_capacities(self) -> dict[str, int]:
        """The open-task capacity of everyone who has one, by id."""
        return {m.id: m.task_capacity for m in self.roster if m.task_capacity is not None}


def _coverage(config: AssignmentConfig) -> pl.LazyFrame:
    """csm_id, plan, region: every (plan, region) each CSM may serve."""
    rows = [(m.id, m.specialization, region) for m in config.csms for region in m.regions]
    return pl.LazyFrame(rows, schema={"csm_id": pl.String, "plan": pl.String,
                                      "region": pl.String}, orient="row")


def _previous(previous_assignments: pl.DataFrame, at: datetime) -> pl.LazyFrame:
    """Each household's latest assignment made strictly before the as-of instant."""
    return (
        previous_assignments.lazy().filter(pl.col("assigned_at") < at)
        .sort("assigned_at", "csm_id")
        .group_by(HH).agg(_prev_csm=pl.col("csm_id").last(), _prev_at=pl.col("assigned_at").last())
    )


def _place(waiting: pl.DataFrame, loads: Counter, config: AssignmentConfig) -> list[str]:
    """Greedy least-loaded placement in the rows' order; the queue owner when nobody can."""
    capacity = {m.id: m.capacity for m in config.csms}
    eligible: dict[tuple[str, str], list[str]] = {}
    for m in config.csms:
        for region in m.regions:
            eligible.setdefault((m.specialization, region), []).append(m.id)
    placed = []
    for plan, region in waiting.select("plan", "region").iter_rows():
        free = [c for c in eligible.get((plan, region), []) if loads[c] < capacity[c]]
        chosen = min(free, key=lambda c: (loads[c], c), default=config.queue_owner)
        loads[chosen] += 1
        placed.append(chosen)
    return placed


def assign_csms(
    households_today: pl.DataFrame,
    config: AssignmentConfig,
    previous_assignments: pl.DataFrame | None,
    as_of: date,
) -> tuple[pl.DataFrame, int]:
    """Assignments for `as_of` (ASSIGNMENT_COLUMNS, by household_id) and the queue size.

    `households_today` (household_id, plan, region) is the households present on the day with
    their plan as of it; `previous_assignments` (household_id, csm_id, assigned_at) is the
    platform's state, e.g. the previous partition, None before the first run. `route` is
    `csm`, `automated` or `queue`.
    """
    at = instant(as_of)
    if previous_assignments is None:
        previous_assignments = pl.DataFrame(schema=PREVIOUS_SCHEMA)
    today = households_today.lazy().select(HH, "plan", "region").join(
        _previous(previous_assignments, at), on=HH, how="left"
    )
    with_csm = pl.col("plan").is_in(CSM_PLANS)
    automated = today.filter(~with_csm | pl.col("plan").is_null()).with_columns(
        csm_id=pl.lit(config.automated_id), route=pl.lit("automated"),
        assigned_at=pl.when(pl.col("_prev_csm") == config.automated_id)
        .then("_prev_at").otherwise(pl.lit(at, UTC_TS)),
    )
    coverage = _coverage(config).rename({"csm_id": "_prev_csm"})
    kept = today.filter(with_csm).join(coverage, on=["_prev_csm", "plan", "region"], how="semi")
    kept = kept.with_columns(csm_id="_prev_csm", route=pl.lit("csm"), assigned_at="_prev_at")
    waiting = (
        today.filter(with_csm).join(kept, on=HH, how="anti")
        .with_columns(_since=pl.when(pl.col("_prev_csm") == config.queue_owner)
                      .then("_prev_at").otherwise(pl.lit(at, UTC_TS)))
        .sort("_since", HH).collect()
    )
    kept, automated = kept.collect(), automated.collect()
    loads = Counter(kept["csm_id"].to_list())
    placed = waiting.with_columns(csm_id=pl.Series(_place(waiting, loads, config),
                                                   dtype=pl.String))
    queued = pl.col("csm_id") == config.queue_owner
    placed = placed.with_columns(
        route=pl.when(queued).then(pl.lit("queue")).otherwise(pl.lit("csm")),
        assigned_at=pl.when(queued).then("_since").otherwise(pl.lit(at, UTC_TS)),
    )
    frames = [frame.select(ASSIGNMENT_COLUMNS) for frame in (automated, kept, placed)]
    assignments = pl.concat(frames).sort(HH)
    return assignments, int(placed.filter(queued).height)
