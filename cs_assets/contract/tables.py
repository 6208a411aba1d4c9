"""The raw tables, each defined once as a pandera model for polars.

These models are the public contract: a user lands their product data in tables
of exactly these columns (Parquet files or a PostgreSQL schema, DDL in `sql/`).
Ids are strings and times are UTC. Each fact has one source of truth:

* signup time and churn time live only in `households` (`created_at`, `churned_at`);
* plan and MRR *as of* any day come from `subscription_changes` (a `new` row at
  signup, then upgrades / downgrades / the cancellation), never from a current value;
* payment status as of any day comes from `payments`.

Row rules that need only the row itself are pandera checks here; rules that need
another table (the household exists, not before signup, not after the reference
time, churn agrees with cancellation) live in `cs_assets.ingestion.rules`.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from cs_assets.contract.product import PRODUCT
from cs_assets.vocabulary import UTC_TS

# The product's plan and region names (`product.yaml`, or the file in CS_PRODUCT).
PLANS = PRODUCT.plan_names
REGIONS = tuple(PRODUCT.regions)
MEMBER_ROLES = ("owner", "member")
SPECIES = ("dog", "cat", "bird", "fish", "reptile", "small_mammal", "other")
TICKET_PRIORITIES = ("low", "medium", "high", "critical")
CHANGE_TYPES = ("new", "upgrade", "downgrade", "cancel")
PAYMENT_STATUSES = ("paid", "failed", "pending", "refunded")
# What each pet-health metric can measure (inclusive): a wellness score of 85,000 is a unit
# or export error, not a very healthy pet.
HEALTH_METRIC_RANGES = {
    "wellness_score": (0.0, 100.0),  # higher is better
    "weight_kg": (0.0, 500.0),
    "activity_minutes": (0.0, 24 * 60.0),  # in one day
}
HEALTH_METRICS = tuple(HEALTH_METRIC_RANGES)
GOAL_STATUSES = ("planned", "in_progress", "achieved", "missed")
REVIEW_PLATFORMS = ("app_store", "google_play", "g2", "trustpilot")
TIMEZONES = tuple(sorted(zoneinfo.available_timezones()))


# Field metadata of personal data: kept in raw and validated Parquet and the state database,
# masked in every reason, preview, log line and metadata entry.
PII = {"pii": True}


def _null_or(col: str, cond: pl.Expr) -> pl.Expr:
    return pl.col(col).is_null() | cond


class Households(pa.DataFrameModel):
    """One row per customer household (the account)."""

    household_id: str
    created_at: UTC_TS = pa.Field(description="signup instant; the only source of signup time")
    region: str = pa.Field(isin=REGIONS)
    timezone: str = pa.Field(nullable=True, isin=TIMEZONES, description="IANA name; UTC if null")
    owner_name: str = pa.Field(nullable=True, description="PII: never logged", metadata=PII)
    email: str = pa.Field(nullable=True, description="PII: never logged", metadata=PII)
    email_opt_out: bool = pa.Field(description="marketing email opt-out from the product")
    referral_code_used: str = pa.Field(nullable=True)
    churned_at: UTC_TS = pa.Field(nullable=True, description="authoritative churn instant")

    @pa.dataframe_check(name="churned_at >= created_at")
    def _churn_after_signup(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _null_or("churned_at", pl.col("churned_at") >= pl.col("created_at"))
        )


class Members(pa.DataFrameModel):
    """People in a household who use the app."""

    user_id: str
    household_id: str
    role: str = pa.Field(isin=MEMBER_ROLES)
    joined_at: UTC_TS
    removed_at: UTC_TS = pa.Field(nullable=True)

    @pa.dataframe_check(name="removed_at >= joined_at")
    def _removed_after_joined(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _null_or("removed_at", pl.col("removed_at") >= pl.col("joined_at"))
        )


class Pets(pa.DataFrameModel):
    """Pets a household manages."""

    pet_id: str
    household_id: str
    species: str = pa.Field(isin=SPECIES)
    birth_date: pl.Date = pa.Field(nullable=True)
    added_at: UTC_TS
    removed_at: UTC_TS = pa.Field(nullable=True)
    has_medical_needs: bool

    @pa.dataframe_check(name="removed_at >= added_at")
    def _removed_after_added(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _null_or("removed_at", pl.col("removed_at") >= pl.col("added_at"))
        )

    @pa.dataframe_check(name="birth_date <= added_at")
    def _born_before_added(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _null_or("birth_date", pl.col("birth_date") <= pl.col("added_at").dt.date())
        )


class ActivityEvents(pa.DataFrameModel):
    """Product events; `event_type` is the product's own name, mapped to a canonical kind."""

    event_id: str
    household_id: str
    user_id: str = pa.Field(nullable=True)
    occurred_at: UTC_TS
    event_type: str
    session_minutes: pl.Float64 = pa.Field(nullable=True, ge=0, le=24 * 60)
    feature_name: str = pa.Field(nullable=True)


class SupportTickets(pa.DataFrameModel):
    """Support tickets with their satisfaction rating."""

    ticket_id: str
    household_id: str
    created_at: UTC_TS
    resolved_at: UTC_TS = pa.Field(nullable=True)
    priority: str = pa.Field(isin=TICKET_PRIORITIES)
    csat_score: pl.Int64 = pa.Field(nullable=True, ge=1, le=5)
    category: str = pa.Field(nullable=True)

    @pa.dataframe_check(name="resolved_at >= created_at")
    def _resolved_after_created(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _null_or("resolved_at", pl.col("resolved_at") >= pl.col("created_at"))
        )


class SubscriptionChanges(pa.DataFrameModel):
    """Plan history: a `new` row at signup, then upgrades, downgrades and the cancellation.

    `mrr_after` is the household's MRR after the change (absolute, not a delta,
    so one bad row cannot shift every later value).
    """

    change_id: str
    household_id: str
    changed_at: UTC_TS
    change_type: str = pa.Field(isin=CHANGE_TYPES)
    from_plan: str = pa.Field(nullable=True, isin=PLANS)
    to_plan: str = pa.Field(nullable=True, isin=PLANS)
    mrr_after: pl.Float64 = pa.Field(ge=0)

    @pa.dataframe_check(name="plans match change_type")
    def _plans_match_type(cls, data: pa.PolarsData) -> pl.LazyFrame:
        t, f, to = pl.col("change_type"), pl.col("from_plan"), pl.col("to_plan")
        return data.lazyframe.select(
            pl.when(t == "new")
            .then(f.is_null() & to.is_not_null())
            .when(t == "cancel")
            .then(to.is_null() & (pl.col("mrr_after") == 0))
            .otherwise(f.is_not_null() & to.is_not_null() & (f != to))
        )


class Payments(pa.DataFrameModel):
    """Invoices and whether they were paid."""

    payment_id: str
    household_id: str
    due_at: UTC_TS
    paid_at: UTC_TS = pa.Field(nullable=True)
    amount: pl.Float64 = pa.Field(ge=0)
    status: str = pa.Field(isin=PAYMENT_STATUSES)

    @pa.dataframe_check(name="paid or refunded payments have paid_at")
    def _paid_has_time(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            ~pl.col("status").is_in(["paid", "refunded"]) | pl.col("paid_at").is_not_null()
        )


class NpsResponses(pa.DataFrameModel):
    """Answers to NPS surveys, with the free-text comment."""

    response_id: str
    household_id: str
    responded_at: UTC_TS
    score: pl.Int64 = pa.Field(ge=0, le=10)
    comment: str = pa.Field(nullable=True)


class PetHealthObservations(pa.DataFrameModel):
    """Pet health measurements; `wellness_score` (0-100, higher is better) drives the trend."""

    observation_id: str
    pet_id: str
    observed_at: UTC_TS
    metric: str = pa.Field(isin=HEALTH_METRICS)
    value: pl.Float64 = pa.Field(ge=0, description="within HEALTH_METRIC_RANGES of its metric")


class SuccessPlans(pa.DataFrameModel):
    """Quarterly goals agreed with (mostly Enterprise) households, for EBRs."""

    plan_goal_id: str
    household_id: str
    quarter: str = pa.Field(str_matches=r"^\d{4}-Q[1-4]$")
    goal: str
    status: str = pa.Field(isin=GOAL_STATUSES)


class ReferralCodes(pa.DataFrameModel):
    """Referral codes the product already issued to households."""

    code: str
    household_id: str
    issued_at: UTC_TS


class Reviews(pa.DataFrameModel):
    """Public reviews households wrote about the product."""

    review_id: str
    household_id: str
    platform: str = pa.Field(isin=REVIEW_PLATFORMS)
    rating: pl.Int64 = pa.Field(ge=1, le=5)
    submitted_at: UTC_TS


# A household's plan history in the order it happened: changes at the same instant are read
# `new` first, then upgrades and downgrades, then the cancellation, then by change_id.
CHANGE_TYPE_ORDER = {"new": 0, "upgrade": 1, "downgrade": 1, "cancel": 2}


def change_type_rank() -> pl.Expr:
    return pl.col("change_type").replace_strict(CHANGE_TYPE_ORDER, default=1,
                                                return_dtype=pl.Int8)


def plan_history_order() -> list[pl.Expr]:
    """Sort keys of subscription_changes that no file order can change."""
    return [pl.col("changed_at"), change_type_rank(), pl.col("change_id")]


@dataclass(frozen=True)
class TableSpec:
    """How a contract table relates to the others (keys, parents, which times to police)."""

    name: str
    model: type[pa.DataFrameModel]
    key: str
    parent: str | None = None  # table whose key this one references
    parent_column: str | None = None
    future_columns: tuple[str, ...] = ()  # must not be after the reference time
    after_signup_columns: tuple[str, ...] = ()  # must not be before the household's signup
    required: bool = False  # every product has it; an optional one may be absent altogether

    @property
    def columns(self) -> dict[str, pl.DataType]:
        return {name: col.dtype.type for name, col in self.model.to_schema().columns.items()}

    @property
    def nullable(self) -> dict[str, bool]:
        return {name: col.nullable for name, col in self.model.to_schema().columns.items()}

    @property
    def pii_columns(self) -> frozenset[str]:
        return frozenset(name for name, col in self.model.to_schema().columns.items()
                         if (col.metadata or {}).get("pii"))


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("households", Households, "household_id",
                  future_columns=("created_at", "churned_at"), required=True),
        TableSpec("members", Members, "user_id", "households", "household_id",
                  future_columns=("joined_at", "removed_at"), after_signup_columns=("joined_at",)),
        TableSpec("pets", Pets, "pet_id", "households", "household_id",
                  future_columns=("added_at", "removed_at"), after_signup_columns=("added_at",)),
        TableSpec("activity_events", ActivityEvents, "event_id", "households", "household_id",
                  future_columns=("occurred_at",), after_signup_columns=("occurred_at",),
                  required=True),
        TableSpec("support_tickets", SupportTickets, "ticket_id", "households", "household_id",
                  future_columns=("created_at", "resolved_at"),
                  after_signup_columns=("created_at",)),
        TableSpec("subscription_changes", SubscriptionChanges, "change_id", "households",
                  "household_id", future_columns=("changed_at",),
                  after_signup_columns=("changed_at",), required=True),
        TableSpec("payments", Payments, "payment_id", "households", "household_id",
                  future_columns=("due_at", "paid_at"), after_signup_columns=("due_at",)),
        TableSpec("nps_responses", NpsResponses, "response_id", "households", "household_id",
                  future_columns=("responded_at",), after_signup_columns=("responded_at",)),
        TableSpec("pet_health_observations", PetHealthObservations, "observation_id", "pets",
                  "pet_id", future_columns=("observed_at",)),
        TableSpec("success_plans", SuccessPlans, "plan_goal_id", "households", "household_id"),
        TableSpec("referral_codes", ReferralCodes, "code", "households", "household_id",
                  future_columns=("issued_at",), after_signup_columns=("issued_at",)),
        TableSpec("reviews", Reviews, "review_id", "households", "household_id",
                  future_columns=("submitted_at",), after_signup_columns=("submitted_at",)),
    )
}

REQUIRED_TABLES = tuple(name for name, spec in TABLES.items() if spec.required)
OPTIONAL_TABLES = tuple(name for name, spec in TABLES.items() if not spec.required)
PII_COLUMNS = frozenset().union(*(spec.pii_columns for spec in TABLES.values()))
