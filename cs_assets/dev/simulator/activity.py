"""Product events of a chunk: Poisson counts per household-day expanded with np.repeat,
plus one-off events at the exact instants of life events (adoptions, invites, clicks).

Logins and sessions depend on engagement and members only, so they stay flat in a
silent decline; task completions carry the decline and the benign dips (War story 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_assets.dev.simulator.catalog import (
    CORE_FEATURES,
    EV,
    EVENT_TYPES,
    FEATURE_NAMES,
    PREMIUM_FEATURE_EVENTS,
)
from cs_assets.dev.simulator.hazards import task_level
from cs_assets.dev.simulator.lifecycle import Lifecycle
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import (
    DAY_US,
    HOUR_US,
    NEVER,
    Calendar,
    ChunkGrid,
    expand,
    local_time_us,
)

PREMIUM_CLICK_OFFSET = len(CORE_FEATURES)  # premium click names follow the core features
N_CLICK_FEATURES = len(FEATURE_NAMES) - len(CORE_FEATURES)


@dataclass(frozen=True)
class Events:
    """Columnar events of a chunk (chunk-local household index, UTC microseconds)."""

    h: np.ndarray
    us: np.ndarray
    code: np.ndarray  # index into EVENT_TYPES
    slot: np.ndarray  # member slot of user_id, -1 = null
    minutes: np.ndarray  # session_minutes, NaN = null
    feature: np.ndarray  # index into FEATURE_NAMES, -1 = null


@dataclass(frozen=True)
class _Context:
    pop: Population
    life: Lifecycle
    cal: Calendar
    offsets: np.ndarray
    stop_us: np.ndarray  # min(churned_at, reference time)
    p: SimulationParams
    rng: np.random.Generator


def _day(cal: Calendar, us: np.ndarray) -> np.ndarray:
    return np.minimum(cal.day_of(us), cal.n_days + 1)


def _active_count(cal: Calendar, start_us, stop_us, days: np.ndarray) -> np.ndarray:
    """Slots (members or pets) present on each day: (n, len(days))."""
    start, stop = _day(cal, start_us), _day(cal, stop_us)
    out = np.zeros((start.shape[0], days.size), dtype=np.float32)
    for s in range(start.shape[1]):  # at most eight slots
        out += (days[None, :] >= start[:, s, None]) & (days[None, :] < stop[:, s, None])
    return out


def _from_grid(c: _Context, lam: np.ndarray, wgrid: ChunkGrid, code: int):
    """Poisson counts per household-day -> (h, us, code) at local peak hours."""
    h, col = expand(c.rng.poisson(lam))
    day = wgrid.first + col
    us = (
        c.cal.day_us(day) + local_time_us(c.rng, c.cal.weekend(day)) - c.offsets[c.pop.zone[h], day]
    )
    return h, us, np.full(h.shape[0], code, dtype=np.int8)


def _one_off(instants: np.ndarray, code: int):
    """Events at the instants of an (n, k) array that are not NEVER."""
    h, k = np.nonzero(instants < NEVER)
    return h, instants[h, k], np.full(h.shape[0], code, dtype=np.int8)


def _grid_events(c: _Context, wgrid: ChunkGrid):
    """Recurring behaviour: rates per household-day x engagement, drawn as Poisson counts."""
    pop, life, p, cal = c.pop, c.life, c.p, c.cal
    days = wgrid.days
    signup_day = cal.day_of(pop.signup_us)
    alive = (days[None, :] >= signup_day[:, None]) & (
        days[None, :] <= _day(cal, c.stop_us)[:, None]
    )
    weekend = np.where(cal.weekend(days), p.weekend_factor, 1.0)[None, :]
    eng = np.exp(p.engagement_activity * pop.engagement)[:, None] * alive
    members = _active_count(cal, life.member_join_us, life.member_remove_us, days)
    pets = _active_count(cal, life.pet_add_us, life.pet_remove_us, days)
    decline = task_level(days[None, :] - _day(cal, life.decline_onset_us)[:, None], p)
    in_dip = (days[None, :] >= _day(cal, life.dip_start_us)[:, None]) & (
        days[None, :] < _day(cal, life.dip_end_us)[:, None]
    )
    dip = np.where(in_dip, 1.0 - life.dip_depth[:, None], 1.0)
    tenure = days[None, :] - signup_day[:, None]
    paid_from = _day(cal, life.paid_start_us)[:, None]
    paid_until = _day(cal, life.downgrade_us)[:, None]
    free = (days[None, :] < paid_from) | (days[None, :] >= paid_until)
    up = _day(cal, life.upgrade_us)[:, None]
    intent = (days[None, :] >= up - p.upgrade_intent_days) & (days[None, :] < up)
    rates = [
        (EV["app_login"], p.login_rate * (1.0 + 0.5 * (members - 1.0)) * weekend),
        (EV["task_completion"], p.task_rate * pets**0.7 * decline * dip),
        (EV["feature_use"], p.feature_use_rate * weekend),
        (EV["recurring_task_create"], p.recurring_task_rate * pets * (1.0 + 2.0 * (tenure < 30))),
        (EV["photo_upload"], p.photo_rate * pets * weekend**2),  # photos: weekends above all
        (EV["premium_page_view"], p.intent_rates[0] * intent + p.browse_rates[0] * free),
        (EV["premium_feature_click"], p.intent_rates[1] * intent + p.browse_rates[1] * free),
    ]
    adopt_day = _day(cal, life.premium_adopt_us)
    for k in (1, 2, 3):  # analytics, templates, priority support: recurring after adoption
        using = (days[None, :] > adopt_day[:, k, None]) & (days[None, :] < paid_until)
        rates.append((EV[PREMIUM_FEATURE_EVENTS[k]], p.premium_event_rates[k - 1] * using))
    return [_from_grid(c, eng * lam, wgrid, code) for code, lam in rates]


def _before(rng: np.random.Generator, at: np.ndarray, lo_days: float, hi_days: float):
    """An instant lo..hi days before `at` (NEVER stays NEVER)."""
    lead = (rng.uniform(lo_days, hi_days, at.shape) * DAY_US).astype(np.int64)
    return np.where(at < NEVER, at - lead, NEVER)


def _life_events(c: _Context):
    """One-off events at the instants of life events, each with its feature (or -1)."""
    life, rng, pop = c.life, c.rng, c.pop
    paid = life.premium_adopt_us < life.downgrade_us[:, None]
    adopt = np.where(paid, life.premium_adopt_us, NEVER)
    onboarding = np.where(life.onboarding_us < life.downgrade_us, life.onboarding_us, NEVER)
    trial = np.where(
        rng.random(len(pop)) < c.p.trial_share, _before(rng, life.upgrade_us, 7, 14), NEVER
    )
    joins = life.member_join_us[:, 1:]
    lead = np.minimum(
        (rng.uniform(0, 2, joins.shape) * DAY_US).astype(np.int64), joins - pop.signup_us[:, None]
    )
    invites = np.where(joins < NEVER, joins - lead, NEVER)
    first_use = np.where(
        life.feature_adopt_us < NEVER,
        life.feature_adopt_us
        + (rng.uniform(0, 2, life.feature_adopt_us.shape) * HOUR_US).astype(np.int64),
        NEVER,
    )
    parts = [_one_off(adopt[:, [k]], EV[name]) for k, name in enumerate(PREMIUM_FEATURE_EVENTS)]
    parts += [
        _one_off(onboarding[:, None], EV["premium_onboarding_complete"]),
        _one_off(trial[:, None], EV["premium_trial_start"]),
        _one_off(_before(rng, life.downgrade_us, 0, 5)[:, None], EV["downgrade_click"]),
        _one_off(invites, EV["member_invite"]),
    ]
    h, k = np.nonzero(first_use < NEVER)
    feature_use = (h, first_use[h, k], np.full(h.size, EV["feature_use"], dtype=np.int8))
    features = [np.full(x[0].size, -1, dtype=np.int8) for x in parts]
    return [*parts, feature_use], [*features, life.feature_order[h, k]]


def _features(c: _Context, h, us, code, feature) -> np.ndarray:
    """Grid feature uses pick a core feature adopted by then; clicks name a Premium feature."""
    use = np.flatnonzero((code == EV["feature_use"]) & (feature < 0))
    adopted = (c.life.feature_adopt_us[h[use]] <= us[use, None]).sum(axis=1)
    pos = np.minimum((c.rng.random(use.size) * adopted).astype(np.int64), adopted - 1)
    feature = feature.copy()
    feature[use] = c.life.feature_order[h[use], np.maximum(pos, 0)]
    click = np.flatnonzero(code == EV["premium_feature_click"])
    feature[click] = PREMIUM_CLICK_OFFSET + c.rng.integers(0, N_CLICK_FEATURES, click.size)
    return feature


OWNER_ONLY = np.isin(
    np.arange(len(EVENT_TYPES)),
    [
        EV[n]
        for n in (
            *PREMIUM_FEATURE_EVENTS,
            "premium_onboarding_complete",
            "premium_trial_start",
            "downgrade_click",
            "member_invite",
            "premium_page_view",
            "premium_feature_click",
        )
    ],
)


def _users(c: _Context, h, us, code, block: int = 1 << 20) -> np.ndarray:
    """Member slot of each event among members present at that instant.

    The owner weighs twice another member; in a silent decline the others fade from
    task completions with the tasks themselves (no collaboration). Blocks of events
    bound the (events x slots) temporaries.
    """
    slot = np.empty(h.size, dtype=np.int8)
    for lo in range(0, h.size, block):  # a handful of blocks per chunk
        part = slice(lo, lo + block)
        slot[part] = _pick_members(c, h[part], us[part], code[part])
    return slot


def _pick_members(c: _Context, h, us, code) -> np.ndarray:
    life = c.life
    level = task_level((us - life.decline_onset_us[h]) / DAY_US, c.p)
    other = np.where(code == EV["task_completion"], level, 1.0)
    present = (life.member_join_us[h] <= us[:, None]) & (us[:, None] < life.member_remove_us[h])
    weight = present * np.where(np.arange(present.shape[1]) == 0, 2.0, other[:, None]).astype(
        np.float32
    )
    weight[OWNER_ONLY[code], 1:] = 0.0
    cum = np.cumsum(weight, axis=1)
    u = c.rng.random(h.size) * cum[:, -1]
    return (cum <= u[:, None]).sum(axis=1).astype(np.int8)


def _sessions(c: _Context, h, us, slot):
    """Most logins open a session a few seconds later, 5-15 minutes long, longer at weekends."""
    pick = np.flatnonzero(c.rng.random(h.size) < c.p.session_share)
    h, slot = h[pick], slot[pick]
    at = us[pick] + c.rng.integers(5_000_000, 90_000_000, pick.size)
    weekend = np.where(c.cal.weekend(c.cal.day_of(at)), c.p.weekend_factor, 1.0)
    minutes = np.round(
        c.rng.lognormal(np.log(c.p.session_median_minutes), c.p.session_sigma, pick.size) * weekend,
        1,
    ).clip(0.5, 240.0)
    ok = (at < c.stop_us[h]) & (at < c.life.member_remove_us[h, slot])
    return h[ok], at[ok], slot[ok], minutes[ok]


def draw_events(
    pop: Population,
    life: Lifecycle,
    cal: Calendar,
    offsets: np.ndarray,
    stop_us: np.ndarray,
    p: SimulationParams,
    rng: np.random.Generator,
) -> Events:
    """Every event of a chunk inside the activity window, before churn and the reference."""
    c = _Context(pop, life, cal, offsets, stop_us, p, rng)
    first = max(int(cal.day_of(pop.signup_us.min())), cal.window_start)
    grid_parts = _grid_events(c, ChunkGrid(first, max(cal.end_index - first, 0)))
    life_parts, life_features = _life_events(c)
    parts = grid_parts + life_parts
    features = [np.full(x[0].size, -1, dtype=np.int8) for x in grid_parts] + life_features
    h = np.concatenate([x[0] for x in parts])
    us = np.concatenate([x[1] for x in parts])
    code = np.concatenate([x[2] for x in parts])
    feature = np.concatenate(features)
    keep = (us >= pop.signup_us[h]) & (us < stop_us[h]) & (us >= cal.day_us(cal.window_start))
    h, us, code, feature = h[keep], us[keep], code[keep], feature[keep]
    feature = _features(c, h, us, code, feature)
    slot = _users(c, h, us, code)
    sh, sus, sslot, minutes = _sessions(c, *(x[code == EV["app_login"]] for x in (h, us, slot)))
    n = h.size
    return Events(
        h=np.concatenate([h, sh]),
        us=np.concatenate([us, sus]),
        code=np.concatenate([code, np.full(sh.size, EV["app_session"], dtype=np.int8)]),
        slot=np.concatenate([slot, sslot]),
        minutes=np.concatenate([np.full(n, np.nan), minutes]),
        feature=np.concatenate([feature, np.full(sh.size, -1, dtype=np.int8)]),
    )
