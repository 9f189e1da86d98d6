-- +goose Up

-- The spend ledger: per app and UTC hour, what the money did between consecutive snapshots,
-- kept up to date in the transaction that stores each snapshot. A change between two
-- snapshots belongs to the hour of the later one. first_total is the total before the hour's
-- first change (the opening balance), last_total the total after its last change, so for
-- every row and every range of rows, exactly:
--   first_total + topped_up - spent - gift_expired = last_total
-- Burn rates, runway, the drain baseline and spend reports read these rows (168 for a week)
-- instead of the snapshots.
CREATE TABLE spend_ledger_1h (
    app_id       bigint         NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    bucket       timestamptz    NOT NULL,
    first_at     timestamptz    NOT NULL,
    last_at      timestamptz    NOT NULL,
    first_total  NUMERIC(20, 4) NOT NULL,
    last_total   NUMERIC(20, 4) NOT NULL,
    spent        NUMERIC(20, 4) NOT NULL DEFAULT 0,
    topped_up    NUMERIC(20, 4) NOT NULL DEFAULT 0,
    gift_expired NUMERIC(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, bucket)
);

-- The latest top-up of each app, for the API; and running totals since the app was first
-- seen, which retention does not lower (the Prometheus counters engagelab_spent_total and
-- engagelab_topped_up_total read them).
ALTER TABLE app_state
    ADD COLUMN last_topup_at      timestamptz,
    ADD COLUMN last_topup_amount  NUMERIC(20, 4),
    ADD COLUMN spent_total        NUMERIC(20, 4) NOT NULL DEFAULT 0,
    ADD COLUMN topped_up_total    NUMERIC(20, 4) NOT NULL DEFAULT 0,
    ADD COLUMN gift_expired_total NUMERIC(20, 4) NOT NULL DEFAULT 0;

-- Spend alerts live beside the money, access and data alerts.
ALTER TABLE alert_state DROP CONSTRAINT alert_state_alert_check;
ALTER TABLE alert_state ADD CONSTRAINT alert_state_alert_check
    CHECK (alert IN ('money', 'access', 'data', 'runway', 'drain', 'daily_spend'));

-- Backfill from the snapshots already stored, with the same rules as the service (a gift
-- expiry is gift credit falling to zero while the paid balance holds).
WITH pairs AS (
    SELECT app_id, polled_at, balance, gift_balance, total_balance,
           lag(balance)       OVER w AS prev_balance,
           lag(gift_balance)  OVER w AS prev_gift,
           lag(total_balance) OVER w AS prev_total
    FROM balance_snapshots
    WINDOW w AS (PARTITION BY app_id ORDER BY polled_at)
), expiry AS (
    SELECT *, CASE WHEN prev_gift > 0 AND gift_balance = 0 AND balance >= prev_balance
                   THEN prev_gift ELSE 0 END AS ge0
    FROM pairs
), rest AS (
    SELECT *, coalesce(total_balance - prev_total, 0) + ge0 AS rest0 FROM expiry
), deltas AS (
    SELECT *,
           CASE WHEN ge0 > 0 AND rest0 > 0 AND balance = prev_balance THEN ge0 - rest0 ELSE ge0 END AS ge,
           CASE WHEN ge0 > 0 AND rest0 > 0 AND balance = prev_balance THEN 0 ELSE rest0 END AS r
    FROM rest
)
INSERT INTO spend_ledger_1h (app_id, bucket, first_at, last_at, first_total, last_total, spent, topped_up, gift_expired)
SELECT app_id, date_trunc('hour', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       min(polled_at), max(polled_at),
       (array_agg(coalesce(prev_total, total_balance) ORDER BY polled_at))[1],
       (array_agg(total_balance ORDER BY polled_at DESC))[1],
       sum(greatest(-r, 0)), sum(greatest(r, 0)), sum(ge)
FROM deltas
GROUP BY 1, 2;

UPDATE app_state s SET spent_total = t.spent, topped_up_total = t.topped_up, gift_expired_total = t.gift_expired
FROM (SELECT app_id, sum(spent) AS spent, sum(topped_up) AS topped_up, sum(gift_expired) AS gift_expired
      FROM spend_ledger_1h GROUP BY app_id) t
WHERE s.app_id = t.app_id;

UPDATE app_state s SET last_topup_at = t.polled_at, last_topup_amount = t.amount
FROM (
    SELECT DISTINCT ON (app_id) app_id, polled_at, total_balance - prev_total AS amount
    FROM (SELECT app_id, polled_at, total_balance, balance, gift_balance,
                 lag(total_balance) OVER w AS prev_total
          FROM balance_snapshots WINDOW w AS (PARTITION BY app_id ORDER BY polled_at)) p
    WHERE total_balance > prev_total
    ORDER BY app_id, polled_at DESC
) t
WHERE s.app_id = t.app_id;

-- +goose Down
ALTER TABLE alert_state DROP CONSTRAINT alert_state_alert_check;
DELETE FROM alert_state WHERE alert NOT IN ('money', 'access', 'data');
ALTER TABLE alert_state ADD CONSTRAINT alert_state_alert_check CHECK (alert IN ('money', 'access', 'data'));
ALTER TABLE app_state DROP COLUMN last_topup_at, DROP COLUMN last_topup_amount,
    DROP COLUMN spent_total, DROP COLUMN topped_up_total, DROP COLUMN gift_expired_total;
DROP TABLE spend_ledger_1h;
