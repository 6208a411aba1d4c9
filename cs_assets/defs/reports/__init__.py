"""The weekly CS report, the quarterly EBR decks and the war-story analyses."""

from cs_assets.defs.reports.assets import report_jobs, report_schedules
from cs_assets.defs.reports.war_stories import war_stories_job, war_stories_schedule
from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:customer-success"],
                         jobs=[*report_jobs, war_stories_job],
                         schedules=[*report_schedules, war_stories_schedule])
