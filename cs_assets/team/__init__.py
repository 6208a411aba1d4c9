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

from pathlib import Path

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
from cs_assets.validated_config import StrictModel, load_model, parse_model

DEFAULT_TEAM_PATH = Path(__file__).resolve().parent.parent / "config" / "team.yaml"


class TeamConfigError(ValueError):
    """The team config is missing, unreadable or invalid; the message names the key path."""


class TeamConfig(StrictModel):
    assignments: AssignmentConfig = AssignmentConfig()
    rewards: RewardConfig = RewardConfig()
    leaderboard: LeaderboardConfig = LeaderboardConfig()
    review_requests: ReviewRequestConfig = ReviewRequestConfig()


def parse_team_config(data: object) -> TeamConfig:
    """Validate a mapping (as read from YAML); raise TeamConfigError naming the keys."""
    return parse_model(TeamConfig, data, TeamConfigError, "team config")


def load_team_config(path: str | Path | None = None) -> TeamConfig:
    """Load and validate the YAML file (the shipped one by default)."""
    return load_model(TeamConfig, path, DEFAULT_TEAM_PATH, TeamConfigError, "team config")


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
