"""The platform's own state tables in the asset graph: written by some assets, read by others."""

from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:data-platform"])
