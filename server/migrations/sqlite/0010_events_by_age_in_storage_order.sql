-- Retention by age reads the log in the order it was stored (rowid order)
-- instead of through an index on `ts`: the single log writer stores events
-- in time order, so the oldest events are the table's first rows. The index
-- cost every append a write to its last page, about 1.1 of the 4.4 pages a
-- lone append wrote to the WAL, and a sixth of its commit's CPU
-- (docs/PERFORMANCE.md, step 36).
DROP INDEX events_by_ts;
