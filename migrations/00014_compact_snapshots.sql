-- +goose Up

-- A snapshot in fewer bytes, the same columns. Postgres pads each heap row to a multiple of 8
-- bytes: a row of (app_id bigint, polled_at, currency, 3 × NUMERIC) is a 24-byte header, 20
-- bytes of app, time and currency, and 3 bytes per amount plus 2 per group of four digits.
-- Amounts such as 995.4567, 1.2500 and 996.7067 (or a balance above 10,000 without gift
-- credit) make it 65 bytes, padded to 72. With app_id an integer after polled_at the same row
-- is 61 bytes, padded to 64: 8 bytes less per snapshot (76 to 68 on the page with its line
-- pointer). Rows with fewer digits fitted in 64 already; those with more still take 72.
--
-- The index on (app_id, polled_at) is as big either way (its entries are padded to 24 bytes),
-- but it now has fill factor 100: each app's entries are appended after its own latest, so
-- room kept free in the pages behind it would stay empty, and the pages split at the index's
-- end are left full instead of 90 %. store.PackSnapshotPartitions still rebuilds each week's
-- index once the week is over, to pack the pages that splits left half full.
--
-- An integer app_id holds ids up to 2,147,483,647; apps.id is a bigint that grows by one per
-- new app (store.EnsureApps does not spend ids on apps it already has), and its sequence now
-- stops there, so registering an app fails before any snapshot of it could.
--
-- The rows are copied, each old partition in turn and each app's rows together in time order,
-- into new partitions of the same weeks (rows of the DEFAULT partition into the new DEFAULT
-- partition); the index and the reference to apps come after the copy, built and checked in
-- bulk. The table keeps its name, partitions, trigger and functions.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM apps WHERE id > 2147483647) THEN
        RAISE EXCEPTION 'apps.id above 2147483647: snapshots cannot refer to their app by an integer';
    END IF;
    -- Ids that earlier versions spent (each start took one per configured app) may have taken
    -- the sequence past that; no app holds them, so it goes back to the largest id in use.
    IF pg_sequence_last_value(pg_get_serial_sequence('apps', 'id')::regclass) > 2147483647 THEN
        PERFORM setval(pg_get_serial_sequence('apps', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM apps;
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE apps ALTER COLUMN id SET MAXVALUE 2147483647;

DROP INDEX balance_snapshots_app_time;
DROP TRIGGER balance_snapshots_note ON balance_snapshots;
ALTER TABLE balance_snapshots RENAME TO balance_snapshots_old;
-- +goose StatementBegin
DO $$
DECLARE
    part name;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'balance_snapshots_old'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part, replace(part, 'balance_snapshots_', 'balance_snapshots_old_'));
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Partitions made later (balance_snapshots_ensure_partition) are made LIKE this table, so
-- they get this column order too.
CREATE TABLE balance_snapshots (
    polled_at     timestamptz    NOT NULL,
    app_id        integer        NOT NULL,
    currency      text           NOT NULL,
    balance       NUMERIC(20, 4) NOT NULL,
    gift_balance  NUMERIC(20, 4) NOT NULL,
    total_balance NUMERIC(20, 4) NOT NULL
) PARTITION BY RANGE (polled_at);
CREATE TABLE balance_snapshots_default PARTITION OF balance_snapshots DEFAULT;

-- The weeks that had a partition, and this week, the one before and the two after.
SELECT balance_snapshots_ensure_partition(w)
FROM (SELECT to_date(substr(c.relname, 24), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS w
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'balance_snapshots_old'::regclass AND c.relname ~ '^balance_snapshots_old_p[0-9]{8}$'
      UNION SELECT now() + d * interval '7 days' FROM generate_series(-1, 2) d) weeks
ORDER BY w;

-- +goose StatementBegin
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'balance_snapshots_old'::regclass ORDER BY c.relname
    LOOP
        EXECUTE format('INSERT INTO balance_snapshots (polled_at, app_id, currency, balance, gift_balance, total_balance)
                        SELECT polled_at, app_id, currency, balance, gift_balance, total_balance
                        FROM %s ORDER BY app_id, polled_at', part);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE balance_snapshots ADD FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE;
-- Every partition's index inherits the fill factor, including those of weeks made later.
CREATE INDEX balance_snapshots_app_time ON balance_snapshots (app_id, polled_at) WITH (fillfactor = 100);

-- Built in bulk after the copy, the indexes of the weeks that are over are packed already
-- (store.PackSnapshotPartitions' mark).
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

-- After the copy, which app_state's first and latest snapshot already account for.
CREATE TRIGGER balance_snapshots_note AFTER INSERT ON balance_snapshots
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION balance_snapshots_note();

DROP TABLE balance_snapshots_old;

-- +goose Down
DROP INDEX balance_snapshots_app_time;
DROP TRIGGER balance_snapshots_note ON balance_snapshots;
ALTER TABLE balance_snapshots RENAME TO balance_snapshots_old;
-- +goose StatementBegin
DO $$
DECLARE
    part name;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'balance_snapshots_old'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part, replace(part, 'balance_snapshots_', 'balance_snapshots_old_'));
    END LOOP;
END
$$;
-- +goose StatementEnd

CREATE TABLE balance_snapshots (
    app_id        bigint         NOT NULL,
    polled_at     timestamptz    NOT NULL,
    currency      text           NOT NULL,
    balance       NUMERIC(20, 4) NOT NULL,
    gift_balance  NUMERIC(20, 4) NOT NULL,
    total_balance NUMERIC(20, 4) NOT NULL
) PARTITION BY RANGE (polled_at);
CREATE TABLE balance_snapshots_default PARTITION OF balance_snapshots DEFAULT;

SELECT balance_snapshots_ensure_partition(w)
FROM (SELECT to_date(substr(c.relname, 24), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS w
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'balance_snapshots_old'::regclass AND c.relname ~ '^balance_snapshots_old_p[0-9]{8}$') weeks
ORDER BY w;

-- +goose StatementBegin
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'balance_snapshots_old'::regclass ORDER BY c.relname
    LOOP
        EXECUTE format('INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
                        SELECT app_id, polled_at, currency, balance, gift_balance, total_balance
                        FROM %s ORDER BY app_id, polled_at', part);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE balance_snapshots ADD FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE;
CREATE INDEX balance_snapshots_app_time ON balance_snapshots (app_id, polled_at);
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
CREATE TRIGGER balance_snapshots_note AFTER INSERT ON balance_snapshots
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION balance_snapshots_note();
DROP TABLE balance_snapshots_old;
ALTER TABLE apps ALTER COLUMN id SET NO MAXVALUE;
