-- cs_assets raw data contract: the tables a user lands product data in.
-- Mirrors the pandera models in cs_assets/contract/tables.py (a test keeps the two in step).
-- Ids are text, times are timestamptz (UTC). Ingestion validates every rule again, with
-- reasons per row, so a landing zone may drop the CHECK constraints if its loader cannot
-- honour them; keys and types are the contract.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.households (
    household_id        text PRIMARY KEY,
    created_at          timestamptz NOT NULL,          -- signup: the only source of signup time
    region              text NOT NULL,                 -- one of product.yaml's regions
    timezone            text,                          -- IANA name; UTC when null
    owner_name          text,                          -- PII
    email               text,                          -- PII
    email_opt_out       boolean NOT NULL,
    referral_code_used  text,
    churned_at          timestamptz CHECK (churned_at >= created_at)  -- authoritative churn
);

CREATE TABLE IF NOT EXISTS raw.members (
    user_id       text PRIMARY KEY,
    household_id  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at     timestamptz NOT NULL,
    removed_at    timestamptz CHECK (removed_at >= joined_at)
);

CREATE TABLE IF NOT EXISTS raw.pets (
    pet_id             text PRIMARY KEY,
    household_id       text NOT NULL,
    species            text NOT NULL
        CHECK (species IN ('dog', 'cat', 'bird', 'fish', 'reptile', 'small_mammal', 'other')),
    birth_date         date,
    added_at           timestamptz NOT NULL,
    removed_at         timestamptz CHECK (removed_at >= added_at),
    has_medical_needs  boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.activity_events (
    event_id         text PRIMARY KEY,
    household_id     text NOT NULL,
    user_id          text,
    occurred_at      timestamptz NOT NULL,
    event_type       text NOT NULL,                    -- product name; mapped to a canonical kind
    session_minutes  double precision CHECK (session_minutes BETWEEN 0 AND 1440),
    feature_name     text
);
CREATE INDEX IF NOT EXISTS activity_events_household_time
    ON raw.activity_events (household_id, occurred_at);

CREATE TABLE IF NOT EXISTS raw.support_tickets (
    ticket_id     text PRIMARY KEY,
    household_id  text NOT NULL,
    created_at    timestamptz NOT NULL,
    resolved_at   timestamptz CHECK (resolved_at >= created_at),
    priority      text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    csat_score    bigint CHECK (csat_score BETWEEN 1 AND 5),
    category      text
);

CREATE TABLE IF NOT EXISTS raw.subscription_changes (
    change_id     text PRIMARY KEY,
    household_id  text NOT NULL,
    changed_at    timestamptz NOT NULL,
    change_type   text NOT NULL CHECK (change_type IN ('new', 'upgrade', 'downgrade', 'cancel')),
    from_plan     text,                              -- product.yaml's plan names, checked
    to_plan       text,                              -- at ingestion (a product's own)
    mrr_after     double precision NOT NULL CHECK (mrr_after >= 0)   -- MRR after the change
);

CREATE TABLE IF NOT EXISTS raw.payments (
    payment_id    text PRIMARY KEY,
    household_id  text NOT NULL,
    due_at        timestamptz NOT NULL,
    paid_at       timestamptz,
    amount        double precision NOT NULL CHECK (amount >= 0),
    status        text NOT NULL CHECK (status IN ('paid', 'failed', 'pending', 'refunded'))
);

CREATE TABLE IF NOT EXISTS raw.nps_responses (
    response_id   text PRIMARY KEY,
    household_id  text NOT NULL,
    responded_at  timestamptz NOT NULL,
    score         bigint NOT NULL CHECK (score BETWEEN 0 AND 10),
    comment       text
);

CREATE TABLE IF NOT EXISTS raw.pet_health_observations (
    observation_id  text PRIMARY KEY,
    pet_id          text NOT NULL,
    observed_at     timestamptz NOT NULL,
    metric          text NOT NULL
        CHECK (metric IN ('wellness_score', 'weight_kg', 'activity_minutes')),
    value           double precision NOT NULL CHECK (value >= 0)
);

CREATE TABLE IF NOT EXISTS raw.success_plans (
    plan_goal_id  text PRIMARY KEY,
    household_id  text NOT NULL,
    quarter       text NOT NULL CHECK (quarter ~ '^\d{4}-Q[1-4]$'),
    goal          text NOT NULL,
    status        text NOT NULL
        CHECK (status IN ('planned', 'in_progress', 'achieved', 'missed'))
);

CREATE TABLE IF NOT EXISTS raw.referral_codes (
    code          text PRIMARY KEY,
    household_id  text NOT NULL,
    issued_at     timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.reviews (
    review_id     text PRIMARY KEY,
    household_id  text NOT NULL,
    platform      text NOT NULL CHECK (platform IN ('app_store', 'google_play', 'g2', 'trustpilot')),
    rating        bigint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    submitted_at  timestamptz NOT NULL
);
