-- An event's id is not indexed any more. It is a random 128-bit name made by
-- the writer, never looked up: the log's key is (channel, seq). Its UNIQUE
-- index cost every append an insert into a random page of that index
-- (docs/PERFORMANCE.md, step 32).
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_id_key;
