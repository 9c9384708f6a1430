-- The per-channel event log: `channel_heads` hands out seqs (never reused, also
-- after retention), `events` keeps the retained tail of each channel.
CREATE TABLE channel_heads (
    channel  TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);

CREATE TABLE events (
    channel TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    id      TEXT NOT NULL UNIQUE,
    ts      BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (channel, seq)
);
CREATE INDEX events_by_ts ON events (ts);

-- Who may use a conversation or dashboard channel, written by the grants API.
CREATE TABLE channel_grants (
    channel   TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (channel, principal)
);

-- One wallet-connect attempt, owned by the visitor who created it.
CREATE TABLE connect_sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX connect_sessions_by_owner ON connect_sessions (owner);
