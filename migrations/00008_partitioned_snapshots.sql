-- +goose Up

-- balance_snapshots becomes a table partitioned by polled_at, so that retention drops whole
-- partitions instead of deleting rows one by one, and a snapshot costs fewer bytes: no
-- surrogate id (nothing refers to a snapshot by id; the ledger and roll-ups are keyed by
-- (app_id, hour)), and a plain (app_id, polled_at) index instead of the covering one.
--
-- One partition per UTC week (Monday 00:00 to Monday 00:00). At 10,000 apps polled once a
-- minute (about 14 million rows a day) a week is about 100 million rows, some 9 GB: small
-- enough to drop in an instant and to vacuum in one pass, large enough that 400 days of
-- retention are 58 partitions (a day would be 400, and queries that look at every partition,
-- such as an app's latest snapshot, would plan and lock 400 tables). A small install pays a
-- few empty 8 kB pages per week. Retention keeps at most one week more than configured: the
-- partition that straddles the cut-off stays until all of it is past retention.
--
-- Rows that no weekly partition holds yet (a clock far off, a bulk load of old history, an
-- insert before the service created the week) land in the DEFAULT partition instead of
-- failing. balance_snapshots_ensure_partition moves them into their week's partition when it
-- creates it; the service calls it ahead of time (at migrate and from the retention loop).
CREATE TABLE balance_snapshots_partitioned (
    app_id        bigint         NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    polled_at     timestamptz    NOT NULL,
    currency      text           NOT NULL,
    balance       NUMERIC(20, 4) NOT NULL,
    gift_balance  NUMERIC(20, 4) NOT NULL,
    total_balance NUMERIC(20, 4) NOT NULL
) PARTITION BY RANGE (polled_at);
CREATE TABLE balance_snapshots_default PARTITION OF balance_snapshots_partitioned DEFAULT;

ALTER TABLE balance_snapshots RENAME TO balance_snapshots_old;
ALTER INDEX balance_snapshots_pkey RENAME TO balance_snapshots_old_pkey;
ALTER INDEX balance_snapshots_app_time RENAME TO balance_snapshots_old_app_time;
ALTER TABLE balance_snapshots_partitioned RENAME TO balance_snapshots;

-- Creates the weekly partition that holds t unless it exists, moving into it the rows of the
-- DEFAULT partition that belong to it, and returns its name. Concurrent callers (replicas)
-- take turns on an advisory lock. The new table is attached rather than created as a
-- partition: ATTACH takes a lighter lock on balance_snapshots, so polls and history queries
-- of other weeks go on meanwhile.
-- +goose StatementBegin
CREATE FUNCTION balance_snapshots_ensure_partition(t timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('week', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '7 days';
    name text := 'balance_snapshots_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(7734008);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- In this order (parent, then DEFAULT) like an insert, so no deadlock; no row can enter
    -- the DEFAULT partition between the move and the attach.
    LOCK TABLE balance_snapshots IN SHARE UPDATE EXCLUSIVE MODE;
    LOCK TABLE balance_snapshots_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I (LIKE balance_snapshots INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM balance_snapshots_default WHERE polled_at >= $1 AND polled_at < $2 RETURNING *)
                    INSERT INTO %I SELECT * FROM moved ORDER BY app_id, polled_at', name) USING lo, hi;
    EXECUTE format('ALTER TABLE balance_snapshots ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN name;
END
$$;
-- +goose StatementEnd

-- The weeks that hold rows, this week, the one before and the two after.
SELECT balance_snapshots_ensure_partition(w)
FROM (SELECT DISTINCT date_trunc('week', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS w FROM balance_snapshots_old
      UNION SELECT now() + d * interval '7 days' FROM generate_series(-1, 2) d) weeks
ORDER BY w;

-- Every row, each app's rows together and in time order (the old index's order, so no sort):
-- a history query then reads contiguous pages.
INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
SELECT app_id, polled_at, currency, balance, gift_balance, total_balance
FROM balance_snapshots_old ORDER BY app_id, polled_at;

-- History queries read one app over a time range, and each app's latest snapshot; both walk
-- this index. Without the INCLUDE columns they read the heap too, which the history
-- benchmark shows costs nothing that matters (README, Performance), while the index is a
-- third of its old size. Built after the copy: a bulk build packs its pages.
CREATE INDEX balance_snapshots_app_time ON balance_snapshots (app_id, polled_at);

-- The service rebuilds the index of each week that is over with full pages, once (see
-- store.PackSnapshotPartitions, whose mark this comment is). Those just built in bulk are
-- packed already.
-- +goose StatementBegin
DO $$
DECLARE
    ix regclass;
BEGIN
    FOR ix IN
        SELECT x.indexrelid::regclass
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indrelid = c.oid
        WHERE i.inhparent = 'balance_snapshots'::regclass AND c.relname ~ '^balance_snapshots_p[0-9]{8}$'
          AND to_date(substr(c.relname, 20), 'YYYYMMDD') + 7 <= (now() AT TIME ZONE 'UTC')::date
    LOOP
        EXECUTE format('COMMENT ON INDEX %s IS %L', ix, 'packed: its week is over');
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Each app's first and latest snapshot, kept on its state row by a trigger (so also for rows
-- written by hand): an app's latest snapshot is read at every poll and for every app at every
-- scrape, and a query for it without a time range would visit every weekly partition (and,
-- with the DEFAULT partition among them, descend every partition's index: 25 times the cost
-- at 400 days).
ALTER TABLE app_state
    ADD COLUMN first_polled_at      timestamptz,
    ADD COLUMN latest_polled_at     timestamptz,
    ADD COLUMN latest_currency      text,
    ADD COLUMN latest_balance       NUMERIC(20, 4),
    ADD COLUMN latest_gift_balance  NUMERIC(20, 4),
    ADD COLUMN latest_total_balance NUMERIC(20, 4);
UPDATE app_state s
SET first_polled_at = l.first_at, latest_polled_at = l.polled_at, latest_currency = l.currency,
    latest_balance = l.balance, latest_gift_balance = l.gift_balance, latest_total_balance = l.total_balance
FROM (SELECT DISTINCT ON (app_id) app_id, polled_at, currency, balance, gift_balance, total_balance,
             min(polled_at) OVER (PARTITION BY app_id) AS first_at
      FROM balance_snapshots_old ORDER BY app_id, polled_at DESC) l
WHERE s.app_id = l.app_id;

-- Per statement, not per row: a bulk load of one app's history in one transaction would
-- otherwise update its state row once per snapshot, each update walking the versions the
-- ones before left.
-- +goose StatementBegin
CREATE FUNCTION balance_snapshots_note() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A later row, or one of the same time written after it, is the latest (as an insert under
    -- the app's lock sees it); LEAST and GREATEST skip the NULLs of an app without snapshots.
    UPDATE app_state s SET
        first_polled_at      = LEAST(s.first_polled_at, n.first_at),
        latest_currency      = CASE WHEN (n.polled_at >= s.latest_polled_at) IS NOT FALSE THEN n.currency ELSE s.latest_currency END,
        latest_balance       = CASE WHEN (n.polled_at >= s.latest_polled_at) IS NOT FALSE THEN n.balance ELSE s.latest_balance END,
        latest_gift_balance  = CASE WHEN (n.polled_at >= s.latest_polled_at) IS NOT FALSE THEN n.gift_balance ELSE s.latest_gift_balance END,
        latest_total_balance = CASE WHEN (n.polled_at >= s.latest_polled_at) IS NOT FALSE THEN n.total_balance ELSE s.latest_total_balance END,
        latest_polled_at     = GREATEST(s.latest_polled_at, n.polled_at)
    FROM (SELECT DISTINCT ON (app_id) app_id, polled_at, currency, balance, gift_balance, total_balance,
                 min(polled_at) OVER (PARTITION BY app_id) AS first_at
          FROM inserted ORDER BY app_id, polled_at DESC) n
    WHERE s.app_id = n.app_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER balance_snapshots_note AFTER INSERT ON balance_snapshots
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION balance_snapshots_note();

DROP TABLE balance_snapshots_old;

-- +goose Down
CREATE TABLE balance_snapshots_plain (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id        bigint         NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    polled_at     timestamptz    NOT NULL,
    currency      text           NOT NULL,
    balance       NUMERIC(20, 4) NOT NULL,
    gift_balance  NUMERIC(20, 4) NOT NULL,
    total_balance NUMERIC(20, 4) NOT NULL
);
INSERT INTO balance_snapshots_plain (app_id, polled_at, currency, balance, gift_balance, total_balance)
SELECT app_id, polled_at, currency, balance, gift_balance, total_balance
FROM balance_snapshots ORDER BY polled_at, app_id;
DROP TABLE balance_snapshots;
DROP FUNCTION balance_snapshots_ensure_partition(timestamptz);
DROP FUNCTION balance_snapshots_note();
ALTER TABLE app_state DROP COLUMN first_polled_at, DROP COLUMN latest_polled_at, DROP COLUMN latest_currency,
    DROP COLUMN latest_balance, DROP COLUMN latest_gift_balance, DROP COLUMN latest_total_balance;
ALTER TABLE balance_snapshots_plain RENAME TO balance_snapshots;
ALTER INDEX balance_snapshots_plain_pkey RENAME TO balance_snapshots_pkey;
CREATE INDEX balance_snapshots_app_time ON balance_snapshots (app_id, polled_at)
    INCLUDE (currency, balance, gift_balance, total_balance);
