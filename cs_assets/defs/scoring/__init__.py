"""Health scores with reasons, trend alerts and tiers."""

from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:customer-success"])
