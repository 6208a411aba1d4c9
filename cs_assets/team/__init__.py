"""The CS team and advocacy: CSM assignments (`team.assignments`), the referral program with its
rewards ledger and leaderboard (`team.referrals`), review requests and rewards
(`team.reviews`). Pure polars, no Dagster; assets wrap these.

Settings come from `cs_assets/config/team.yaml`: the roster (ids and display names, no
emails), capacities, reward amounts, tiers and windows, with the spec's values as defaults so
`TeamConfig()` and the shipped file agree. A bad value is an error at load time naming its key
path, as for the scorecard. The referral-code secret is not configuration: it comes from the
environment, never from the repository.
"""

from __future__ import annotations

from pydantic import Field

from cs_assets.settings import ConfigError
from cs_assets.team.assignments import (
    ASSIGNMENT_COLUMNS,
    AssignmentConfig,
    TeamMember,
    assign_csms,
)
from cs_assets.team.referrals import (
    CODE_COLUMNS,
    CONVERSION_COLUMNS,
    INVALID_CODE_COLUMNS,
    LEADERBOARD_COLUMNS,
    LEDGER_COLUMNS,
    LeaderboardConfig,
    RewardConfig,
    Tier,
    issue_referral_codes,
    leaderboard,
    referral_conversions,
    rewards_ledger,
)
from cs_assets.team.reviews import (
    CANDIDATE_COLUMNS,
    REVIEW_REWARD_COLUMNS,
    ReviewRequestConfig,
    review_request_candidates,
    review_rewards,
)
from cs_assets.validated_config import ConfigFile, StrictModel


class TeamConfigError(ConfigError):
    """The team config is missing, unreadable or invalid; the message names the key path."""


class TeamConfig(StrictModel):
    assignments: AssignmentConfig = Field(default_factory=AssignmentConfig)
    rewards: RewardConfig = RewardConfig()
    leaderboard: LeaderboardConfig = LeaderboardConfig()
    review_requests: ReviewRequestConfig = ReviewRequestConfig()


TEAM_CONFIG = ConfigFile(TeamConfig, "team.yaml", "CS_TEAM", TeamConfigError, "team config")
parse_team_config = TEAM_CONFIG.parse
load_team_config = TEAM_CONFIG.load
DEFAULT_TEAM_PATH = TEAM_CONFIG.default_path


__all__ = [
    "ASSIGNMENT_COLUMNS",
    "CANDIDATE_COLUMNS",
    "CODE_COLUMNS",
    "CONVERSION_COLUMNS",
    "DEFAULT_TEAM_PATH",
    "INVALID_CODE_COLUMNS",
    "LEADERBOARD_COLUMNS",
    "LEDGER_COLUMNS",
    "REVIEW_REWARD_COLUMNS",
    "TEAM_CONFIG",
    "AssignmentConfig",
    "LeaderboardConfig",
    "ReviewRequestConfig",
    "RewardConfig",
    "TeamConfig",
    "TeamConfigError",
    "TeamMember",
    "Tier",
    "assign_csms",
    "issue_referral_codes",
    "leaderboard",
    "load_team_config",
    "parse_team_config",
    "referral_conversions",
    "review_request_candidates",
    "review_rewards",
    "rewards_ledger",
]
