-- +goose Up

-- The level the last message that was not silenced announced, per firing alert: when a silence
-- ends, a level that moved meanwhile is announced as a transition from it, not as a reminder.
-- Alerts firing before this migration are taken as announced at their current level.
ALTER TABLE alert_state
    ADD COLUMN sent_rule     text NOT NULL DEFAULT '',
    ADD COLUMN sent_severity text NOT NULL DEFAULT '';
UPDATE alert_state SET sent_rule = rule, sent_severity = severity;

-- +goose Down
ALTER TABLE alert_state DROP COLUMN sent_rule, DROP COLUMN sent_severity;
