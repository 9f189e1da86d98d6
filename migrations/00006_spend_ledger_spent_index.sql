-- +goose Up
-- The metrics read the trailing week of spend of every app at each scrape (10,000 apps: 1.7
-- million ledger rows). Each app's rows are written an hour apart, so in the heap they sit
-- one to a page; with spent in the index the sums are an index-only scan of contiguous
-- entries instead of a page visit per row (4 s → 0.7 s per scrape at 10,000 apps).
CREATE INDEX spend_ledger_1h_spent ON spend_ledger_1h (app_id, bucket) INCLUDE (spent);

-- +goose Down
DROP INDEX spend_ledger_1h_spent;
