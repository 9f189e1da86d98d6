-- +goose Up

-- Hourly roll-ups of balance_snapshots, kept up to date in the transaction that stores each
-- snapshot. Bucketed history with a step of an hour or more reads these (8,760 rows for a
-- year) instead of every snapshot (525,600 for a year of one-minute polls).
CREATE TABLE balance_rollups_1h (
    app_id        bigint         NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    bucket        timestamptz    NOT NULL,
    first_at      timestamptz    NOT NULL,
    last_at       timestamptz    NOT NULL,
    first_balance NUMERIC(20, 4) NOT NULL,
    last_balance  NUMERIC(20, 4) NOT NULL,
    min_balance   NUMERIC(20, 4) NOT NULL,
    max_balance   NUMERIC(20, 4) NOT NULL,
    first_total   NUMERIC(20, 4) NOT NULL,
    last_total    NUMERIC(20, 4) NOT NULL,
    min_total     NUMERIC(20, 4) NOT NULL,
    max_total     NUMERIC(20, 4) NOT NULL,
    snapshots     integer        NOT NULL,
    PRIMARY KEY (app_id, bucket)
);

INSERT INTO balance_rollups_1h
SELECT app_id, date_trunc('hour', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       min(polled_at), max(polled_at),
       (array_agg(balance ORDER BY polled_at))[1], (array_agg(balance ORDER BY polled_at DESC))[1],
       min(balance), max(balance),
       (array_agg(total_balance ORDER BY polled_at))[1], (array_agg(total_balance ORDER BY polled_at DESC))[1],
       min(total_balance), max(total_balance), count(*)
FROM balance_snapshots
GROUP BY 1, 2;

-- +goose Down
DROP TABLE balance_rollups_1h;
