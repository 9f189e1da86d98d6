-- +goose Up

-- One row per configured app, keyed by the name in the config file. Never holds a secret.
CREATE TABLE apps (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per successful poll, amounts exactly as EngageLab returned them.
CREATE TABLE balance_snapshots (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id        bigint         NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    polled_at     timestamptz    NOT NULL,
    currency      text           NOT NULL,
    balance       NUMERIC(20, 4) NOT NULL,
    gift_balance  NUMERIC(20, 4) NOT NULL,
    total_balance NUMERIC(20, 4) NOT NULL
);
-- History queries read one app over a time range; INCLUDE lets them scan the index alone.
CREATE INDEX balance_snapshots_app_time ON balance_snapshots (app_id, polled_at)
    INCLUDE (currency, balance, gift_balance, total_balance);

-- Failed polls. A run of identical failures is one row whose polls count grows.
CREATE TABLE poll_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id      bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    polls       integer     NOT NULL DEFAULT 1,
    kind        text        NOT NULL,
    http_status integer     NOT NULL DEFAULT 0,
    code        integer     NOT NULL DEFAULT 0,
    message     text        NOT NULL
);
CREATE INDEX poll_failures_app_time ON poll_failures (app_id, last_at);

-- Replicas claim a scheduled (app, slot) here before polling, so a slot is polled once.
CREATE TABLE poll_slots (
    app_id     bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    slot       timestamptz NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, slot)
);

-- Per-app evaluation state. Evaluation locks this row (SELECT ... FOR UPDATE), so two
-- processes evaluating the same app take turns and never fire the same alert twice.
CREATE TABLE app_state (
    app_id               bigint PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    last_polled_at       timestamptz,
    last_failure         jsonb,
    silenced_until       timestamptz,
    silence_reason       text        NOT NULL DEFAULT '',
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per alert that is firing now; a resolve deletes it.
CREATE TABLE alert_state (
    app_id       bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    alert        text        NOT NULL CHECK (alert IN ('money', 'access', 'data')),
    rule         text        NOT NULL,
    severity     text        NOT NULL CHECK (severity IN ('warning', 'critical')),
    since        timestamptz NOT NULL,
    level_since  timestamptz NOT NULL,
    last_sent_at timestamptz NOT NULL,
    PRIMARY KEY (app_id, alert)
);

-- The event log: every transition, with the rendered webhook body it produced.
CREATE TABLE alert_events (
    id         text        PRIMARY KEY,
    app_id     bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    alert      text        NOT NULL,
    type       text        NOT NULL,
    rule       text        NOT NULL,
    severity   text        NOT NULL,
    since      timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    silenced   boolean     NOT NULL DEFAULT false,
    payload    jsonb       NOT NULL
);
CREATE INDEX alert_events_app_time ON alert_events (app_id, created_at DESC, id DESC);
CREATE INDEX alert_events_time ON alert_events (created_at DESC, id DESC);

-- The outbox: one row per (event, notifier), written in the transaction that made the event.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text        NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    app_id          bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    notifier        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'dead', 'dropped')),
    attempts        integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    finished_at     timestamptz,
    last_error      text        NOT NULL DEFAULT '',
    UNIQUE (event_id, notifier)
);
-- Delivery picks the oldest pending row of each (app, notifier).
CREATE INDEX outbox_pending ON outbox (app_id, notifier, id) WHERE status = 'pending';
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE status <> 'pending';

-- +goose Down
DROP TABLE outbox;
DROP TABLE alert_events;
DROP TABLE alert_state;
DROP TABLE app_state;
DROP TABLE poll_slots;
DROP TABLE poll_failures;
DROP TABLE balance_snapshots;
DROP TABLE apps;
