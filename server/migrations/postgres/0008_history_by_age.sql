-- History retention (server/src/store/history.rs) deletes finished sessions,
-- stored webhooks and revoked sign-ins by age, a batch at a time. These
-- indexes let each batch find its rows without reading the whole table while
-- it holds the write lock (docs/PERFORMANCE.md, step 33).
CREATE INDEX connect_sessions_by_status_age ON connect_sessions (status, updated_at);
CREATE INDEX webhooks_by_age ON webhooks (received_at);
CREATE INDEX sign_ins_by_revocation ON sign_ins (revoked_at);
