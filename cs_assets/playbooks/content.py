"""What each playbook message says: the render context of every template, from the household's
rows on a day (its features, scores, tier, assignment, the trigger row) and the product's
`content.yaml` (links, offers, the feature list; `CS_CONTENT` names another product's).

Contexts are computed when a household is enrolled and refreshed on the days its steps fall
due, and stored on the enrolment, so the dispatcher renders without reading any asset and a
step sent late still says what was true when it was due. Contexts hold ids, figures and
feature names; the recipient's name and address are added only at send time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.features.household import FEATURE_COLUMNS
from cs_assets.features.product_signals import PREFIX
from cs_assets.playbooks.conditions import ConditionError, compile_condition
from cs_assets.settings import ConfigError
from cs_assets.team.referrals import held_codes
from cs_assets.validated_config import ConfigFile, StrictModel, Violation
from cs_assets.vocabulary import HH, instant

Context = dict[str, Any]
HIGH_RISK = ("High", "Critical")  # the churn model's segments that call for a person
MISSING = "_missing"  # template -> the value its context lacked


class ContentConfigError(ConfigError):
    """The content file is missing, unreadable or invalid; the message names the key path."""


class Feature(StrictModel):
    """A feature to recommend; `used_when` is a condition on household_features (the product's
    own signals, `ev_<event type>_…`, included)."""

    name: str
    benefit: str
    used_when: str
    premium: bool = False


class Addon(StrictModel):
    name: str
    price: str
    benefit: str


class ReviewLink(StrictModel):
    platform: str
    url: str


class Content(StrictModel):
    """Links and offers the messages quote (the spec's values by default)."""

    booking_url: str
    support_url: str
    upgrade_url: str
    survey_url: str
    referral_url: str  # the advocate's code is appended
    addon_url: str  # ?addon=<key> is appended
    win_back_offer: str
    trial: str
    upsell_discount: str
    guarantee: str
    member_benefits: list[str] = Field(min_length=1)
    member_incentive: str
    referrer_reward: str
    referee_reward: str
    review_reward: str
    review_links: list[ReviewLink] = Field(min_length=1)
    support_response_time: dict[str, str]  # by plan
    support_contact: str
    team_name: str  # signs messages of households no CSM serves
    features: list[Feature] = Field(min_length=3)
    addons: dict[str, Addon]

    @model_validator(mode="after")
    def _check(self) -> Self:
        for i, feature in enumerate(self.features):
            # the product's own signals (`ev_…`) exist once its events are seen: checked then
            signals = re.findall(rf"\b{PREFIX}[a-z0-9_]+", feature.used_when)
            try:
                compile_condition(feature.used_when, [*FEATURE_COLUMNS, *signals])
            except ConditionError as exc:
                raise Violation(f"features.{i}.used_when", str(exc)) from None
        return self


CONTENT_CONFIG = ConfigFile(Content, "content.yaml", "CS_CONTENT", ContentConfigError,
                            "content config")
load_content = CONTENT_CONFIG.load


def facts(frames: Mapping[str, pl.DataFrame], as_of: date, content: Content) -> pl.DataFrame:
    """One row per household active on `as_of`: what any template may quote.

    `frames` may also hold `referral_codes` (code, household_id, issued_at: the product's and
    the platform's; a household quotes the last issued by the day) and `referral_leaderboard`.
    Missing assets leave their columns null (a template needing them keeps its older
    context)."""
    features = _day(frames, "household_features", as_of)
    if features is None:
        return pl.DataFrame(schema={HH: pl.String})
    used = [
        compile_condition(f.used_when, features.columns).alias(f"_used_{i}")
        for i, f in enumerate(content.features)
    ]
    out = features.select(HH, "plan", "days_since_signup", *used)
    for name, columns in {
        "health_scores": ["premium_adoption_score", "missing_premium_features"],
        "health_tiers": ["health_score", "tier", "alert_count", "top_reasons"],
        "churn_predictions": ["churn_probability", "churn_risk_segment", "top_drivers"],
        "csm_assignments": ["csm_id", "route"],
    }.items():
        day = _day(frames, name, as_of)
        if day is not None:
            out = out.join(day.select(HH, *columns), on=HH, how="left")
    codes = frames.get("referral_codes")
    if codes is not None:
        held = held_codes(codes, instant(as_of)).rename({"code": "referral_code"})
        out = out.join(held, on=HH, how="left")
    board = _day(frames, "referral_leaderboard", as_of)
    if board is not None:
        out = out.join(
            board.select(pl.col("referrer_id").alias(HH), "place", "successful_referrals"),
            on=HH,
            how="left",
        )
    alerts = _day(frames, "trend_alerts", as_of)
    if alerts is not None and alerts.height:
        worst = (
            alerts.sort("percent_change")
            .group_by(HH, maintain_order=True)
            .agg(
                decline_metric=pl.col("metric").first(),
                percent_change=pl.col("percent_change").first(),
            )
        )
        out = out.join(worst, on=HH, how="left")
    return out


def _day(frames: Mapping[str, pl.DataFrame], name: str, as_of: date) -> pl.DataFrame | None:
    frame = frames.get(name)
    if frame is None:
        return None
    return frame.filter(pl.col("as_of") == as_of) if "as_of" in frame.columns else frame


def contexts(
    templates: list[str],
    rows: pl.DataFrame,
    content: Content,
    csm_names: Mapping[str, str],
) -> list[dict[str, Context]]:
    """Per row (the trigger row joined with `facts`), each template's render context.

    A template whose inputs are missing from the row is left out (an older context stays) and
    named under MISSING with the value it lacked, for the reason a step is skipped."""
    out = []
    for row in rows.iter_rows(named=True):
        by_template, missing = {}, {}
        for template in templates:
            try:
                by_template[template] = BUILDERS[template](row, content, csm_names)
            except _Missing as exc:
                missing[template] = str(exc)
        if missing:
            by_template[MISSING] = missing
        out.append(by_template)
    return out


def merge(old: Mapping[str, Context] | None, new: Mapping[str, Context]) -> dict[str, Context]:
    """Refresh stored contexts with the day's: a template's new context replaces its old one,
    and a template missing today keeps the context it had."""
    old = dict(old or {})
    merged = {**old, **{k: v for k, v in new.items() if k != MISSING}}
    missing = {**old.get(MISSING, {}), **new.get(MISSING, {})}
    missing = {t: v for t, v in missing.items() if t not in merged}
    merged.pop(MISSING, None)
    return {**merged, MISSING: missing} if missing else merged


class _Missing(Exception):
    """The row lacks a value the template needs."""


def _need(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column)
    if value is None:
        raise _Missing(column)
    return value


def _addon(content: Content, key: str) -> dict[str, str]:
    """An opportunity the product's content names no add-on for has nothing to offer."""
    if key not in content.addons:
        raise _Missing(f"addon {key}")
    return content.addons[key].model_dump()


def _csm_name(row: Mapping[str, Any], content: Content, names: Mapping[str, str]) -> str:
    """Who signs: the assigned CSM; the team for automated CS or a queue. No assignment that
    day is missing data (the stored name stays), not a reason to sign as the team."""
    route, csm = row.get("route"), row.get("csm_id")
    if route is None:
        raise _Missing("csm_id")
    if route == "automated" or csm is None:
        return content.team_name
    return names.get(csm, content.team_name)


def _unused(row: Mapping[str, Any], content: Content, premium_only: bool = False) -> list[dict]:
    flags = [row.get(f"_used_{i}") for i in range(len(content.features))]
    if all(flag is None for flag in flags):
        raise _Missing("feature use")
    return [
        {"name": f.name, "benefit": f.benefit}
        for f, used in zip(content.features, flags, strict=True)
        if not used and (f.premium or not premium_only)
    ]


def _premium_features(content: Content) -> list[dict]:
    return [{"name": f.name, "benefit": f.benefit} for f in content.features if f.premium]


def _reward_text(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("premium_months"):
        months = int(row["premium_months"])
        parts.append(f"{months} month{'s' if months != 1 else ''} of Premium free")
    if row.get("credit_usd"):
        parts.append(f"${row['credit_usd']:,.0f} account credit")
    if not parts:
        raise _Missing("credit_usd")
    return " + ".join(parts)


def _task(title: str, notes: str, priority: str = "normal") -> Context:
    return {"title": title, "notes": notes, "priority": priority}


def _reasons(row: Mapping[str, Any]) -> str:
    """The tier's reasons: health_tiers joins them with "; " into one text."""
    return row.get("top_reasons") or "no single component stands out"


def _model_view(row: Mapping[str, Any]) -> str:
    """The churn model's view beside the health score's, and a warning where they disagree
    (the model at High or Critical risk on a healthy score, or at Low risk on a critical or
    at-risk one): the CSM should know which signal brought the task."""
    segment, p = row.get("churn_risk_segment"), row.get("churn_probability")
    if segment is None or p is None:
        return ""
    drivers = f"; drivers: {row['top_drivers']}" if row.get("top_drivers") else ""
    view = f" Churn model: {segment} risk ({p:.0%} within 30 days{drivers})."
    tier = row.get("tier")
    if (segment in HIGH_RISK and tier == "healthy") or (segment == "Low"
                                                       and tier in ("critical", "at_risk")):
        view += (f" The model and the health score disagree (health tier {tier}): "
                 "check both before the call.")
    return view


Builder = Callable[[Mapping[str, Any], Content, Mapping[str, str]], Context]

BUILDERS: dict[str, Builder] = {
    # ---- email
    "declining_usage": lambda r, c, n: {
        "decline_metric": _need(r, "decline_metric"),
        "percent_change": _need(r, "percent_change"),
        "csm_name": _csm_name(r, c, n),
    },
    "feature_discovery": lambda r, c, n: {"features": _unused(r, c)[:3]},
    "win_back_offer": lambda r, c, n: {"offer": c.win_back_offer},
    "proactive_check_in": lambda r, c, n: {
        "csm_name": _csm_name(r, c, n),
        "booking_url": c.booking_url,
    },
    "support_tips": lambda r, c, n: {
        "csm_name": _csm_name(r, c, n),
        "csm_contact": c.support_contact,
        "response_time": c.support_response_time.get(_need(r, "plan"), "1 business day"),
        "support_url": c.support_url,
    },
    "premium_welcome": lambda r, c, n: {"features": _premium_features(c)},
    "premium_adoption_check_in": lambda r, c, n: {
        "csm_name": _csm_name(r, c, n),
        "booking_url": c.booking_url,
        "unused_features": [f["name"] for f in _unused(r, c, premium_only=True)],
    },
    "premium_roi_check_in": lambda r, c, n: {
        "adoption_score": round(_need(r, "premium_adoption_score")),
        "used_features": sorted(
            {f["name"] for f in _premium_features(c)}
            - {f["name"] for f in _unused(r, c, premium_only=True)}
        ),
        "unused_features": [f["name"] for f in _unused(r, c, premium_only=True)],
    },
    "dormant_reengagement": lambda r, c, n: {},
    "invite_household_members": lambda r, c, n: {
        "benefits": c.member_benefits,
        "incentive": c.member_incentive,
    },
    "referral_invitation": lambda r, c, n: {
        "referral_url": c.referral_url + _need(r, "referral_code"),
        "referrer_reward": c.referrer_reward,
        "referee_reward": c.referee_reward,
    },
    "survey_invitation": lambda r, c, n: {
        "survey_type": _need(r, "survey_type"),
        "survey_url": f"{c.survey_url}?type={_need(r, 'survey_type')}",
    },
    "review_request": lambda r, c, n: {
        "nps_score": int(_need(r, "nps_score")),
        "reward": c.review_reward,
        "review_links": [link.model_dump() for link in c.review_links],
    },
    "upsell_offer": lambda r, c, n: {
        "angle": _need(r, "upsell_angle"),
        "discount": c.upsell_discount,
        "trial": c.trial,
        "guarantee": c.guarantee,
        "upgrade_url": c.upgrade_url,
    },
    "addon_offer": lambda r, c, n: {
        "addon": _addon(c, _need(r, "opportunity")),
        "addon_url": f"{c.addon_url}?addon={r['opportunity']}",
    },
    "onboarding_flow": lambda r, c, n: {},
    "adoption_congratulations": lambda r, c, n: {},
    "premium_trial_offer": lambda r, c, n: {"trial": c.trial, "upgrade_url": c.upgrade_url},
    "anniversary": lambda r, c, n: {"years": max(1, int(_need(r, "days_since_signup")) // 365)},
    "testimonial_request": lambda r, c, n: {},
    "referral_success_referrer": lambda r, c, n: {"reward": _reward_text(r)},
    "referral_success_referee": lambda r, c, n: {"reward": _reward_text(r)},
    "review_thank_you": lambda r, c, n: {"reward": _reward_text(r)},
    "referral_leaderboard_reward": lambda r, c, n: {
        "place": int(_need(r, "place")),
        "referrals": int(_need(r, "successful_referrals")),
        "reward": _reward_text(r),
    },
    # ---- in-app notifications (cs_assets.channels.tables.Notification fields)
    "support_having_issues": lambda r, c, n: {
        "title": "Having any issues?",
        "body": "We haven't heard from you in a while. Everything working as expected?",
        "cta": "Get help",
        "link": c.support_url,
    },
    "calendar_sync_prompt": lambda r, c, n: {
        "title": "Never miss a vet appointment",
        "body": "Sync your pet care calendar with Google, Outlook or Apple Calendar.",
        "cta": "Set up Calendar Sync",
        "link": "/settings/calendar",
    },
    "survey_invitation_in_app": lambda r, c, n: {
        "survey_type": _need(r, "survey_type"),
        "title": "Got a minute?",
        "body": f"Tell us how we're doing ({_need(r, 'survey_type')} survey).",
        "cta": "Take the survey",
        "link": f"{c.survey_url}?type={r['survey_type']}",
    },
    "upsell_prompt": lambda r, c, n: {
        "title": "Unlock more with Premium",
        "body": f"{c.trial}, {c.upsell_discount}.",
        "cta": "See Premium",
        "link": c.upgrade_url,
    },
    # ---- CSM tasks (cs_assets.channels.tables.Task fields; due on the step's day)
    "csm_outreach_call": lambda r, c, n: _task(
        "15-minute check-in call: declining usage",
        f"Health {_need(r, 'health_score'):.0f} ({r.get('tier')}). {_reasons(r)}",
        "high",
    ),
    "high_support_dependency_review": lambda r, c, n: _task(
        "Review high support dependency",
        f"Mature household with many tickets. Health {_need(r, 'health_score'):.0f}.",
    ),
    "critical_health_alert": lambda r, c, n: _task(
        "URGENT: critical health score",
        f"Health {_need(r, 'health_score'):.0f}, {r.get('alert_count') or 0} trend alerts. "
        f"{_reasons(r)}{_model_view(r)}",
        "high",
    ),
    "at_risk_health_alert": lambda r, c, n: _task(
        "At-risk household: review",
        f"Health {_need(r, 'health_score'):.0f}, {r.get('alert_count') or 0} trend alerts. "
        f"{_reasons(r)}{_model_view(r)}",
    ),
}
