-- Sign-ins of registered users: the visitor cookie of a signed-in browser names
-- one of these, so signing out revokes it on the server, not only in the browser.
CREATE TABLE sign_ins (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sign_ins_by_user ON sign_ins (user_id);

-- When a follow-up call was claimed: a claim older than the lease without
-- progress is taken back by the stall poller (the claimer may have died).
ALTER TABLE connect_sessions ADD COLUMN proof_claimed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connect_sessions ADD COLUMN verify_claimed_at INTEGER NOT NULL DEFAULT 0;

-- The stall poller takes due sessions by next poll time.
CREATE INDEX connect_sessions_by_next_poll ON connect_sessions (next_poll_at);

-- One user per connect session: two concurrent registrations with the same
-- verified session cannot both create a user.
CREATE UNIQUE INDEX users_by_session ON users (session_id);
