"""The Dagster wiring: one folder per asset group, the daily workflow, shared wiring.

Three beta features are used on purpose: `backfill_policy` (a backfill of any range of days is
one run), `allow_nonexistent_upstream_partitions` (an effect window reaching before the first
partition) and `observable_source_asset` (the state tables the assets read). Dagster warns at
every use, in every process that loads the code; the warnings are silenced here, for these
only.
"""

import warnings

from dagster import BetaWarning

warnings.filterwarnings(
    "ignore", category=BetaWarning,
    message=r"(Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)`"
    r"|Function `observable_source_asset`)")
