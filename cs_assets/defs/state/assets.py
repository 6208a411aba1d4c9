"""The state tables as graph nodes (see `defs/shared/state_keys.py`): what writes each table,
and an observation of each table the assets read (its row count, as the data version)."""

import sqlalchemy as sa
from dagster import AssetSpec, DataVersion, observable_source_asset

from cs_assets.defs.shared.state_keys import written
from cs_assets.state import schema

# table -> the assets that write it (the dispatcher writes what a step sends).
WRITERS = {
    "enrolments": ["playbook_enrolments"],
    "step_executions": ["playbook_enrolments", "playbook_deliveries"],
    "opt_outs": ["playbook_enrolments"],
    "checkins": ["playbook_deliveries"],
    "survey_sends": ["playbook_deliveries"],
    "review_requests": ["playbook_deliveries"],
    "outbox": ["playbook_deliveries"],
    "csm_tasks": ["playbook_deliveries"],
    "csm_task_steps": ["playbook_deliveries"],
    "in_app_notifications": ["playbook_deliveries"],
    "referral_codes_issued": ["issued_referral_codes"],
    "journey_transitions": ["journey_transitions"],
    "csm_assignments": ["csm_assignments"],
}
# Tables an asset reads; message_events is written by the mail provider's webhooks.
READ = ["enrolments", "step_executions", "opt_outs", "message_events", "checkins",
        "survey_sends", "review_requests", "referral_codes_issued", "journey_transitions",
        "csm_assignments", "csm_tasks"]

written_tables = [
    AssetSpec(written(table), deps=writers, kinds={"sql"},
              description=f"The state database's `{table}` table as {', '.join(writers)} "
              f"write it (read back through `state/{table}`).")
    for table, writers in WRITERS.items()
]


def _observed(table: str):
    @observable_source_asset(
        key=["state", table], required_resource_keys={"state"},
        description=f"The state database's `{table}` table as the assets read it (a daily "
        "asset: rows dated before its as-of day). Observing it records its row count.",
    )
    def observe(context) -> DataVersion:
        with context.resources.state.engine().connect() as conn:
            rows = conn.scalar(sa.select(sa.func.count()).select_from(getattr(schema, table)))
        return DataVersion(str(rows))

    return observe


read_tables = [_observed(table) for table in READ]
