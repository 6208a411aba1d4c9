"""Invoices of paid spells and the plan history (subscription_changes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cs_assets.dev.simulator.lifecycle import Lifecycle
from cs_assets.dev.simulator.params import PLAN_PRICES, PLANS, SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import DAY_US, HOUR_US, NEVER, Calendar, to_datetime

PAID, FAILED, REFUNDED = 0, 1, 2


@dataclass(frozen=True)
class Invoices:
    """One row per monthly invoice of a paid spell, drawn up to the end of the grid."""

    h: np.ndarray  # chunk-local household index
    due_us: np.ndarray
    paid_us: np.ndarray  # NEVER when the invoice stays failed
    amount: np.ndarray
    status: np.ndarray  # PAID / FAILED / REFUNDED

    @property
    def unrecovered(self) -> np.ndarray:
        return self.status == FAILED


def draw_invoices(
    pop: Population, life: Lifecycle, cal: Calendar, p: SimulationParams, rng: np.random.Generator
) -> Invoices:
    """Due on each monthly anniversary of becoming paid while the spell lasts."""
    grid_end = cal.day_us(cal.n_days)
    h = np.flatnonzero(life.paid_start_us < grid_end)
    start = life.paid_start_us[h]
    end = np.minimum(life.downgrade_us[h], grid_end)
    months = (end - start) // (28 * DAY_US) + 1
    df = (
        pl.DataFrame({"h": h, "start": start, "end": end, "k": months})
        .with_columns(pl.int_ranges(0, pl.col("k")).alias("k"))
        .explode("k")
        .with_columns(
            pl.col("start")
            .cast(pl.Datetime("us"))
            .dt.offset_by(pl.format("{}mo", pl.col("k")))
            .cast(pl.Int64)
            .alias("due")
        )
        .filter(pl.col("due") < pl.col("end"))
    )
    rows = df["h"].to_numpy()
    due = df["due"].to_numpy()
    m = rows.shape[0]
    failed = rng.random(m) < p.payment_failure_share
    recovered = failed & (rng.random(m) < p.payment_recovery_share)
    refunded = ~failed & (rng.random(m) < p.payment_refund_share)
    prompt = rng.random(m) < 0.85
    delay = np.where(
        recovered,
        rng.uniform(1, p.payment_retry_days, m) * DAY_US,
        np.where(prompt, rng.uniform(0, 6, m) * HOUR_US, rng.uniform(1, 3, m) * DAY_US),
    ).astype(np.int64)
    lost = failed & ~recovered
    return Invoices(
        h=rows,
        due_us=due,
        paid_us=np.where(lost, NEVER, due + delay),
        amount=np.asarray(PLAN_PRICES)[np.maximum(pop.plan[rows], 1)],
        status=np.where(lost, FAILED, np.where(refunded, REFUNDED, PAID)).astype(np.int8),
    )


def payments_frame(inv: Invoices, stop_us: np.ndarray, offset: int) -> pl.DataFrame:
    """Invoices due before churn / the reference time; unpaid-by-then ones are pending."""
    keep = inv.due_us < stop_us[inv.h]
    h, due, paid, status = inv.h[keep], inv.due_us[keep], inv.paid_us[keep], inv.status[keep]
    settled = paid < stop_us[h]
    names = np.array(["paid", "failed", "refunded", "pending"])
    code = np.where((status != FAILED) & ~settled, 3, status)
    return pl.DataFrame(
        {
            "h": h + offset,
            "due_at": to_datetime("due_at", due),
            "paid_at": to_datetime("paid_at", paid, settled),
            "amount": inv.amount[keep].astype(np.float64),
            "status": names[code],
        }
    )


def subscription_frame(
    pop: Population, life: Lifecycle, churn_us: np.ndarray, stop_us: np.ndarray, offset: int
) -> pl.DataFrame:
    """`new` at signup, upgrade, downgrade and the cancellation at exactly churned_at."""
    n = len(pop)
    upgraded = life.upgrade_us < stop_us
    downgraded = life.downgrade_us < stop_us
    churned = churn_us < NEVER
    plan_at_churn = np.where(
        pop.plan == 2, 2, np.where(downgraded, 0, np.where(upgraded, 1, pop.plan))
    )
    price = np.asarray(PLAN_PRICES)
    none = -1  # no plan: before `new`, after `cancel`
    parts = (
        (np.ones(n, bool), pop.signup_us, "new", none, pop.plan, price[pop.plan]),
        (upgraded, life.upgrade_us, "upgrade", 0, 1, price[1]),
        (downgraded, life.downgrade_us, "downgrade", 1, 0, price[0]),
        (churned, churn_us, "cancel", plan_at_churn, none, 0.0),
    )

    def column(value, idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(value), (n,))[idx]

    frames = []
    for mask, at, kind, src, dst, mrr in parts:  # four change types
        idx = np.flatnonzero(mask)
        frames.append(
            pl.DataFrame(
                {
                    "h": idx + offset,
                    "changed_at": to_datetime("changed_at", at[idx]),
                    "change_type": np.full(idx.size, kind),
                    "from_plan": _plan_names(column(src, idx)),
                    "to_plan": _plan_names(column(dst, idx)),
                    "mrr_after": column(mrr, idx).astype(np.float64),
                }
            )
        )
    return pl.concat(frames)


def _plan_names(idx: np.ndarray) -> pl.Series:
    """Plan names for plan indices; -1 is null."""
    return pl.Series(PLANS).gather(pl.Series(idx.astype(np.int64)).replace(-1, None))
