"""Segments, journey stages, the CS team's lists, team assignments and the voice of the
customer."""

from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:customer-success"])
