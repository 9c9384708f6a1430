-- Conversations. Membership is the access rule of `conversation:<id>`
-- channels (it replaces grants for them). `member_id` is how other members
-- see a person: principals stay private. A member who leaves keeps the row
-- (their old messages keep a name) with `left_at` set.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY NOT NULL,
    title      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    principal       TEXT NOT NULL,
    member_id       TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,
    last_read_seq   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, principal)
);
CREATE INDEX conversation_members_by_principal ON conversation_members (principal, left_at);

-- Share links. Anyone holding the token may join until it expires.
CREATE TABLE conversation_invites (
    token           TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);

-- The record of every message (the event log is trimmed by retention; this is
-- not). `seq` is the seq of the event that carried it. A sender's client id is
-- unique per conversation: a resend stores nothing new.
CREATE TABLE messages (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    seq              BIGINT NOT NULL,
    id               TEXT NOT NULL UNIQUE,
    sender_principal TEXT NOT NULL,
    sender           TEXT NOT NULL,
    sender_name      TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_principal, client_id)
);
