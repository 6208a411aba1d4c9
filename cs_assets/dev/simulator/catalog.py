"""Fixed vocabularies of the simulated PetForce product: names the tables draw from."""

from __future__ import annotations

# Time zones by region (index-aligned with params.region_shares) and their weights.
REGION_ZONES: tuple[tuple[tuple[str, float], ...], ...] = (
    (
        ("America/New_York", 0.45),
        ("America/Chicago", 0.25),
        ("America/Denver", 0.08),
        ("America/Los_Angeles", 0.22),
    ),
    (
        ("Europe/London", 0.30),
        ("Europe/Berlin", 0.25),
        ("Europe/Paris", 0.20),
        ("Europe/Madrid", 0.15),
        ("Europe/Amsterdam", 0.10),
    ),
    (
        ("Australia/Sydney", 0.35),
        ("Asia/Singapore", 0.25),
        ("Asia/Tokyo", 0.25),
        ("Asia/Kolkata", 0.15),
    ),
)
ZONES: tuple[str, ...] = tuple(z for region in REGION_ZONES for z, _ in region)

# Product event names: the left-hand side of config/event_mapping.yaml.
EVENT_TYPES = (
    "app_login",
    "app_session",
    "task_completion",
    "feature_use",
    "recurring_task_create",
    "photo_upload",
    "member_invite",
    "calendar_sync_connect",
    "advanced_analytics_view",
    "custom_template_create",
    "priority_support_request",
    "premium_onboarding_complete",
    "premium_page_view",
    "premium_feature_click",
    "premium_trial_start",
    "downgrade_click",
)
EV = {name: code for code, name in enumerate(EVENT_TYPES)}

# Core features, most popular first, with relative adoption weights.
CORE_FEATURES: tuple[tuple[str, float], ...] = (
    ("pet_profiles", 1.0),
    ("reminders", 0.9),
    ("feeding_schedule", 0.85),
    ("medication_reminders", 0.6),
    ("vet_records", 0.55),
    ("walk_tracker", 0.5),
    ("photo_journal", 0.45),
    ("shared_calendar", 0.35),
    ("task_assignment", 0.3),
    ("expense_tracker", 0.2),
)
# The four Premium features of War story 3, in the order of their adoption events:
# calendar_sync_connect, advanced_analytics_view, custom_template_create,
# priority_support_request.
PREMIUM_FEATURE_EVENTS = (
    "calendar_sync_connect",
    "advanced_analytics_view",
    "custom_template_create",
    "priority_support_request",
)
# feature_name of premium_feature_click: what a Free household tried to use.
PREMIUM_CLICK_FEATURES = (
    "calendar_sync",
    "advanced_analytics",
    "custom_templates",
    "priority_support",
    "unlimited_photos",
    "unlimited_recurring_tasks",
)
FEATURE_NAMES = tuple(f for f, _ in CORE_FEATURES) + PREMIUM_CLICK_FEATURES

SPECIES: tuple[tuple[str, float], ...] = (
    ("dog", 0.48),
    ("cat", 0.35),
    ("bird", 0.04),
    ("fish", 0.04),
    ("reptile", 0.03),
    ("small_mammal", 0.04),
    ("other", 0.02),
)

TICKET_CATEGORIES: tuple[tuple[str, float], ...] = (
    ("how_to", 0.30),
    ("bug", 0.22),
    ("billing", 0.15),
    ("account", 0.13),
    ("data_sync", 0.10),
    ("feature_request", 0.10),
)

FIRST_NAMES = (
    "Sarah",
    "James",
    "Maria",
    "David",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sophie",
    "Lucas",
    "Mia",
    "Ethan",
    "Chloe",
    "Mateo",
    "Hannah",
    "Leon",
    "Aiko",
    "Kenji",
    "Priya",
    "Arjun",
    "Chen",
    "Mei",
    "Isabel",
    "Pablo",
    "Fatima",
    "Omar",
    "Grace",
    "Henry",
    "Zoe",
    "Felix",
    "Nora",
    "Elias",
    "Amara",
    "Tom",
    "Lena",
    "Marco",
    "Ines",
    "Raj",
    "Yuki",
    "Ava",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Brown",
    "Davis",
    "Martinez",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Muller",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Silva",
    "Jansen",
    "Novak",
    "Tanaka",
    "Sato",
    "Kim",
    "Nguyen",
    "Patel",
    "Sharma",
    "Wong",
    "Chen",
    "Lopez",
    "Clark",
    "Lewis",
    "Evans",
    "Murphy",
    "Kelly",
    "Fischer",
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")

# NPS comment templates per theme (the spec's VoC themes and their keywords), positive
# and negative; the theme order matches NPS_THEMES.
NPS_THEMES = ("ease_of_use", "features", "support", "price", "reliability")
NPS_TEMPLATES: dict[tuple[str, bool], tuple[str, ...]] = {
    ("ease_of_use", True): (
        "So easy to keep track of feeding and meds",
        "Simple and intuitive, the whole family uses it",
        "Really user-friendly, set up in five minutes",
    ),
    ("ease_of_use", False): (
        "Not as easy as I hoped, too many taps for simple things",
        "The app is confusing and not intuitive",
        "Hard to find anything, wish it was simple",
    ),
    ("features", True): (
        "Love the reminders feature and the vet records",
        "Great functionality for multi-pet households",
        "The shared calendar feature is a lifesaver",
    ),
    ("features", False): (
        "Missing features I need, the functionality feels basic",
        "Stopped using it, the features got repetitive",
        "Needs more capability for tracking health over time",
    ),
    ("support", True): (
        "Support was quick to help when I got stuck",
        "Great customer service, they fixed my issue same day",
        "Helpful support team, felt heard",
    ),
    ("support", False): (
        "Support never really fixed my problem",
        "Opened ticket after ticket and still no help",
        "Customer service is slow and unhelpful",
    ),
    ("price", True): (
        "Good value for what it does",
        "Worth the price for peace of mind",
        "Premium is worth the cost for us",
    ),
    ("price", False): (
        "Too expensive for what I get",
        "Not using Premium enough to justify the cost",
        "Price went up, not worth the value anymore",
    ),
    ("reliability", True): (
        "Reliable, never missed a reminder",
        "Fast and reliable even with lots of photos",
        "No bugs so far, works great",
    ),
    ("reliability", False): (
        "App is slow and crashes when uploading photos",
        "Keep hitting a sync error, reminders lost",
        "Too many bugs lately, the app crashes",
    ),
}
POSITIVE_ENDINGS = ("", ".", "!", "!!", " :)", "...")
NEGATIVE_ENDINGS = ("", ".", "!", "...", " :(", "?!")

SUCCESS_GOALS = (
    "Onboard every household member",
    "Complete 90% of medication tasks on time",
    "Set up calendar sync for all vet appointments",
    "Log weekly wellness scores for every pet",
    "Adopt shared calendar across caregivers",
    "Reduce missed feeding reminders by half",
    "Create care templates for pet sitters",
    "Review health analytics monthly",
    "Digitise all vet records",
    "Use priority support for escalations only",
    "Set up recurring tasks for every pet",
    "Track expenses per pet",
)

REVIEW_PLATFORMS: tuple[tuple[str, float], ...] = (
    ("app_store", 0.35),
    ("google_play", 0.35),
    ("g2", 0.10),
    ("trustpilot", 0.20),
)

REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no 0/O/1/I lookalikes
