-- An event's id is not indexed any more. It is a random 128-bit name made by
-- the log writer, never looked up: the log's key is (channel, seq). Its UNIQUE
-- index cost every append a write to a random page of that index, about 1.3 of
-- the 5.7 pages a lone append wrote to the WAL (docs/PERFORMANCE.md, step 32).
-- SQLite drops a UNIQUE constraint only by rebuilding the table; rowids are
-- kept, and the table's own index and trigger are made again.
CREATE TABLE events_next (
    channel TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    id      TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (channel, seq)
);
INSERT INTO events_next (rowid, channel, seq, id, ts, payload)
    SELECT rowid, channel, seq, id, ts, payload FROM events;
DROP TABLE events;
ALTER TABLE events_next RENAME TO events;
CREATE INDEX events_by_ts ON events (ts);

-- As in 0007: a stored event moves its channel's head up to its seq.
CREATE TRIGGER events_move_head AFTER INSERT ON events
BEGIN
    UPDATE channel_heads SET last_seq = NEW.seq
    WHERE channel = NEW.channel AND last_seq < NEW.seq;
END;
