"""Action lists: who gets a proactive check-in, an upsell, a cross-sell or a downgrade save.

Pure polars, no Dagster; assets wrap `lists.checkins`, `lists.premium` and `lists.expansion`.
This module holds what they share: the validated config (`cs_assets/config/lists.yaml`, the
spec's values as defaults, a bad value an error naming its key path, as for the scorecard),
the meaning of "active", and the top-N ranking.

Every list is computed *as of* a day `D`: its instant `T` is midnight UTC starting `D`, and
raw tables and the platform's own state (check-ins and upsell campaigns sent) are read
strictly before `T`, so a re-run of a day gives the same list. The day's scores are
`household_features` joined with `health_scores` (one row per household not churned at `T`).

* **Active** (the spec's `is_active`): a row in the day's features (signed up before `T`, not
  churned at `T`) and an activity event on at least `active.active_days_30d_at_least` of the
  30 days before `T` (`active_days_30d`; 0 drops the usage requirement).
* **Top N**: sorted by the list's keys, then `household_id` ascending, so ties on the keys go
  to the smaller id and the cut is deterministic; `rank` is the position from 1.
* Thresholds named `*_at_least` are >=, `*_below` is <.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import polars as pl
from pydantic import Field

from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import PLANS
from cs_assets.settings import ConfigError
from cs_assets.validated_config import ConfigFile, StrictModel
from cs_assets.vocabulary import HH, UTC_TS

SENT_SCHEMA = {HH: pl.String, "sent_at": UTC_TS}
Plan = Literal[PLANS]  # the product's plan names (`product.yaml`)
Frame = pl.DataFrame | pl.LazyFrame


class ListsConfigError(ConfigError):
    """The lists config is missing, unreadable or invalid; the message names the key path."""


class Active(StrictModel):
    active_days_30d_at_least: int = Field(1, ge=0, le=30)


class Checkins(StrictModel):
    """War story 2: healthy, past onboarding, no ticket and no check-in in the last days."""

    health_at_least: float = Field(70, ge=0, le=100)
    signup_days_at_least: int = Field(60, ge=0)
    no_ticket_days: int = Field(90, ge=1)
    no_checkin_days: int = Field(90, ge=1)
    top_n: int = Field(50, ge=1)


class DowngradeSave(StrictModel):
    """War story 3's downgrade flow: who sees it, its offers, and how a save is judged."""

    # default: the product's Premium plans; none, and the save flow is off
    plans: list[Plan] = Field(default_factory=lambda: list(PRODUCT.premium_plans))
    onboarding_help_days_below: int = Field(90, ge=0)
    pause_months: int = Field(1, ge=1)
    discount_percent: int = Field(50, ge=1, le=99)
    discount_months: int = Field(3, ge=1)
    outcome_days: int = Field(30, ge=1)


class Signal(StrictModel):
    """An intent signal: fires at `at_least` events in the window; `angle` pitches it."""

    at_least: int = Field(ge=1)
    angle: str | None = None


class UpsellSignals(StrictModel):
    """The spec's signals; the first one that fired and has an angle picks the angle."""

    recurring_tasks_created: Signal = Signal(at_least=3, angle="unlimited_recurring_tasks")
    photos_uploaded: Signal = Signal(at_least=8, angle="unlimited_photo_storage")
    analytics_views: Signal = Signal(at_least=1, angle="advanced_analytics")
    premium_page_views: Signal = Signal(at_least=1)
    premium_feature_clicks: Signal = Signal(at_least=3)


class Upsell(StrictModel):
    health_at_least: float = Field(70, ge=0, le=100)
    signup_days_at_least: int = Field(30, ge=0)
    signal_window_days: int = Field(30, ge=1)
    recontact_after_days: int = Field(90, ge=0)
    top_n: int = Field(50, ge=1)
    signals: UpsellSignals = UpsellSignals()
    default_angle: str = "general_premium_value"


class Funnel(StrictModel):
    window_days: int = Field(90, ge=1)


class AdditionalHousehold(StrictModel):
    pets_at_least: int = Field(3, ge=1)


class CalendarSyncAddon(StrictModel):
    recurring_tasks_at_least: int = Field(5, ge=1)
    recurring_window_days: int = Field(90, ge=1)
    # default: the unpaid plans (Premium includes calendar sync: its gap is adoption)
    plans: list[Plan] = Field(default_factory=lambda: list(PRODUCT.unpaid_plans))


class PetHealthTracking(StrictModel):
    senior_age_years: int = Field(7, ge=1)
    medical_needs: bool = True
    tracking_within_days: int = Field(90, ge=1)


class PrioritySupportAddon(StrictModel):
    tickets_90d_at_least: int = Field(3, ge=1)
    # default: every plan without executive reviews (the spec: not Enterprise)
    plans: list[Plan] = Field(default_factory=lambda: [
        p for p in PRODUCT.plan_names if p not in PRODUCT.review_plans])


class CrossSell(StrictModel):
    additional_household: AdditionalHousehold = AdditionalHousehold()
    calendar_sync: CalendarSyncAddon = CalendarSyncAddon()
    pet_health_tracking: PetHealthTracking = PetHealthTracking()
    priority_support_upgrade: PrioritySupportAddon = PrioritySupportAddon()


class ListsConfig(StrictModel):
    active: Active = Active()
    checkins: Checkins = Checkins()
    downgrade_save: DowngradeSave = DowngradeSave()
    upsell: Upsell = Upsell()
    funnel: Funnel = Funnel()
    cross_sell: CrossSell = CrossSell()


LISTS_CONFIG = ConfigFile(ListsConfig, "lists.yaml", "CS_LISTS", ListsConfigError, "lists config")
parse_lists_config = LISTS_CONFIG.parse
load_lists_config = LISTS_CONFIG.load
DEFAULT_LISTS_PATH = LISTS_CONFIG.default_path


# ---------------------------------------------------------------- shared by the lists


def one_day(scores: Frame, as_of: date) -> pl.LazyFrame:
    """The as-of day's rows of the scores, so a multi-day frame cannot leak other days."""
    return scores.lazy().filter(pl.col("as_of") == as_of)


def is_active(rule: Active) -> pl.Expr:
    """Active on enough of the 30 days before the as-of instant (rows exist only unchurned)."""
    return pl.col("active_days_30d").fill_null(0) >= rule.active_days_30d_at_least


def before(frame: Frame, column: str, at: datetime) -> pl.LazyFrame:
    """Rows whose `column` is strictly before the as-of instant `at`."""
    return frame.lazy().filter(pl.col(column) < at)


def sent_before(sent: Frame | None, at: datetime) -> pl.LazyFrame:
    """The platform's own sends (household_id, sent_at) before `at`; None: nothing sent yet."""
    if sent is None:
        sent = pl.DataFrame(schema=SENT_SCHEMA)
    return before(sent, "sent_at", at).select(HH, "sent_at")


def top(frame: pl.LazyFrame, by: list[str], n: int) -> pl.LazyFrame:
    """The first `n` by `by` descending, ties to the smaller household_id; `rank` from 1."""
    return (
        frame.sort([*by, HH], descending=[*([True] * len(by)), False], nulls_last=True)
        .head(n)
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )

