"""Household-level outputs that need every household's churn: the households table,
referral codes (issued before churn, used by later signups) and the ground truth."""

from __future__ import annotations

import numpy as np
import polars as pl

from cs_assets.contract.tables import REGIONS
from cs_assets.dev.simulator.catalog import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    REFERRAL_ALPHABET,
    ZONES,
)
from cs_assets.dev.simulator.chunk import Outcome
from cs_assets.dev.simulator.lifecycle import after
from cs_assets.dev.simulator.params import MECHANISMS, PLANS, SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import NEVER, to_datetime

CODE_LENGTH = 8  # 32**8 ~ 1e12 codes: not guessable, not built from names (spec bug)


def _random_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    chars = np.array(list(REFERRAL_ALPHABET))[rng.integers(0, 32, (n, CODE_LENGTH))]
    return np.char.add("REF-", np.ascontiguousarray(chars).view(f"<U{CODE_LENGTH}").ravel())


def referral_codes(
    pop: Population, stop_us: np.ndarray, p: SimulationParams, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.Series]:
    """Codes issued to ~20 % of households (engaged ones more often), and codes used at signup.

    A later signup uses a code issued before it to someone else; a few use codes the
    product never issued (typos, the spec's guessable NAME-PETS-YEAR format).
    """
    n = len(pop)
    logit = np.log(p.referral_issue_share / (1 - p.referral_issue_share))
    chance = 1 / (1 + np.exp(-(logit + p.referral_issue_engagement * pop.engagement)))
    issued = after(pop.signup_us, 14 + rng.exponential(p.referral_issue_mean_days, n))
    holder = np.flatnonzero((rng.random(n) < chance) & (issued < stop_us))
    codes = _random_codes(rng, holder.size)
    _, first = np.unique(codes, return_index=True)  # drop the (vanishingly rare) repeats
    keep = np.sort(first)
    holder, codes = holder[keep], codes[keep]
    by_time = np.argsort(issued[holder], kind="stable")
    sorted_at, sorted_codes = issued[holder][by_time], codes[by_time]
    available = np.searchsorted(sorted_at, pop.signup_us, side="left")
    uses = (rng.random(n) < p.referral_use_share) & (available > 0)
    pick = np.minimum((rng.random(n) * available).astype(np.int64), np.maximum(available - 1, 0))
    used = np.where(uses, sorted_codes[pick] if codes.size else "", "")
    unknown = ~uses & (rng.random(n) < p.unknown_referral_share)
    legacy = np.char.add(
        np.char.upper(np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]),
        np.char.add(
            "-PETS-",
            (
                pop.signup_us.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64)
                + 1970
            ).astype(str),
        ),
    )
    bogus = np.where(rng.random(n) < 0.5, legacy, _random_codes(rng, n))
    used = np.where(unknown, bogus, used)
    table = pl.DataFrame(
        {
            "code": codes,
            "h": holder,
            "issued_at": to_datetime("issued_at", issued[holder]),
        }
    )
    return table, pl.Series("referral_code_used", used).replace("", None)


def households_frame(
    pop: Population, churn_us: np.ndarray, referral_used: pl.Series
) -> pl.DataFrame:
    first = np.array(FIRST_NAMES)[pop.first_name]
    last = np.array(LAST_NAMES)[pop.last_name]
    email = np.char.add(
        np.char.add(np.char.lower(first), "."),
        np.char.add(
            np.char.lower(last),
            np.char.add(
                pop.email_no.astype(str), np.char.add("@", np.array(EMAIL_DOMAINS)[pop.domain])
            ),
        ),
    )
    zone = pl.Series(ZONES).gather(pl.Series(pop.zone.astype(np.int64)).replace(len(ZONES), None))
    return pl.DataFrame(
        {
            "h": np.arange(len(pop)),
            "created_at": to_datetime("created_at", pop.signup_us),
            "region": np.array(REGIONS)[pop.region],
            "timezone": zone,
            "owner_name": np.char.add(np.char.add(first, " "), last),
            "email": email,
            "email_opt_out": pop.opt_out,
            "referral_code_used": referral_used,
            "churned_at": to_datetime("churned_at", churn_us, churn_us < NEVER),
        }
    )


def truth_frame(pop: Population, outcome: Outcome, p: SimulationParams) -> pl.DataFrame:
    """Ground truth per household: how (and whether) it churned and its Cox covariates.

    `premium_at_signup` counts Enterprise as paid (the spec's plan_type[Premium]);
    `premium_features_first_30d` counts features adopted within 30 days of becoming paid.
    """
    churn, stop = outcome.churn_us, outcome.stop_us
    mechanism = pl.Series(outcome.mechanism.astype(np.int64)).replace(-1, None)
    return pl.DataFrame(
        {
            "h": np.arange(len(pop)),
            "churn_mechanism": pl.Series(MECHANISMS).gather(mechanism),
            "churned_at": to_datetime("churned_at", churn, churn < NEVER),
            "plan_at_signup": np.array(PLANS)[pop.plan],
            "premium_at_signup": pop.plan > 0,
            "initial_pets": pop.pets0.astype(np.int64),
            "initial_members": pop.members0.astype(np.int64),
            "premium_features_first_30d": outcome.premium_features_30d.astype(np.int64),
            "latent_engagement": pop.engagement,
            "health_equivalent": np.clip(
                p.health_mean + p.health_points_per_sd * pop.engagement, 0, 100
            ),
            "benign_dip": outcome.dip_start_us < stop,
            "decline_onset_at": to_datetime(
                "decline_onset_at", outcome.onset_us, outcome.onset_us < stop
            ),
        }
    )
