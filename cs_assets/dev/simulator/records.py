"""Household records truncated at churn: members, pets, pet health and success plans."""

from __future__ import annotations

import numpy as np
import polars as pl

from cs_assets.dev.simulator.catalog import SPECIES, SUCCESS_GOALS
from cs_assets.dev.simulator.lifecycle import Lifecycle
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import DAY_US, Calendar, to_datetime

WEEK_US = 7 * DAY_US
# Median kg and lognormal sigma per species (SPECIES order); only dogs and cats are weighed.
WEIGHT_MEDIAN_KG = np.array([18.0, 4.5, 0, 0, 0, 0, 0])
WEIGHT_SIGMA = np.array([0.45, 0.2, 0, 0, 0, 0, 0])
WEIGHED_SHARE = 0.4  # tracked dogs and cats also weighed every fourth week
GOAL_STEPS = np.array([1, 5, 7, 11])  # coprime with 12 goals: 2-4 distinct goals a quarter


def members_frame(life: Lifecycle, stop_us: np.ndarray, offset: int) -> pl.DataFrame:
    """Owner at signup, others at or after it; removals kept only before churn."""
    h, slot = np.nonzero(life.member_join_us < stop_us[:, None])
    removed = life.member_remove_us[h, slot]
    return pl.DataFrame(
        {
            "h": h + offset,
            "slot": slot.astype(np.int8),
            "role": np.where(slot == 0, "owner", "member"),
            "joined_at": to_datetime("joined_at", life.member_join_us[h, slot]),
            "removed_at": to_datetime("removed_at", removed, removed < stop_us[h]),
        }
    )


def pets_frame(life: Lifecycle, stop_us: np.ndarray, offset: int) -> pl.DataFrame:
    h, slot = np.nonzero(life.pet_add_us < stop_us[:, None])
    added = life.pet_add_us[h, slot]
    removed = life.pet_remove_us[h, slot]
    age = life.pet_age_days[h, slot]
    known = np.isfinite(age)
    birth = added // DAY_US - np.where(known, age, 0).astype(np.int64)
    return pl.DataFrame(
        {
            "h": h + offset,
            "slot": slot.astype(np.int8),
            "species": np.array([s for s, _ in SPECIES])[life.pet_species[h, slot]],
            "birth_date": pl.Series(birth, dtype=pl.Int32)
            .scatter(np.flatnonzero(~known), None)
            .cast(pl.Date),
            "added_at": to_datetime("added_at", added),
            "removed_at": to_datetime("removed_at", removed, removed < stop_us[h]),
            "has_medical_needs": life.pet_medical[h, slot],
        }
    )


def observations_frame(
    pop: Population,
    life: Lifecycle,
    cal: Calendar,
    stop_us: np.ndarray,
    tracked_share: float,
    decline_days: int,
    rng: np.random.Generator,
    offset: int,
) -> pl.DataFrame:
    """Weekly wellness scores of tracked pets inside the activity window, and some weights.

    Wellness drifts up for engaged households, down for disengaged ones, and falls in
    a silent decline (the spec's petHealthTrends).
    """
    h, slot = np.nonzero(
        (life.pet_add_us < stop_us[:, None]) & (rng.random(life.pet_add_us.shape) < tracked_share)
    )
    first = life.pet_add_us[h, slot] + (rng.uniform(0, 7, h.size) * DAY_US).astype(np.int64)
    end = np.minimum(life.pet_remove_us[h, slot], stop_us[h])
    window = cal.day_us(cal.window_start)
    k0 = np.maximum(-(-(window - first) // WEEK_US), 0)
    k1 = np.where(first < end, (end - first - 1) // WEEK_US + 1, 0)
    n = np.maximum(k1 - k0, 0)
    pet = np.repeat(np.arange(h.size), n)
    k = k0[pet] + np.arange(pet.size) - np.repeat(np.cumsum(n) - n, n)
    at = first[pet] + k * WEEK_US
    e = pop.engagement[h]
    base = 72.0 + 6.0 * e + rng.normal(0, 5, h.size)
    progress = np.clip((at - life.decline_onset_us[h[pet]]) / (decline_days * DAY_US), 0, 1)
    wellness = (
        base[pet]
        + np.clip(0.15 * e[pet] * k, -15, 15)
        - 15.0 * progress
        + rng.normal(0, 3, pet.size)
    ).clip(0, 100)
    species = life.pet_species[h, slot]
    median = WEIGHT_MEDIAN_KG[species]
    weighed = (median > 0) & (rng.random(h.size) < WEIGHED_SHARE)
    kg = median * np.exp(WEIGHT_SIGMA[species] * rng.standard_normal(h.size))
    w = np.flatnonzero(weighed[pet] & (k % 4 == 0))
    return pl.DataFrame(
        {
            "h": np.concatenate([h[pet], h[pet[w]]]) + offset,
            "slot": np.concatenate([slot[pet], slot[pet[w]]]).astype(np.int8),
            "observed_at": to_datetime("observed_at", np.concatenate([at, at[w]])),
            "metric": np.repeat(["wellness_score", "weight_kg"], [pet.size, w.size]),
            "value": np.concatenate(
                [
                    np.round(wellness, 1),
                    np.round(kg[pet[w]] * (1 + rng.normal(0, 0.02, w.size)), 2),
                ]
            ),
        }
    )


def _quarter_index(us: np.ndarray) -> np.ndarray:
    months = us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    return months // 3  # quarters since 1970-Q1


def success_plans_frame(
    pop: Population, stop_us: np.ndarray, rng: np.random.Generator, offset: int
) -> pl.DataFrame:
    """Enterprise households agree 2-4 goals each quarter; past quarters are settled."""
    ent = np.flatnonzero(pop.plan == 2)
    q0 = _quarter_index(pop.signup_us[ent])
    q1 = _quarter_index(stop_us[ent] - 1)
    nq = q1 - q0 + 1
    hq = np.repeat(np.arange(ent.size), nq)
    q = q0[hq] + np.arange(hq.size) - np.repeat(np.cumsum(nq) - nq, nq)
    goals = rng.integers(2, 5, hq.size)
    row = np.repeat(np.arange(hq.size), goals)
    j = np.arange(row.size) - np.repeat(np.cumsum(goals) - goals, goals)
    goal = (
        rng.integers(0, len(SUCCESS_GOALS), hq.size)[row] + j * rng.choice(GOAL_STEPS, hq.size)[row]
    ) % len(SUCCESS_GOALS)
    e = pop.engagement[ent[hq[row]]]
    done = q[row] < q1[hq[row]]
    achieved = rng.random(row.size) < 1 / (1 + np.exp(-(0.5 + 0.8 * e)))
    started = rng.random(row.size) < 0.6
    status = np.where(
        done, np.where(achieved, "achieved", "missed"), np.where(started, "in_progress", "planned")
    )
    year, quarter = 1970 + q[row] // 4, q[row] % 4 + 1
    return pl.DataFrame(
        {
            "h": ent[hq[row]] + offset,
            "quarter": pl.Series(year.astype(str)) + "-Q" + pl.Series(quarter.astype(str)),
            "goal": np.array(SUCCESS_GOALS)[goal],
            "status": status,
            "j": j,
        }
    )
