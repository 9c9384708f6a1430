//! Integration tests: the whole application on port 0 with a fresh database,
//! driven over real HTTP and real WebSockets.
//!
//! Runs on SQLite by default. With `BEACON_TEST_POSTGRES_URL` set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), every test gets its own fresh
//! Postgres database instead; an unreachable server fails the tests.

mod helpers;

mod api_listener;
mod bad_input;
mod chat;
mod chat_list;
mod chat_signals;
mod chat_writer;
mod compression;
mod connect;
mod connect_endings;
mod dashboards;
mod foundation;
mod hardening;
mod history;
mod inbox;
mod lifecycle;
mod limits;
mod log_heads;
mod log_writer;
mod parking;
mod realtime;
mod realtime_access;
mod realtime_limits;
mod realtime_ops;
mod reconnect;
mod rendering;
mod retention;
mod scrape;
mod site_files;
