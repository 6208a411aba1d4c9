"""The promotion gate: a challenger replaces the champion only by a clear margin."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None  # None: there is no champion (or it could not be scored)


def decide(
    metric: str, challenger: float, champion: float | None, margin: float
) -> PromotionDecision:
    """Promote when there is no champion, or the challenger's holdout `metric` (higher is better)
    beats the champion's on the same holdout by at least `margin`."""
    if margin < 0:
        raise ValueError(f"promotion margin must be >= 0, got {margin}")
    if champion is None:
        return PromotionDecision(True, "no champion to beat", metric, challenger, None)
    if challenger >= champion + margin:
        reason = f"{metric} {challenger:.4f} beats champion {champion:.4f} by >= {margin}"
        return PromotionDecision(True, reason, metric, challenger, champion)
    reason = f"{metric} {challenger:.4f} does not beat champion {champion:.4f} by {margin}"
    return PromotionDecision(False, reason, metric, challenger, champion)
