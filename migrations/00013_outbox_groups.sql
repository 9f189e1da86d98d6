-- +goose Up

-- Grouped outages: an access or data alert firing or resolving is queued with a group key
-- (its type, alert and rule) and a first attempt `grouping.wait` later, so that the same rule
-- on other apps can join it; delivery then sends one message for all the rows of a key that
-- came within the wait (when there are grouping.min_apps of them), each row still its own.
ALTER TABLE outbox ADD COLUMN group_key text;
CREATE INDEX outbox_group ON outbox (notifier, group_key, created_at)
    WHERE status = 'pending' AND group_key IS NOT NULL;

-- +goose Down
DROP INDEX outbox_group;
ALTER TABLE outbox DROP COLUMN group_key;
