"""Canonical event kinds and the mapping from a product's own event names onto them.

Products name their events differently; everything downstream speaks only the
canonical kinds below, so a new product needs a mapping file, not new code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from cs_assets.validated_config import TextKeyLoader, read_yaml

DEFAULT_MAPPING_PATH = Path(__file__).resolve().parent.parent / "config" / "event_mapping.yaml"


class EventKind(StrEnum):
    """What an activity event means to customer success, independent of product naming."""

    TASK_COMPLETED = "task_completed"  # value delivered (War story 1)
    LOGIN = "login"
    SESSION = "session"  # carries session_minutes
    FEATURE_USED = "feature_used"  # carries feature_name
    RECURRING_TASK_CREATED = "recurring_task_created"
    PHOTO_UPLOADED = "photo_uploaded"
    CALENDAR_SYNC_SETUP = "calendar_sync_setup"
    ANALYTICS_VIEWED = "analytics_viewed"
    TEMPLATE_CREATED = "template_created"
    PRIORITY_SUPPORT_USED = "priority_support_used"
    PREMIUM_ONBOARDING_COMPLETED = "premium_onboarding_completed"
    PREMIUM_PAGE_VIEWED = "premium_page_viewed"
    PREMIUM_FEATURE_CLICKED = "premium_feature_clicked"  # carries feature_name
    TRIAL_STARTED = "trial_started"
    DOWNGRADE_CLICKED = "downgrade_clicked"
    MEMBER_INVITED = "member_invited"
    MESSAGE_REPLIED = "message_replied"  # a reply to a message the platform sent
    MESSAGE_CLICKED = "message_clicked"  # a click on a link in a message the platform sent
    NOTIFICATION_OPENED = "notification_opened"  # an in-app notification opened


# Kinds that need an extra column to mean anything.
KINDS_REQUIRING_MINUTES = frozenset({EventKind.SESSION})
KINDS_REQUIRING_FEATURE = frozenset({EventKind.FEATURE_USED, EventKind.PREMIUM_FEATURE_CLICKED})


class EventMappingError(ValueError):
    """The event mapping file is malformed; the message names the offending key."""


def load_event_mapping(path: Path | str | None = None) -> dict[str, EventKind]:
    """Read `product event name -> canonical kind` from YAML and validate every entry.

    The file has one key, `event_types`, mapping each product event name (as written, so
    `on` stays the text "on") to a canonical kind. A repeated name, a value that is not a
    kind's name, or a mapping of nothing fails here, at load, naming the entry.
    """
    path = Path(path) if path else DEFAULT_MAPPING_PATH
    raw = read_yaml(path, EventMappingError, "event mapping", loader=TextKeyLoader)
    if not isinstance(raw, dict) or not isinstance(raw.get("event_types"), dict):
        raise EventMappingError(f"{path}: expected a mapping under key 'event_types'")
    if unknown := sorted(set(raw) - {"event_types"}):
        raise EventMappingError(f"{path}: unknown key(s) {unknown}; the file has only "
                                "'event_types'")
    if not raw["event_types"]:
        raise EventMappingError(f"{path}: event_types: maps no event type to a canonical kind")
    valid = sorted(k.value for k in EventKind)
    mapping: dict[str, EventKind] = {}
    for name, kind in raw["event_types"].items():
        if not isinstance(kind, str):
            raise EventMappingError(
                f"{path}: event_types.{name}: expected the name of a canonical kind, got "
                f"{type(kind).__name__} {kind!r}"
            )
        if kind not in valid:
            raise EventMappingError(
                f"{path}: event_types.{name}: unknown canonical kind {kind!r}; "
                f"expected one of {valid}"
            )
        mapping[name] = EventKind(kind)
    return mapping
