"""Static household traits, drawn once for every household before any day is simulated."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cs_assets.dev.simulator.catalog import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, REGION_ZONES
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.timegrid import DAY_US, Calendar


@dataclass(frozen=True)
class Population:
    """One array per trait, indexed by household number (households in signup order)."""

    signup_us: np.ndarray  # int64 UTC microseconds of households.created_at
    region: np.ndarray  # index into REGIONS
    zone: np.ndarray  # index into catalog.ZONES; len(ZONES) means no zone (null, UTC)
    plan: np.ndarray  # plan at signup: 0 Free, 1 Premium, 2 Enterprise
    members0: np.ndarray  # initial members incl. the owner (1-5)
    pets0: np.ndarray  # initial pets (1-4)
    engagement: np.ndarray  # latent engagement e ~ N(0, 1)
    support_class: np.ndarray  # 0 never, 1 occasional, 2 frequent, 3 high-touch tickets
    adoption: np.ndarray  # Premium adoption propensity a ~ Beta
    first_name: np.ndarray
    last_name: np.ndarray
    email_no: np.ndarray
    domain: np.ndarray
    opt_out: np.ndarray

    def __len__(self) -> int:
        return self.signup_us.shape[0]

    def slice(self, start: int, stop: int) -> Population:
        return Population(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})


def _signup_offsets_days(rng: np.random.Generator, n: int, spread: int, growth: float):
    """Days after the spread start, sorted; density grows by `growth` a year (inverse CDF)."""
    g = np.log1p(growth) / 365.0
    u = rng.random(n)
    return np.sort(np.log1p(u * np.expm1(g * spread)) / g)


def _support_class(rng: np.random.Generator, engagement: np.ndarray, p: SimulationParams):
    """0 never, 1 occasional, 2 frequent, 3 high-touch.

    Never-ticket households lean disengaged (War story 2: they did not know how to
    get help and gave up silently); the other classes keep their shares among the rest.
    """
    n = engagement.shape[0]
    shares = np.asarray(p.support_class_shares)
    logit = np.log(shares[0] / (1 - shares[0]))
    never = rng.random(n) < 1 / (1 + np.exp(-(logit - p.never_ticket_engagement * engagement)))
    rest = 1 + rng.choice(3, size=n, p=shares[1:] / shares[1:].sum())
    return np.where(never, 0, rest).astype(np.int8)


def draw_population(
    n: int, cal: Calendar, spread_days: int, params: SimulationParams, rng: np.random.Generator
) -> Population:
    spread_start_us = cal.end_us - spread_days * DAY_US
    signup_us = spread_start_us + (
        _signup_offsets_days(rng, n, spread_days, params.signup_growth_per_year) * DAY_US
    ).astype(np.int64)
    signup_us = np.minimum(signup_us, cal.end_us - 1)

    region = rng.choice(len(params.region_shares), size=n, p=params.region_shares)
    zone = np.empty(n, dtype=np.int16)
    base = 0
    for r, zones in enumerate(REGION_ZONES):  # three regions
        mask = region == r
        w = np.array([p for _, p in zones])
        zone[mask] = base + rng.choice(len(zones), size=int(mask.sum()), p=w / w.sum())
        base += len(zones)
    zone[rng.random(n) < params.null_timezone_share] = base

    engagement = rng.standard_normal(n)
    return Population(
        signup_us=signup_us,
        region=region.astype(np.int8),
        zone=zone,
        plan=rng.choice(3, size=n, p=params.plan_shares).astype(np.int8),
        members0=(1 + rng.choice(5, size=n, p=params.initial_members_probs)).astype(np.int8),
        pets0=(1 + rng.choice(4, size=n, p=params.initial_pets_probs)).astype(np.int8),
        engagement=engagement,
        support_class=_support_class(rng, engagement, params),
        adoption=rng.beta(*params.adoption_beta, size=n),
        first_name=rng.integers(0, len(FIRST_NAMES), n).astype(np.int16),
        last_name=rng.integers(0, len(LAST_NAMES), n).astype(np.int16),
        email_no=rng.integers(1, 100, n).astype(np.int16),
        domain=rng.integers(0, len(EMAIL_DOMAINS), n).astype(np.int8),
        opt_out=rng.random(n) < params.email_opt_out_share,
    )
