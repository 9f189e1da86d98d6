-- +goose Up

-- Marks the monitor keeps about itself, shared by every replica: when the heartbeat was last
-- claimed (so one replica pings per period) and last answered (the metric every replica shows).
CREATE TABLE monitor_marks (
    name text        PRIMARY KEY,
    at   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE monitor_marks;
