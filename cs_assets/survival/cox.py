"""`fit_cox`: lifelines' Cox proportional-hazards model that explains itself instead of crashing.

lifelines stops with "delta contains nan" on a constant covariate and with a singular
Hessian on collinear ones, and on complete separation it "converges" to an infinite ratio
with only a warning. So before fitting, constant design columns are dropped and columns that
are exact linear combinations of earlier ones are dropped (each with a message naming
it); a fit that still raises, warns about convergence or yields non-finite estimates is
refitted with a ridge penalizer from PENALIZERS, and the message says which was used.
A penalized fit shrinks the log hazard ratios toward 0 and its intervals are the penalized
model's, so they are no longer plain 95 % confidence intervals: the result says so.

Categorical covariates (strings) are dummy-coded against their first level in sort order
(`plan_type` gives `plan_type[Premium]` against Free, as in the spec); booleans count 0/1.
Rows with a null covariate are dropped (complete cases) and counted: a household without an
early health score was never scored in its first 90 days (it signed up before the scored
range or churned within days), and a median stand-in would pile those on one value and blur
the health ratio.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

PENALIZERS = (0.0, 0.01, 0.1, 1.0)  # ridge strengths tried in turn (lifelines' scale)
PH_ALPHA = 0.05  # a Schoenfeld-residual test below this flags a non-proportional covariate
RANK_TOL = 1e-8  # relative singular-value tolerance of the collinearity check
NEWTON_FAILURES = re.compile("Newton-Raphson|log-likelihood is getting suspiciously")


@dataclass(frozen=True)
class Design:
    """How covariates become numeric design columns; reused to encode households to predict."""

    covariates: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]  # categorical covariate -> levels (first = reference)

    def encode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Design columns as Float64; a null or unseen level gives nulls in its dummies."""
        exprs: list[pl.Expr] = []
        for c in self.covariates:
            if c not in self.levels:
                exprs.append(pl.col(c).cast(pl.Float64).alias(c))
                continue
            known = pl.col(c).is_in(self.levels[c])
            exprs += [
                pl.when(known).then((pl.col(c) == lv).cast(pl.Float64)).alias(f"{c}[{lv}]")
                for lv in self.levels[c][1:]
            ]
        return frame.select(exprs)


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model and what it says.

    summary: covariate, coef (log HR), se, hazard_ratio, ci_low, ci_high (95 %), p_value.
    ph_test: covariate, test_statistic, p_value, violated (p < PH_ALPHA): the Schoenfeld test
    against rank-transformed time. dropped: covariate, reason. medians: the fitting rows'
    median of each kept design column (a stand-in when predicting for incomplete rows).
    """

    summary: pl.DataFrame
    concordance: float
    ph_test: pl.DataFrame
    penalizer: float
    dropped: pl.DataFrame
    messages: tuple[str, ...]
    rows_used: int
    rows_dropped: int  # null covariates (rows ended before the landmark are not counted)
    landmark_days: int
    design: Design
    kept: tuple[str, ...]
    medians: dict[str, float]
    model: CoxPHFitter


def design_for(frame: pl.DataFrame, covariates: list[str]) -> Design:
    """Categorical levels (sorted) of the string covariates of `frame`."""
    levels = {
        c: tuple(sorted(frame.get_column(c).drop_nulls().unique().to_list()))
        for c in covariates
        if frame.schema[c] in (pl.String, pl.Categorical) or isinstance(frame.schema[c], pl.Enum)
    }
    return Design(tuple(covariates), levels)


def _constant(x: pl.DataFrame) -> list[tuple[str, str]]:
    return [
        (c, f"{c} is constant ({x[c][0]}) in the fitting rows: dropped")
        for c in x.columns
        if x[c].n_unique() <= 1
    ]


def _collinear(x: pl.DataFrame) -> list[tuple[str, str]]:
    """Columns that are linear combinations of the columns before them (and the intercept)."""
    kept: list[str] = []
    out: list[tuple[str, str]] = []
    for c in x.columns:
        m = x.select([*kept, c]).to_numpy()
        m = (m - m.mean(axis=0)) / m.std(axis=0)
        s = np.linalg.svd(m, compute_uv=False)
        if s[-1] > RANK_TOL * s[0]:
            kept.append(c)
            continue
        coef, *_ = np.linalg.lstsq(m[:, :-1], m[:, -1], rcond=None)
        parts = [k for k, b in zip(kept, coef, strict=True) if abs(b) > 1e-6]
        out.append((c, f"{c} is a linear combination of {', '.join(parts)}: dropped"))
    return out


def _first_sentence(text: str) -> str:
    return " ".join(text.split()).split(". ")[0]


def _try_fit(data: pd.DataFrame, duration: str, event: str, penalizer: float):
    """(model, None, notes) on a clean fit; (None, reason, notes) when lifelines fails.

    Newton-Raphson warnings (no convergence, a step still large: separation) are failures;
    lifelines' other convergence warnings are checks of the data, passed on as notes.
    """
    model = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            model.fit(data, duration_col=duration, event_col=event)
        except ConvergenceError as exc:
            return None, _first_sentence(str(exc)), []
    texts = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    failed = [t for t in texts if NEWTON_FAILURES.search(t)]
    notes = [_first_sentence(t) for t in texts if not NEWTON_FAILURES.search(t)]
    if failed:
        return None, _first_sentence(failed[0]), notes
    if not np.isfinite(model.summary[["coef", "se(coef)"]].to_numpy()).all():
        return None, "non-finite coefficients or standard errors", notes
    return model, None, notes


def _fit_with_fallback(data: pd.DataFrame, duration: str, event: str):
    """The first clean fit along PENALIZERS, with a message for each failure."""
    messages: list[str] = []
    for penalizer in PENALIZERS:
        model, reason, notes = _try_fit(data, duration, event, penalizer)
        messages += [n for n in notes if n not in messages]
        if model is not None:
            if penalizer > 0:
                messages.append(
                    f"refitted with penalizer {penalizer}: hazard ratios are shrunk toward 1 "
                    "and their intervals are the penalized model's"
                )
            return model, penalizer, messages
        messages.append(f"fit with penalizer {penalizer} failed: {reason}")
    raise RuntimeError("Cox fit failed at every penalizer: " + "; ".join(messages))


def _summary(model: CoxPHFitter) -> pl.DataFrame:
    s = model.summary
    return pl.DataFrame(
        {
            "covariate": [str(c) for c in s.index],
            "coef": s["coef"].to_numpy(),
            "se": s["se(coef)"].to_numpy(),
            "hazard_ratio": s["exp(coef)"].to_numpy(),
            "ci_low": s["exp(coef) lower 95%"].to_numpy(),
            "ci_high": s["exp(coef) upper 95%"].to_numpy(),
            "p_value": s["p"].to_numpy(),
        }
    )


def _ph_test(model: CoxPHFitter, data: pd.DataFrame) -> pl.DataFrame:
    s = proportional_hazard_test(model, data, time_transform="rank").summary
    p = s["p"].to_numpy()
    return pl.DataFrame(
        {
            "covariate": [str(c) for c in s.index],
            "test_statistic": s["test_statistic"].to_numpy(),
            "p_value": p,
            "violated": p < PH_ALPHA,
        }
    )


def fit_cox(
    frame: pl.DataFrame,
    covariates: list[str],
    duration_col: str = "tenure_days",
    event_col: str = "churned",
    *,
    landmark_days: int = 0,
) -> CoxResult:
    """Fit a Cox model of `event_col` over `duration_col` on `covariates` of `frame`.

    With `landmark_days`, only rows lasting at least that many days are fitted (a landmark
    analysis): covariates measured over a household's first days (health in the first 90)
    are complete only for households that lived through them, and fitting the others lets
    the churn itself shorten and lower their measurement, which exaggerates the ratio. The
    baseline hazard then starts at the landmark: predictions assume it is reached.

    Never crashes on constant / collinear covariates or non-convergence (see the module
    docstring); raises ValueError only when no usable row or covariate is left.
    """
    messages: list[str] = []
    rows = frame.filter(pl.col(duration_col) >= landmark_days)
    if rows.height < frame.height:
        messages.append(
            f"{frame.height - rows.height} of {frame.height} rows ended before the "
            f"{landmark_days}-day landmark: not fitted"
        )
    complete = rows.select(*covariates, duration_col, event_col).drop_nulls()
    rows_dropped = rows.height - complete.height
    if rows_dropped:
        messages.append(f"{rows_dropped} of {rows.height} rows have a null covariate: dropped")
    rows = complete
    if rows.is_empty() or rows[event_col].sum() == 0:
        raise ValueError("no rows with every covariate and at least one event to fit")
    design = design_for(rows, covariates)
    x = design.encode(rows)
    dropped = _constant(x)
    x = x.drop([c for c, _ in dropped])
    dropped += _collinear(x)
    x = x.drop([c for c, _ in dropped if c in x.columns])
    messages += [reason for _, reason in dropped]
    if not x.columns:
        raise ValueError("no covariate varies in the fitting rows: " + "; ".join(messages))
    data = x.with_columns(
        rows[duration_col].cast(pl.Float64).alias(duration_col),
        rows[event_col].cast(pl.Int64).alias(event_col),
    ).to_pandas()
    model, penalizer, fit_messages = _fit_with_fallback(data, duration_col, event_col)
    return CoxResult(
        summary=_summary(model),
        concordance=float(model.concordance_index_),
        ph_test=_ph_test(model, data),
        penalizer=penalizer,
        dropped=pl.DataFrame(
            {"covariate": [c for c, _ in dropped], "reason": [r for _, r in dropped]},
            schema={"covariate": pl.String, "reason": pl.String},
        ),
        messages=tuple(messages + fit_messages),
        rows_used=rows.height,
        rows_dropped=rows_dropped,
        landmark_days=landmark_days,
        design=design,
        kept=tuple(x.columns),
        medians={c: float(x[c].median()) for c in x.columns},
        model=model,
    )
