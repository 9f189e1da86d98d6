-- +goose Up

-- Where an alert episode's messages go on in a chat thread (Slack with thread: true): the
-- root message of each (notifier, app, alert, episode), so that later events of the episode
-- reply to it across restarts and replicas.
CREATE TABLE notification_threads (
    notifier   text        NOT NULL,
    app_id     bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    alert      text        NOT NULL,
    since      timestamptz NOT NULL,
    root       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notifier, app_id, alert, since)
);

-- +goose Down
DROP TABLE notification_threads;
