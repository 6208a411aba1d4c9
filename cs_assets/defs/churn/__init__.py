"""Churn: training snapshots, the model in MLflow, daily predictions and the survival model."""

from cs_assets.defs.churn.jobs import churn_training_job, churn_training_schedule
from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:data-science"], jobs=[churn_training_job],
                         schedules=[churn_training_schedule])
