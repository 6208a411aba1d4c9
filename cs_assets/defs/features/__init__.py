"""Household features per as-of day."""

from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:data-platform"])
