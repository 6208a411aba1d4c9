"""The Dagster wiring: one folder per asset group, the daily workflow, shared wiring.

Two beta parameters are used on purpose: `backfill_policy` (a backfill of any range of days is
one run) and `allow_nonexistent_upstream_partitions` (an effect window reaching before the
first partition). Dagster warns at every use, in every process that loads the code; the
warnings are silenced here, for these two parameters only.
"""

import warnings

from dagster import BetaWarning

warnings.filterwarnings(
    "ignore", category=BetaWarning,
    message=r"Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)`")
