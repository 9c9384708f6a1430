-- A channel log's epoch: a random name for this incarnation of the log. A
-- client resuming with an epoch that is not the current one is reset instead
-- of trusting a seq that a reset or truncated log may hand out again.
ALTER TABLE channel_heads ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE channel_heads SET epoch = substr(md5(random()::text || channel), 1, 16);
