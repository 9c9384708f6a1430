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

-- One wallet-connect attempt, owned by the visitor who created it. `version`
-- makes every update a compare-and-set, so concurrent webhooks, pollers and
-- verification tasks never overwrite each other.
CREATE TABLE connect_sessions (
    id                   TEXT PRIMARY KEY NOT NULL,
    owner                TEXT NOT NULL,
    status               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    version              BIGINT NOT NULL,
    invitation_url       TEXT,
    record_id            TEXT,
    connection_id        TEXT,
    connection_state     TEXT,
    wallet_label         TEXT,
    proof_requested      BIGINT NOT NULL,
    proof_id             TEXT,
    proof_state          TEXT,
    verification_started BIGINT NOT NULL,
    attributes           TEXT,
    -- The stall poller's schedule: when it may next ask the platform about
    -- this session, and how many times it asked without news (for backoff).
    next_poll_at         BIGINT NOT NULL DEFAULT 0,
    poll_attempts        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX connect_sessions_by_owner ON connect_sessions (owner);
CREATE INDEX connect_sessions_by_record ON connect_sessions (record_id);
CREATE INDEX connect_sessions_by_connection ON connect_sessions (connection_id);
CREATE INDEX connect_sessions_by_proof ON connect_sessions (proof_id);
CREATE INDEX connect_sessions_open ON connect_sessions (status, next_poll_at);

-- Every webhook as received, first, before acting on it. The unique key makes
-- redelivered (kind, record, state) triples no-ops.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY NOT NULL,
    received_at BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    state       TEXT NOT NULL,
    session_id  TEXT,
    outcome     TEXT NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (kind, record_id, state)
);
CREATE INDEX webhooks_by_outcome ON webhooks (outcome);

-- Registered people. The id is the visitor's principal, so the cookie that
-- verified is the cookie that is signed in.
CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
