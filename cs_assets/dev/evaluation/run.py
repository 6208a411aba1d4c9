"""Early-warning evaluation of a raw folder from the command line.

    python -m cs_assets.dev.evaluation.run --raw-dir DIR [--days 180 --step 1 --budget 0.10]

Scores every active household on the as-of days of the last `--days` days of the data (every
`--step`-th day, the last one being the day before the data's end or `--end-date`), flags the
lowest-scoring `--budget` share each day under the new and the old health score, and prints
the rates, the rates per churn mechanism and, last, one JSON line with both scores' rates and
the new score's gain in percentage points. Rates and which churners count: see
`cs_assets.dev.evaluation.early_warning`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from cs_assets.churn.early_warning import (
    LEAD_DAYS,
    SCORE_COLS,
    early_warning_by_mechanism,
    early_warning_rates,
)
from cs_assets.dev.evaluation.raw_folder import (
    churn_frame,
    load_feature_inputs,
    reference_time,
    score_days,
)


def as_of_days(end: date, days: int, step: int = 1) -> list[date]:
    """Every `step`-th day of the `days` days before `end` (exclusive), ending at `end - 1`."""
    if days < 1 or step < 1:
        raise ValueError("days and step must be positive")
    return sorted(end - timedelta(days=1 + k) for k in range(0, days, step))


def _data_end(raw_dir: Path, inputs) -> date:
    if (raw_dir / "_manifest.json").is_file():
        return reference_time(raw_dir).date()
    return inputs.household_days["day"].max() + timedelta(days=1)


def summary(rates: pl.DataFrame) -> dict:
    """The JSON line: both scores' rates and the new score's gain over the old one."""
    by_score = {row.pop("score"): row for row in rates.to_dicts()}
    out: dict = {"early_warning": by_score}
    new, old = by_score.get(SCORE_COLS[0]), by_score.get(SCORE_COLS[1])
    if new and old:
        for key in ("churner_rate", "silent_rate"):
            if new[key] is not None and old[key] is not None:
                out[f"{key}_gain_points"] = round(100 * (new[key] - old[key]), 2)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cs_assets.dev.evaluation.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--raw-dir",
        type=Path,
        required=True,
        help="folder of raw tables (e.g. the simulator's output)",
    )
    parser.add_argument("--days", type=int, default=180, help="last N days to score")
    parser.add_argument("--step", type=int, default=1, help="score every D-th day")
    parser.add_argument(
        "--budget", type=float, default=0.10, help="share of active households flagged each day"
    )
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="as-of days end the day before this date (default: the end of "
        "the data, from the simulator manifest)",
    )
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="read the raw tables without the contract validation",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    inputs = load_feature_inputs(args.raw_dir, validate=not args.no_validate)
    end = args.end_date or _data_end(args.raw_dir, inputs)
    days = as_of_days(end, args.days, args.step)
    scores = score_days(inputs, days)
    churn = churn_frame(args.raw_dir, inputs.households)
    rates = early_warning_rates(scores, churn, SCORE_COLS, args.budget, LEAD_DAYS)
    mechanisms = early_warning_by_mechanism(scores, churn, SCORE_COLS, args.budget, LEAD_DAYS)
    seconds = time.perf_counter() - started

    print(
        f"Early warning at a {args.budget:.0%} daily alert budget, lead window "
        f"{LEAD_DAYS[0]}-{LEAD_DAYS[1]} days, {len(days)} as-of days {days[0]}..{days[-1]}"
    )
    with pl.Config(
        tbl_cols=-1,
        tbl_rows=-1,
        tbl_width_chars=200,
        tbl_hide_dataframe_shape=True,
        float_precision=3,
    ):
        print(
            rates.select(
                "score",
                "churners_evaluated",
                "churner_rate",
                "silent_evaluated",
                "silent_rate",
                "non_churners",
                "false_alarm_rate",
                "non_churner_day_share",
                "flagged_per_day",
            )
        )
        print(mechanisms)
    line = {
        "raw_dir": str(args.raw_dir),
        "as_of_first": days[0].isoformat(),
        "as_of_last": days[-1].isoformat(),
        "step_days": args.step,
        "seconds": round(seconds, 1),
        **summary(rates),
    }
    print(json.dumps(line, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
