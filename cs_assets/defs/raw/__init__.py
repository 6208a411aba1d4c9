"""Raw tables of the data contract, validated, with their quarantines."""

from cs_assets.defs.shared.group import group_definitions

defs = group_definitions(__name__, owners=["team:data-platform"])
