-- +goose Up

-- Delivery leases outbox rows instead of holding a row lock across the send: a short
-- transaction marks a row leased (by whom, until when) and commits, the request goes out with
-- no transaction open, and another short transaction records the outcome if the lease is still
-- the owner's. A lease left behind by a crashed process expires and the row is sent again.
ALTER TABLE outbox
    ADD COLUMN lease_owner text,
    ADD COLUMN lease_until timestamptz;

-- +goose Down
ALTER TABLE outbox DROP COLUMN lease_owner, DROP COLUMN lease_until;
