-- Live dashboards. Membership (with a role) is the access rule of
-- `dashboard:<id>` channels that name a dashboard; grants still cover
-- channels published to through the API.
CREATE TABLE dashboards (
    id         TEXT PRIMARY KEY NOT NULL,
    title      TEXT NOT NULL,
    -- The newest applied op's version; every field version is at most this.
    version    INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE dashboard_members (
    dashboard_id TEXT NOT NULL REFERENCES dashboards (id),
    principal    TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    joined_at    INTEGER NOT NULL,
    PRIMARY KEY (dashboard_id, principal)
);
CREATE INDEX dashboard_members_by_principal ON dashboard_members (principal);

-- One row per widget, each field with the version that last set it. A
-- deleted widget keeps its row with `deleted_version`, so a late edit of it
-- is answered as a conflict ("deleted") rather than as an unknown widget.
CREATE TABLE widgets (
    dashboard_id    TEXT NOT NULL REFERENCES dashboards (id),
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    title_version   INTEGER NOT NULL,
    body            TEXT NOT NULL,
    body_version    INTEGER NOT NULL,
    source          TEXT NOT NULL,
    source_version  INTEGER NOT NULL,
    x               INTEGER NOT NULL,
    y               INTEGER NOT NULL,
    pos_version     INTEGER NOT NULL,
    w               INTEGER NOT NULL,
    h               INTEGER NOT NULL,
    size_version    INTEGER NOT NULL,
    deleted_version INTEGER,
    PRIMARY KEY (dashboard_id, id)
);

-- The answer to every op, by its identity: a replay is answered the same
-- and changes nothing. Trimmed by retention like the event log.
CREATE TABLE dashboard_ops (
    dashboard_id TEXT NOT NULL REFERENCES dashboards (id),
    principal    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    op_seq       INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (dashboard_id, principal, client_id, op_seq)
);
CREATE INDEX dashboard_ops_by_age ON dashboard_ops (created_at);

-- Share links, each for one role. The token is stored as its SHA-256.
CREATE TABLE dashboard_invites (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    dashboard_id TEXT NOT NULL REFERENCES dashboards (id),
    role         TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
