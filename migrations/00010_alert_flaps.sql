-- +goose Up

-- Flap damping: the recent fire and resolve changes of each alert, and whether it is flapping.
-- A row of its own, not columns of alert_state, because a resolve deletes the alert_state row
-- and the count must go on across it (and across restarts). At most flap.max_changes + 1
-- times are kept, all within flap.window; a row with nothing to count is deleted.
CREATE TABLE alert_flaps (
    app_id         bigint        NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    alert          text          NOT NULL,
    changes        timestamptz[] NOT NULL DEFAULT '{}',
    flapping_since timestamptz,  -- null: not flapping
    rule           text          NOT NULL DEFAULT '', -- the level and episode of the alert when it
    severity       text          NOT NULL DEFAULT '', -- last fired, for the message that ends a flap
    since          timestamptz,
    PRIMARY KEY (app_id, alert)
);

-- +goose Down
DROP TABLE alert_flaps;
