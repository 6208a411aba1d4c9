"""Playbooks as data: the validated models of `cs_assets/config/playbooks.yaml` and its loader.

A playbook names which asset rows enrol a household (`triggers`), what is sent on which day
after the enrolment (`steps`), what ends it early (`exit_on`), the share of households held out
to measure it and how long before the same household can be enrolled again (`cooldown_days`).

Conditions (`where`) are the expression language of `conditions`, never evaluated as Python.
Column names are checked at load against `ASSET_COLUMNS`, so a typo is a load error. What the
messages quote (links, offers, features) is the product's, in `content.yaml`
(`content.Content`).
"""

from __future__ import annotations

from datetime import time
from itertools import pairwise
from typing import Annotated, Literal, Self

import polars as pl
from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from cs_assets.features.household import FEATURE_COLUMNS
from cs_assets.lists.checkins import CHECKIN_COLUMNS
from cs_assets.lists.expansion import CROSS_SELL_COLUMNS, UPSELL_COLUMNS
from cs_assets.lists.premium import RISK_COLUMNS
from cs_assets.playbooks.conditions import ConditionError, compile_condition, requires
from cs_assets.playbooks.content import BUILDERS
from cs_assets.segments.journey import TRANSITION_SCHEMA
from cs_assets.segments.micro import DIMENSIONS
from cs_assets.settings import ConfigError
from cs_assets.state.schema import CSM_TASK
from cs_assets.state.tasks import QUIET_DAYS
from cs_assets.team.assignments import ASSIGNMENT_COLUMNS
from cs_assets.team.referrals import LEADERBOARD_COLUMNS, LEDGER_COLUMNS
from cs_assets.team.reviews import CANDIDATE_COLUMNS
from cs_assets.validated_config import ConfigFile, StrictModel, Violation
from cs_assets.voc.surveys import SURVEY_COLUMNS
from cs_assets.vocabulary import KEYS

SEND_HOUR = 10  # the spec's executeAutomatedPlaybooks runs at 10am (the household's time)

# The assets a trigger may read and the columns a condition may name. Every one is daily with
# `household_id` and `as_of`, so rows of different assets join on the household and the day.
ASSET_COLUMNS: dict[str, frozenset[str]] = {
    name: frozenset(columns) | frozenset(KEYS)
    for name, columns in {
        "household_features": FEATURE_COLUMNS,
        "health_scores": (
            "product_usage_score",
            "feature_adoption_score",
            "support_engagement_score",
            "engagement_score",
            "payment_health_score",
            "value_delivery_score",
            "health_score",
            "health_score_old",
            "premium_adoption_score",
            "premium_adoption_risk",
            "missing_premium_features",
            "top_reasons",
        ),
        "trend_alerts": ("metric", "current_value", "previous_value", "percent_change", "severity"),
        "health_tiers": ("health_score", "alert_count", "tier", "top_reasons"),
        "churn_predictions": (
            "churn_probability",
            "model_version",
            "top_drivers",
            "churn_risk_segment",
            "risk_rank",
        ),
        "micro_segments": (*DIMENSIONS, "segment", "recommended_action", "churn_probability"),
        "journey_stages": ("stage", "trigger"),
        "journey_transitions": tuple(TRANSITION_SCHEMA),
        "survey_eligibility": SURVEY_COLUMNS,
        "proactive_checkin_candidates": CHECKIN_COLUMNS,
        "premium_adoption_risk": RISK_COLUMNS,
        "upsell_candidates": UPSELL_COLUMNS,
        "cross_sell_opportunities": CROSS_SELL_COLUMNS,
        "review_request_candidates": CANDIDATE_COLUMNS,
        "referral_leaderboard": LEADERBOARD_COLUMNS,
        "rewards_ledger": LEDGER_COLUMNS,
        "csm_assignments": ASSIGNMENT_COLUMNS,
    }.items()
}

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Channel = Literal["email", "in_app", "csm_task"]
# Checked by the dispatcher when the step falls due.
StepCondition = Literal["always", "no_response_since_enrolment", "still_at_risk"]
# live: enrols and sends. shadow: enrols, draws the holdout, renders every message at its due
# time and sends nothing (each step is skipped "shadow mode", so a team sees who would get
# what before switching it on). off: enrols no one and sends nothing still due.
Mode = Literal["live", "shadow", "off"]
# The exit statuses of cs_assets.state.schema.EXIT_STATUSES that end an enrolment early.
# downgraded: no longer on a premium plan (cs_assets.playbooks.progress), for playbooks whose
# triggers require one.
ExitCondition = Literal["responded", "recovered", "churned", "opted_out", "downgraded"]
NEEDS_AT_RISK = ("still_at_risk", "recovered")  # both are judged by the playbook's `at_risk`
# What a playbook is for, which decides who goes first when several want the same household
# (the contact policy's `priority` orders them).
Kind = Literal["save", "onboarding", "service", "survey", "offer"]
ON_PREMIUM = "plan in premium_plans"  # what a downgraded exit finds no longer true


class PlaybookConfigError(ConfigError):
    """The playbooks file is missing, unreadable or invalid; the message names the key path."""


class Filter(StrictModel):
    """The day's rows of `asset`, with the columns of the `join` assets added (same household
    and day), that satisfy `where` (every row when absent)."""

    asset: str
    join: list[str] = Field(default_factory=list)
    where: str | None = None

    @property
    def columns(self) -> frozenset[str]:
        return frozenset().union(*(ASSET_COLUMNS[name] for name in (self.asset, *self.join)))

    @property
    def expr(self) -> pl.Expr:
        return pl.lit(True) if self.where is None else compile_condition(self.where, self.columns)

    @model_validator(mode="after")
    def _check_filter(self) -> Self:
        names = {"asset": self.asset} | {f"join.{i}": n for i, n in enumerate(self.join)}
        for key, name in names.items():
            if name not in ASSET_COLUMNS:
                raise Violation(
                    key, f"unknown asset {name!r}; known: {', '.join(sorted(ASSET_COLUMNS))}"
                )
        if len({self.asset, *self.join}) != 1 + len(self.join):
            raise Violation("join", "names an asset twice")
        try:
            if self.where is not None:
                compile_condition(self.where, self.columns)
        except ConditionError as exc:
            raise Violation("where", str(exc)) from None
        return self


class Trigger(Filter):
    """Rows that enrol their household. One enrolment per household and day, or with `key`,
    one per value of that column (e.g. a reward id: each reward is notified once)."""

    key: str | None = None

    @model_validator(mode="after")
    def _check_key(self) -> Self:
        if self.key is not None and self.key not in self.columns:
            raise Violation("key", f"unknown column {self.key!r} of {self.asset}")
        return self


class PlaybookStep(StrictModel):
    """`day` N after the enrolment day (0: the enrolment day) at the send hour."""

    day: int = Field(ge=0)
    channel: Channel
    template: Name
    condition: StepCondition = "always"
    transactional: bool = False  # receipts and security notices: sent despite an opt-out

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.transactional and self.channel != "email":
            raise Violation("transactional", "only email has a transactional channel")
        return self


class Spread(StrictModel):
    """An offer a household stays eligible for is made in its own `window_days` of every
    `every_days` (a stable hash of the playbook and the household), so switching the
    platform on for an existing base offers it over the period, not all on day one."""

    every_days: int = Field(ge=1)
    window_days: int = Field(ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.window_days > self.every_days:
            raise Violation("window_days", f"must be at most every_days ({self.every_days})")
        return self


class Playbook(StrictModel):
    name: Name  # its key under `playbooks`, filled in by the catalog
    source: str = Field(min_length=1)  # where the spec describes it
    kind: Kind
    mode: Mode = "live"
    triggers: list[Trigger] = Field(min_length=1)
    at_risk: Filter | None = None  # still needs the playbook (still_at_risk; else recovered)
    # The behaviour the playbook targets, back (e.g. task completions no longer falling): a
    # household matching it after the first send has responded, as a reply, click or open of
    # the playbook's own message has. Not any login: War story 1's silent churners log in.
    comeback: Filter | None = None
    steps: list[PlaybookStep] = Field(min_length=1)
    exit_on: list[ExitCondition]
    holdout_share: float = Field(ge=0, le=0.5)
    cooldown_days: int = Field(ge=0)
    spread: Spread | None = None

    @property
    def assets(self) -> frozenset[str]:
        """The assets to load to enrol households and judge `at_risk`."""
        filters = [*self.triggers, *(f for f in (self.at_risk, self.comeback) if f)]
        return frozenset(name for flt in filters for name in (flt.asset, *flt.join))

    @model_validator(mode="after")
    def _check(self) -> Self:
        for i, (a, b) in enumerate(pairwise(self.steps), start=1):
            if b.day < a.day:
                raise Violation(
                    f"steps.{i}.day", f"steps must be in day order: day {b.day} after day {a.day}"
                )
        if len(set(self.exit_on)) != len(self.exit_on):
            raise Violation("exit_on", "names a condition twice")
        uses = {s.condition for s in self.steps} | set(self.exit_on)
        if self.at_risk is None and uses & set(NEEDS_AT_RISK):
            raise Violation("at_risk", f"required by {sorted(uses & set(NEEDS_AT_RISK))}")
        if self.at_risk is not None and not uses & set(NEEDS_AT_RISK):
            raise Violation("at_risk", "unused: no still_at_risk step and no recovered exit")
        if "downgraded" in self.exit_on and not all(
                requires(trigger.where, ON_PREMIUM) for trigger in self.triggers):
            raise Violation("exit_on", f"downgraded ends an enrolment off the premium plans: "
                            f"every trigger must require `{ON_PREMIUM}`")
        last = self.steps[-1].day
        if self.cooldown_days < last:
            raise Violation(
                "cooldown_days",
                f"must be >= the last step's day ({last}): a household must not run "
                "through the steps twice at once",
            )
        if self.holdout_share and any(step.transactional for step in self.steps):
            raise Violation(
                "holdout_share", "must be 0 with a transactional step: a receipt is never withheld"
            )
        if self.holdout_share and all(step.channel == CSM_TASK for step in self.steps):
            raise Violation(
                "holdout_share", "must be 0 when every step is a CSM task: human work is never "
                "held out (only automated steps are, to measure them)"
            )
        return self


def _clock_time(value: object) -> object:
    """"HH:MM" from the YAML (a bare number is refused: 8 is not a time of day)."""
    if not isinstance(value, str):
        return value
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time of day HH:MM: {value!r}") from None


LocalTime = Annotated[time, BeforeValidator(_clock_time)]


class SendWindow(StrictModel):
    """Marketing email goes out between `start` and `end` of the household's local day."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.start < self.end:
            raise Violation("end", f"must be after start ({self.start})")
        return self


class ContactPolicy(StrictModel):
    """How much the platform may say to one household, and to everyone in a day
    (cs_assets.playbooks.policy applies it). Caps count the marketing channels together;
    receipts and CSM tasks are never capped. null switches a limit off."""

    marketing_channels: list[Literal["email", "in_app"]] = Field(min_length=1)
    per_day: int | None = Field(ge=1)  # in any 24 hours
    per_7_days: int | None = Field(ge=1)  # in any 7 days
    daily_budget: int | None = Field(None, ge=1)  # marketing messages per UTC day, everyone
    send_window: SendWindow | None = None  # marketing email only: in-app waits for the app
    priority: list[Kind]  # first: served first when the caps leave room for one
    stale_after_hours: int | None = Field(None, ge=1)  # older due steps are skipped, not sent

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.marketing_channels)) != len(self.marketing_channels):
            raise Violation("marketing_channels", "names a channel twice")
        if sorted(self.priority) != sorted(Kind.__args__):
            raise Violation("priority", f"must list each kind once: {', '.join(Kind.__args__)}")
        if self.per_day and self.per_7_days and self.per_7_days < self.per_day:
            raise Violation("per_7_days", f"must be at least per_day ({self.per_day})")
        return self

    def rank(self, kind: str) -> int:
        return self.priority.index(kind)


class PlaybookCatalog(StrictModel):
    send_hour: int = Field(SEND_HOUR, ge=0, le=23)  # in the household's time zone
    holdout_salt: str = Field(min_length=1)  # changing it draws new holdouts
    contact_policy: ContactPolicy
    # Alert when more than this share of a pass's sends failed (the mail server is down).
    alert_failed_share: float = Field(0.2, gt=0, le=1)
    # A CSM task done or dismissed this many days ago or fewer holds back the steps of its
    # reason (cs_assets.state.tasks): the CSM has just dealt with it.
    csm_task_quiet_days: int = Field(QUIET_DAYS, ge=0)
    templates: dict[Name, Channel]  # every template a step may use, with its channel
    playbooks: dict[Name, Playbook]

    def modes(self) -> dict[str, str]:
        """Each playbook's mode, for a sender: what is not live is never sent."""
        return {name: playbook.mode for name, playbook in self.playbooks.items()}

    def priority(self, playbook: str) -> int:
        """The claim order of the playbook's steps (0 first)."""
        return self.contact_policy.rank(self.playbooks[playbook].kind)

    def triggered_by(self, asset: str) -> list[str]:
        """The playbooks a row of `asset` enrols into (e.g. the upsell campaign's)."""
        return [name for name, playbook in self.playbooks.items()
                if any(trigger.asset == asset for trigger in playbook.triggers)]

    @model_validator(mode="before")
    @classmethod
    def _name_playbooks(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("playbooks"), dict):
            named = {
                key: {"name": key, **value} if isinstance(value, dict) else value
                for key, value in data["playbooks"].items()
            }
            data = {**data, "playbooks": named}
        return data

    @model_validator(mode="after")
    def _check_templates(self) -> Self:
        for template in self.templates:
            if template not in BUILDERS:
                raise Violation(
                    f"templates.{template}", "no message content is written for this template"
                )
        for name, playbook in self.playbooks.items():
            if playbook.name != name:
                raise Violation(f"playbooks.{name}.name", "leave it out: the key is the name")
            for i, step in enumerate(playbook.steps):
                key = f"playbooks.{name}.steps.{i}.template"
                channel = self.templates.get(step.template)
                if channel is None:
                    raise Violation(key, f"unknown template {step.template!r}")
                if channel != step.channel:
                    raise Violation(
                        key,
                        f"{step.template!r} is a {channel} template, the step sends {step.channel}",
                    )
        return self


PLAYBOOKS_CONFIG = ConfigFile(
    PlaybookCatalog, "playbooks.yaml", "CS_PLAYBOOKS", PlaybookConfigError, "playbooks config"
)
parse_playbooks = PLAYBOOKS_CONFIG.parse
load_playbooks = PLAYBOOKS_CONFIG.load
DEFAULT_PLAYBOOKS_PATH = PLAYBOOKS_CONFIG.default_path


