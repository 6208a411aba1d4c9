"""Ledgerly: invoicing for freelancers, a product unlike PetForce, with churn planted in its
own vocabulary.

One user per account; plans Starter (free) and Pro (the one paid plan); eight event types
(`sign_in`, `app_open`, `invoice_created`, `invoice_sent`, `payment_received`,
`client_added`, `bank_sync`, `report_exported`); no members, pets, tickets, payments, NPS,
success plans, referral codes or reviews: those tables are not written at all. Sessions
carry no minutes.

Each account's daily churn hazard is a sum of mechanisms, each a state with an onset day;
the churn day is the first day a uniform draw falls under the day's churn probability, and
it is attributed to a mechanism in proportion to its share that day:

* `profile_risk`: a base hazard falling with the latent engagement that also sets how much
  the account uses the product, lower on Pro;
* `no_signal`: a constant hazard with no trace in the data (a client lost, a job taken);
* `invoicing_decline`: invoices sent fall to a fifth over six weeks while sign-ins stay, and
  the hazard rises four weeks after the onset;
* `data_export`: reports exported jump (the books taken elsewhere) and the hazard rises a
  week later;
* `bank_disconnect`: bank syncs stop (a connected bank lost) and the hazard is raised for 60
  days.

Benign look-alikes keep each signal from being perfect: everyone invoices less in the last
two weeks of December, and exports reports in the first ten days of a quarter (tax time).

Ground truth in `_truth/`: `households.parquet` (mechanism, churned_at, latent engagement,
bank connected) and `hazard_daily.parquet` (`hazard`, `p_churn_30d` with foresight and
`p_churn_30d_known` from the states known on the day), as for PetForce.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from cs_assets.contract.tables import TABLES

ORACLE_DAYS = 30
EVENT_TYPES = ("sign_in", "app_open", "invoice_created", "invoice_sent", "payment_received",
               "client_added", "bank_sync", "report_exported")
MECHANISMS = ("profile_risk", "no_signal", "invoicing_decline", "data_export",
              "bank_disconnect")


@dataclass(frozen=True)
class LedgerlyParams:
    """Frozen: the evaluation on this product is only honest if nothing is tuned on it."""

    history_days: int = 730  # signups spread over the days before the end date
    pro_at_signup: float = 0.30
    upgrade_per_day: float = 0.0012  # Starter -> Pro, per active day
    pro_mrr: float = 29.0
    regions: tuple[str, ...] = ("NA", "EMEA", "APAC")
    region_shares: tuple[float, ...] = (0.5, 0.3, 0.2)
    opt_out_share: float = 0.12
    bank_connected_share: float = 0.6
    # Events per active day at latent engagement 0, in EVENT_TYPES order (bank_sync: per
    # connected account); rates scale with exp(engagement_rate_sd * engagement).
    rates: tuple[float, ...] = (0.6, 0.8, 0.5, 0.45, 0.35, 0.03, 0.4, 0.03)
    engagement_rate_sd: float = 0.45
    base_hazard: float = 0.0007  # profile risk per day at engagement 0, on Starter
    engagement_hazard: float = -0.35  # log-hazard per SD of engagement
    pro_hazard_ratio: float = 0.6
    no_signal_hazard: float = 0.0005
    decline_onset_per_day: float = 0.0008
    decline_weeks: int = 6  # invoices sent fall linearly to decline_floor over these weeks
    decline_floor: float = 0.2
    decline_delay_days: int = 28
    decline_hazard: float = 0.02
    export_onset_per_day: float = 0.0003
    export_rate_multiplier: float = 8.0
    export_delay_days: int = 7
    export_hazard: float = 0.04
    disconnect_per_day: float = 0.0006  # connected accounts only
    disconnect_days: int = 60
    disconnect_hazard: float = 0.01
    december_invoice_multiplier: float = 0.5  # Dec 18-31, everyone
    quarter_start_export_multiplier: float = 3.0  # days 1-10 of a quarter, everyone


PARAMS = LedgerlyParams()


def _onsets(rng: np.random.Generator, per_day: float, start: np.ndarray, days: int,
            eligible: np.ndarray | None = None) -> np.ndarray:
    """The day (grid index) a state begins, geometric from signup; -1 when never in range."""
    onset = start + rng.geometric(per_day, size=start.size) - 1
    onset = np.where(onset < days, onset, -1)
    return onset if eligible is None else np.where(eligible, onset, -1)


def _since(onset: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Days since each account's onset on each grid day (-1 before it or without one)."""
    since = grid[None, :] - onset[:, None]
    return np.where((onset[:, None] >= 0) & (since >= 0), since, -1)


@dataclass(frozen=True)
class World:
    signup: np.ndarray  # grid day of signup
    engagement: np.ndarray
    pro_day: np.ndarray  # grid day the account is on Pro from (-1: never)
    bank: np.ndarray  # bank connected
    onsets: dict[str, np.ndarray]
    hazards: dict[str, np.ndarray]  # mechanism -> (accounts, grid days + ORACLE_DAYS)
    churn_day: np.ndarray  # -1: active at the end
    mechanism: np.ndarray  # index into MECHANISMS, -1 when not churned

    def rows(self, lo: int, hi: int) -> World:
        """The accounts lo..hi-1 (events are drawn a chunk of accounts at a time)."""
        return World(self.signup[lo:hi], self.engagement[lo:hi], self.pro_day[lo:hi],
                     self.bank[lo:hi], {k: v[lo:hi] for k, v in self.onsets.items()},
                     {k: v[lo:hi] for k, v in self.hazards.items()}, self.churn_day[lo:hi],
                     self.mechanism[lo:hi])


def _world(n: int, days: int, p: LedgerlyParams, rng: np.random.Generator) -> World:
    grid = np.arange(days + ORACLE_DAYS)
    signup = rng.integers(0, days, size=n)
    engagement = rng.standard_normal(n)
    pro_at_signup = rng.random(n) < p.pro_at_signup
    upgrade = _onsets(rng, p.upgrade_per_day, signup, days + ORACLE_DAYS)
    pro_day = np.where(pro_at_signup, signup, upgrade)
    bank = rng.random(n) < p.bank_connected_share
    onsets = {
        "invoicing_decline": _onsets(rng, p.decline_onset_per_day, signup, days),
        "data_export": _onsets(rng, p.export_onset_per_day, signup, days),
        "bank_disconnect": _onsets(rng, p.disconnect_per_day, signup, days, bank),
    }
    signed_up = grid[None, :] >= signup[:, None]
    on_pro = (pro_day[:, None] >= 0) & (grid[None, :] >= pro_day[:, None])
    profile = (p.base_hazard * np.exp(p.engagement_hazard * engagement)[:, None]
               * np.where(on_pro, p.pro_hazard_ratio, 1.0))
    decline = _since(onsets["invoicing_decline"], grid) >= p.decline_delay_days
    export = _since(onsets["data_export"], grid) >= p.export_delay_days
    since_off = _since(onsets["bank_disconnect"], grid)
    hazards = {
        "profile_risk": np.where(signed_up, profile, 0.0),
        "no_signal": np.where(signed_up, p.no_signal_hazard, 0.0),
        "invoicing_decline": np.where(decline, p.decline_hazard, 0.0),
        "data_export": np.where(export, p.export_hazard, 0.0),
        "bank_disconnect": np.where((since_off >= 0) & (since_off < p.disconnect_days),
                                    p.disconnect_hazard, 0.0),
    }
    total = sum(hazards.values())[:, :days]
    churns = rng.random(total.shape) < -np.expm1(-total)
    churn_day = np.where(churns.any(axis=1), churns.argmax(axis=1), -1)
    shares = np.stack([h[np.arange(n), np.maximum(churn_day, 0)] for h in hazards.values()], 1)
    pick = (rng.random(n)[:, None] * shares.sum(1, keepdims=True)
            > np.cumsum(shares, axis=1)).sum(axis=1)
    mechanism = np.where(churn_day >= 0, np.minimum(pick, len(MECHANISMS) - 1), -1)
    return World(signup, engagement, np.where(pro_day < days, pro_day, -1), bank, onsets,
                 hazards, churn_day, mechanism)


def _event_rates(world: World, days: int, start: date, p: LedgerlyParams) -> np.ndarray:
    """(accounts, days, event types): expected events per day while the account is active."""
    grid = np.arange(days)
    n = world.signup.size
    end = np.where(world.churn_day >= 0, world.churn_day, days)
    active = (grid[None, :] >= world.signup[:, None]) & (grid[None, :] < end[:, None])
    level = np.exp(p.engagement_rate_sd * world.engagement)[:, None, None]
    rates = np.broadcast_to(np.array(p.rates), (n, days, len(EVENT_TYPES))) * level
    rates = rates * active[:, :, None]
    calendar = [start + timedelta(days=int(d)) for d in grid]
    december = np.array([c.month == 12 and c.day >= 18 for c in calendar])
    quarter_start = np.array([c.month in (1, 4, 7, 10) and c.day <= 10 for c in calendar])
    k = EVENT_TYPES.index
    rates[:, december, k("invoice_sent")] *= p.december_invoice_multiplier
    rates[:, december, k("invoice_created")] *= p.december_invoice_multiplier
    rates[:, quarter_start, k("report_exported")] *= p.quarter_start_export_multiplier
    declining = _since(world.onsets["invoicing_decline"], grid)
    fade = np.where(declining >= 0, np.maximum(
        p.decline_floor, 1 - (1 - p.decline_floor) * declining / (7 * p.decline_weeks)), 1.0)
    rates[:, :, k("invoice_sent")] *= fade
    rates[:, :, k("invoice_created")] *= fade
    exporting = _since(world.onsets["data_export"], grid) >= 0
    rates[:, :, k("report_exported")] *= np.where(exporting, p.export_rate_multiplier, 1.0)
    off = _since(world.onsets["bank_disconnect"], grid) >= 0
    rates[:, :, k("bank_sync")] *= world.bank[:, None] & ~off
    return rates


def _oracles(world: World, days: int, p: LedgerlyParams) -> tuple[np.ndarray, np.ndarray]:
    """p_churn_30d with foresight (the hazard realised over the 30 days from each day) and
    from what is known on the day (the states begun by then, no later onset)."""
    total = sum(world.hazards.values())
    cum = np.concatenate([np.zeros((total.shape[0], 1)), np.cumsum(total, axis=1)], axis=1)
    grid = np.arange(days)
    foresight = -np.expm1(-(cum[:, grid + ORACLE_DAYS] - cum[:, grid]))
    window = np.arange(ORACLE_DAYS)
    known = (world.hazards["profile_risk"] + world.hazards["no_signal"])
    base = np.stack([known[:, d:d + ORACLE_DAYS].sum(1) for d in grid], axis=1)

    def known_sum(onset: np.ndarray, first: int, last: int, value: float) -> np.ndarray:
        """Σ over the 30 days from each day of `value` where first <= day - onset < last,
        for onsets on or before the day."""
        s = grid[None, :, None] + window[None, None, :] - onset[:, None, None]
        hit = (s >= first) & (s < last) & (onset[:, None, None] >= 0) & (
            onset[:, None, None] <= grid[None, :, None])
        return value * hit.sum(axis=2)

    big = 10**6
    mech = (known_sum(world.onsets["invoicing_decline"], p.decline_delay_days, big,
                      p.decline_hazard)
            + known_sum(world.onsets["data_export"], p.export_delay_days, big, p.export_hazard)
            + known_sum(world.onsets["bank_disconnect"], 0, p.disconnect_days,
                        p.disconnect_hazard))
    return foresight, -np.expm1(-(base + mech))


def _instants(rng: np.random.Generator, start: date, day: np.ndarray) -> pl.Series:
    """A time on each grid day, 06:00-23:00 UTC."""
    seconds = day.astype(np.int64) * 86_400 + rng.integers(6 * 3600, 23 * 3600, day.size)
    origin = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    return (pl.Series(seconds * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
            + (origin - datetime(1970, 1, 1, tzinfo=UTC)))


def simulate_ledgerly(out_dir: Path, *, households: int, end_date: date, seed: int = 7,
                      params: LedgerlyParams = PARAMS, chunk: int = 2000) -> dict[str, int]:
    """Write Ledgerly's raw tables and ground truth to `out_dir`; returns rows per file."""
    p = params
    out_dir = Path(out_dir)
    (out_dir / "_truth").mkdir(parents=True, exist_ok=True)
    (out_dir / "activity_events").mkdir(exist_ok=True)
    days = p.history_days
    start = end_date - timedelta(days=days)
    rng = np.random.default_rng([seed, 2])
    ids = np.array([f"acc_{i:06d}" for i in range(households)])
    world = _world(households, days, p, rng)
    signup_at = _instants(rng, start, world.signup)
    churned = world.churn_day >= 0
    churn_at = _instants(rng, start, np.maximum(world.churn_day, world.signup))
    region = rng.choice(len(p.regions), size=households, p=p.region_shares)
    zones = {"NA": "America/Chicago", "EMEA": "Europe/Berlin", "APAC": "Asia/Singapore"}
    frame = pl.DataFrame({
        "household_id": ids, "created_at": signup_at,
        "region": np.array(p.regions)[region],
        "timezone": [zones[p.regions[r]] for r in region],
        "email": [f"owner{i}@example.com" for i in range(households)],
        "email_opt_out": rng.random(households) < p.opt_out_share,
    }).with_columns(  # on the signup day: a second after the signup at the earliest
        churned_at=pl.when(pl.Series(churned)).then(
            pl.max_horizontal(churn_at, pl.col("created_at") + timedelta(seconds=1))))
    rows = {"households": _write_table(frame, "households", out_dir)}

    pro_day = world.pro_day
    upgraded = (pro_day > world.signup) & (~churned | (pro_day < world.churn_day))
    on_pro_at_end = (pro_day >= 0) & (pro_day <= world.signup) | upgraded
    changes = [
        pl.DataFrame({"household_id": ids, "changed_at": signup_at,
                      "change_type": "new",
                      "to_plan": np.where(pro_day == world.signup, "Pro", "Starter"),
                      "mrr_after": np.where(pro_day == world.signup, p.pro_mrr, 0.0)}),
        pl.DataFrame({"household_id": ids[upgraded],
                      "changed_at": _instants(rng, start, pro_day[upgraded]),
                      "change_type": "upgrade", "from_plan": "Starter", "to_plan": "Pro",
                      "mrr_after": p.pro_mrr}),
        pl.DataFrame({"household_id": ids[churned],
                      "changed_at": frame.filter(pl.Series(churned))["churned_at"],
                      "change_type": "cancel",
                      "from_plan": np.where(on_pro_at_end[churned], "Pro", "Starter"),
                      "mrr_after": 0.0}),
    ]
    subs = pl.concat(changes, how="diagonal_relaxed").sort("household_id", "changed_at")
    subs = subs.with_columns(change_id=pl.format("sc_{}", pl.int_range(pl.len()) + 1))
    rows["subscription_changes"] = _write_table(subs, "subscription_changes", out_dir)

    events = 0
    for part, lo in enumerate(range(0, households, chunk)):
        hi = min(lo + chunk, households)
        counts = rng.poisson(_event_rates(world.rows(lo, hi), days, start, p))
        account, day, kind = np.nonzero(counts)
        repeat = counts[account, day, kind]
        account, day, kind = (np.repeat(a, repeat) for a in (account, day, kind))
        # events fall on days before the churn day; on the signup day, not before the signup
        ev = pl.DataFrame({"household_id": ids[lo + account],
                           "occurred_at": _instants(rng, start, day),
                           "event_type": np.array(EVENT_TYPES)[kind]}).with_columns(
            occurred_at=pl.max_horizontal("occurred_at", signup_at.gather(lo + account)),
        ).sort("household_id", "occurred_at")
        ev = ev.with_columns(
            event_id=pl.format("ev_{}_{}", pl.lit(part), pl.int_range(pl.len())),
            user_id=pl.format("u_{}", pl.col("household_id").str.slice(4)))
        events += _write_table(ev, "activity_events", out_dir / "activity_events",
                               name=f"part-{part:05d}")
    rows["activity_events"] = events

    foresight, known = _oracles(world, days, p)
    grid = np.arange(days)
    life_end = np.where(churned, world.churn_day, days - 1)
    live = (grid[None, :] >= world.signup[:, None]) & (grid[None, :] <= life_end[:, None])
    account, day = np.nonzero(live)
    total = sum(world.hazards.values())
    hazard_daily = pl.DataFrame({
        "household_id": ids[account], "day": day.astype(np.int64),
        "hazard": total[account, day], "p_churn_30d": foresight[account, day],
        "p_churn_30d_known": known[account, day],
    }).with_columns(day=pl.lit(start) + pl.duration(days=pl.col("day")))
    hazard_daily.write_parquet(out_dir / "_truth" / "hazard_daily.parquet")
    truth = pl.DataFrame({
        "household_id": ids,
        "churn_mechanism": np.array(MECHANISMS)[np.maximum(world.mechanism, 0)],
        "latent_engagement": world.engagement, "bank_connected": world.bank,
    }).with_columns(churn_mechanism=pl.when(pl.Series(churned)).then("churn_mechanism"),
                    churned_at=frame["churned_at"])
    truth.write_parquet(out_dir / "_truth" / "households.parquet")
    rows["_truth/hazard_daily"] = hazard_daily.height
    rows["_truth/households"] = truth.height
    (out_dir / "_manifest.json").write_text(json.dumps({
        "product": "ledgerly", "households": households, "end_date": end_date.isoformat(),
        "seed": seed, "params": asdict(p), "rows": rows}, indent=2, default=str))
    return rows


def _write_table(frame: pl.DataFrame, table: str, folder: Path, name: str | None = None) -> int:
    """The contract's columns in its order, missing ones null, as `<name or table>.parquet`."""
    columns = TABLES[table].columns
    out = frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                        for c, t in columns.items()])
    out.write_parquet(folder / f"{name or table}.parquet", statistics=False)
    return out.height

