-- The notification inbox: the record of every notification (the event log is
-- trimmed by retention; this is not). `event_seq` is the seq of the event that
-- announced it on `user:<recipient>`: "mark all read up to seq N" uses it, so
-- a notification announced after N stays unread.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY NOT NULL,
    recipient       TEXT NOT NULL,
    category        TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    link            TEXT,
    actor           TEXT,
    created_at      INTEGER NOT NULL,
    event_seq       INTEGER,
    seen_at         INTEGER,
    read_at         INTEGER,
    archived_at     INTEGER,
    idempotency_key TEXT,
    UNIQUE (recipient, idempotency_key)
);
CREATE INDEX notifications_by_recipient ON notifications (recipient, created_at, id);
CREATE INDEX notifications_unread ON notifications (recipient, read_at, archived_at);

-- Per person and category: muted or not.
CREATE TABLE notification_preferences (
    principal TEXT NOT NULL,
    category  TEXT NOT NULL,
    muted     INTEGER NOT NULL,
    PRIMARY KEY (principal, category)
);
