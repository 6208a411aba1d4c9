"""Closed-form life events of a chunk of households: times drawn directly, no day loop.

Every instant is int64 UTC microseconds; NEVER marks an event that does not happen.
Events are drawn as if the household never churned; churn truncates them later,
which is consistent because nothing before the churn depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_assets.dev.simulator.catalog import CORE_FEATURES, SPECIES
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import DAY_US, HOUR_US, NEVER

INITIAL_MEMBER_SLOTS = 5  # owner + up to four at signup
MEMBER_SLOTS = 8  # + up to three joining later
INITIAL_PET_SLOTS = 4
PET_SLOTS = 6
MAX_DAYS = 1e5  # waits longer than this never happen


def after(base_us: np.ndarray, days: np.ndarray) -> np.ndarray:
    """`base + days`, NEVER when the base never happens or the wait is endless."""
    days = np.asarray(days, dtype=np.float64)
    ok = (base_us < NEVER) & np.isfinite(days) & (days < MAX_DAYS)
    out = base_us + (np.where(ok, days, 0.0) * DAY_US).astype(np.int64)
    return np.where(ok, out, NEVER)


def _waits(rng: np.random.Generator, rate: np.ndarray, cols: int | None = None) -> np.ndarray:
    """Exponential waits in days for per-household daily rates (rate 0 -> inf).

    With `cols`, draws that many waits per household (shape (n, cols)).
    """
    if cols is None:
        e, r = rng.standard_exponential(rate.shape), rate
    else:
        e, r = rng.standard_exponential((rate.shape[0], cols)), rate[:, None]
    with np.errstate(divide="ignore"):
        return e / r


@dataclass(frozen=True)
class Lifecycle:
    upgrade_us: np.ndarray  # Free -> Premium (NEVER for the paid-at-signup)
    paid_start_us: np.ndarray  # start of the paid spell (signup for Premium/Enterprise)
    premium_adopt_us: np.ndarray  # (n, 4) calendar sync, analytics, templates, priority support
    premium_features_30d: np.ndarray  # premium features adopted within 30 paid days (0-4)
    onboarding_us: np.ndarray  # premium_onboarding_complete
    downgrade_us: np.ndarray  # Premium -> Free
    decline_onset_us: np.ndarray  # silent decline starts
    dip_start_us: np.ndarray  # benign dip
    dip_end_us: np.ndarray
    dip_depth: np.ndarray
    member_join_us: np.ndarray  # (n, MEMBER_SLOTS); slot 0 is the owner
    member_remove_us: np.ndarray
    pet_add_us: np.ndarray  # (n, PET_SLOTS)
    pet_remove_us: np.ndarray
    pet_species: np.ndarray
    pet_medical: np.ndarray
    pet_age_days: np.ndarray  # age when added; NaN = birth date unknown
    feature_order: np.ndarray  # (n, 10) core feature indices in this household's adoption order
    feature_adopt_us: np.ndarray  # (n, 10) adoption instant of the k-th feature in that order


def _premium(pop: Population, p: SimulationParams, rng: np.random.Generator):
    n = len(pop)
    free = pop.plan == 0
    up_rate = p.upgrade_hazard * np.exp(p.upgrade_engagement * pop.engagement)
    upgrade = np.where(free, after(pop.signup_us, _waits(rng, up_rate)), NEVER)
    paid_start = np.where(free, upgrade, pop.signup_us)
    mean_days = np.asarray(p.premium_feature_mean_days)[None, :] / pop.adoption[:, None]
    adopt = after(
        np.repeat(paid_start[:, None], 4, axis=1),
        rng.standard_exponential((n, 4)) * mean_days,
    )
    pf = ((adopt - paid_start[:, None]) < 30 * DAY_US).sum(axis=1) * (paid_start < NEVER)
    onboarding = np.where(
        rng.random(n) < pop.adoption, after(paid_start, rng.uniform(1, 14, n)), NEVER
    )
    table = np.asarray(p.downgrade_hazard_by_features)
    dg_rate = np.where(pf < table.size, table[np.minimum(pf, table.size - 1)], 0.0)
    dg_rate = np.where(pop.plan == 2, 0.0, dg_rate)  # Enterprise does not self-downgrade
    downgrade = after(paid_start, p.downgrade_grace_days + _waits(rng, dg_rate))
    return upgrade, paid_start, adopt, pf.astype(np.int8), onboarding, downgrade


def _slots(
    rng: np.random.Generator,
    signup: np.ndarray,
    initial: np.ndarray,
    n_initial: int,
    n_slots: int,
    growth_rate: np.ndarray,
    stop_growth: np.ndarray,
    settle_hours: float,
) -> np.ndarray:
    """Join instants: initial slots within `settle_hours` of signup, later ones by growth.

    Later arrivals stop at `stop_growth` (a declining household does not grow).
    """
    n = signup.shape[0]
    k = np.arange(n_initial)[None, :]
    first = signup[:, None] + (rng.random((n, n_initial)) * settle_hours * HOUR_US).astype(np.int64)
    joined = np.where(k < initial[:, None], first, NEVER)
    joined[:, 0] = signup
    gaps = np.cumsum(_waits(rng, growth_rate, n_slots - n_initial), axis=1)
    later = after(np.repeat(signup[:, None], n_slots - n_initial, axis=1), gaps)
    later = np.where(later < stop_growth[:, None], later, NEVER)
    return np.concatenate([joined, later], axis=1)


def _core_features(pop: Population, p: SimulationParams, onset, rng):
    n = len(pop)
    weights = np.log([w for _, w in CORE_FEATURES])
    order = np.argsort(-(weights[None, :] + rng.gumbel(size=(n, weights.size))), axis=1)
    lo, hi = p.core_feature_initial
    k0 = rng.integers(lo, hi + 1, n)
    rate = np.exp(p.engagement_activity * pop.engagement) / p.core_feature_mean_days
    gaps = _waits(rng, rate, weights.size)
    gaps[np.arange(weights.size)[None, :] < k0[:, None]] = 0.0
    adopt = after(np.repeat(pop.signup_us[:, None], weights.size, axis=1), np.cumsum(gaps, 1))
    adopt = np.where(adopt <= onset[:, None], adopt, NEVER)  # nothing new once declining
    return order.astype(np.int8), adopt


def draw_lifecycle(pop: Population, p: SimulationParams, rng: np.random.Generator) -> Lifecycle:
    n = len(pop)
    upgrade, paid_start, adopt, pf, onboarding, downgrade = _premium(pop, p, rng)
    onset = after(
        pop.signup_us,
        p.decline_min_tenure_days + _waits(rng, np.full(n, p.decline_onset_hazard)),
    )
    dip_start = after(
        pop.signup_us,
        p.benign_dip_min_tenure_days + _waits(rng, np.full(n, p.benign_dip_hazard)),
    )
    dip_end = after(dip_start, rng.integers(p.benign_dip_days[0], p.benign_dip_days[1] + 1, n))
    growth = np.exp(p.engagement_activity * pop.engagement) / 365.0

    joins = _slots(
        rng,
        pop.signup_us,
        pop.members0,
        INITIAL_MEMBER_SLOTS,
        MEMBER_SLOTS,
        p.member_growth_per_year * growth,
        onset,
        settle_hours=2.0,
    )
    removable = (np.arange(MEMBER_SLOTS) > 0)[None, :] & (
        rng.random((n, MEMBER_SLOTS)) < p.member_removal_share
    )
    leaves = np.where(removable, after(joins, rng.exponential(180.0, (n, MEMBER_SLOTS))), NEVER)

    adds = _slots(
        rng,
        pop.signup_us,
        pop.pets0,
        INITIAL_PET_SLOTS,
        PET_SLOTS,
        p.pet_growth_per_year * growth,
        onset,
        settle_hours=0.5,
    )
    pet_leaves = after(adds, _waits(rng, np.full(n, p.pet_removal_per_year / 365.0), PET_SLOTS))
    species_p = np.array([w for _, w in SPECIES])
    age = rng.lognormal(np.log(3.0 * 365), 0.8, (n, PET_SLOTS)).clip(30, 18 * 365)
    order, feature_adopt = _core_features(pop, p, onset, rng)
    return Lifecycle(
        upgrade_us=upgrade,
        paid_start_us=paid_start,
        premium_adopt_us=adopt,
        premium_features_30d=pf,
        onboarding_us=onboarding,
        downgrade_us=downgrade,
        decline_onset_us=onset,
        dip_start_us=dip_start,
        dip_end_us=dip_end,
        dip_depth=rng.uniform(*p.benign_dip_depth, n),
        member_join_us=joins,
        member_remove_us=leaves,
        pet_add_us=adds,
        pet_remove_us=pet_leaves,
        pet_species=rng.choice(len(SPECIES), size=(n, PET_SLOTS), p=species_p).astype(np.int8),
        pet_medical=rng.random((n, PET_SLOTS)) < p.pet_medical_share,
        pet_age_days=np.where(rng.random((n, PET_SLOTS)) < 0.9, age, np.nan),
        feature_order=order,
        feature_adopt_us=feature_adopt,
    )
