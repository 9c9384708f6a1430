//! Configuration validation: every refusal names its variable.

use std::collections::HashMap;

use super::*;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

fn error_names(pairs: &[(&str, &str)], variable: &str) {
    let err = config(pairs).expect_err("must be refused").to_string();
    assert!(err.starts_with(variable), "{pairs:?}: {err}");
}

#[test]
fn defaults_are_loopback_and_sqlite() {
    let c = config(&[]).unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
    assert_eq!(c.database_url, "sqlite://data/beacon.db");
    assert_eq!(c.heartbeat_interval, Duration::from_secs(25));
    assert!(c.publish_key.is_none());
    assert!(!c.https);
    assert!(!c.socket_heartbeat_on_task, "heartbeats of parked sockets take no task by default");
}

#[test]
fn bad_values_name_the_variable() {
    error_names(&[("BEACON_BIND", "nowhere")], "BEACON_BIND");
    error_names(&[("BEACON_API_BIND", "nowhere")], "BEACON_API_BIND");
    error_names(&[("BEACON_API_BIND", "127.0.0.1:3000")], "BEACON_API_BIND");
    error_names(&[("BEACON_OUTBOUND_QUEUE", "-1")], "BEACON_OUTBOUND_QUEUE");
    error_names(&[("BEACON_OUTBOUND_QUEUE", "0")], "BEACON_OUTBOUND_QUEUE");
    error_names(&[("BEACON_SECRET", "short")], "BEACON_SECRET");
    error_names(&[("BEACON_HEARTBEAT_SECS", "0")], "BEACON_HEARTBEAT_SECS");
    error_names(&[("BEACON_HEARTBEAT_MS", "0")], "BEACON_HEARTBEAT_MS");
    error_names(&[("BEACON_HEARTBEAT_GRACE_SECS", "0")], "BEACON_HEARTBEAT_GRACE_SECS");
    error_names(&[("BEACON_SOCKET_PARK_AFTER_MS", "0")], "BEACON_SOCKET_PARK_AFTER_MS");
    error_names(&[("BEACON_SOCKET_INLINE_MAX_LISTENERS", "65")], "BEACON_SOCKET_INLINE_MAX_LISTENERS");
    error_names(&[("BEACON_SOCKET_HEARTBEAT_ON_TASK", "sometimes")], "BEACON_SOCKET_HEARTBEAT_ON_TASK");
    error_names(&[("BEACON_LONG_POLL_SECS", "40")], "BEACON_LONG_POLL_SECS");
    error_names(&[("BEACON_LONG_POLL_SECS", "31")], "BEACON_LONG_POLL_SECS");
    // Would overflow `* 1000` or `* 86400`, or the i64 milliseconds later.
    error_names(&[("BEACON_HEARTBEAT_SECS", "18446744073709551615")], "BEACON_HEARTBEAT_SECS");
    error_names(&[("BEACON_HISTORY_DAYS", "213503982334601")], "BEACON_HISTORY_DAYS");
    error_names(&[("BEACON_RETENTION_SECS", "99999999999")], "BEACON_RETENTION_SECS");
    error_names(&[("BEACON_DB_MAX_CONNECTIONS", "4294967297")], "BEACON_DB_MAX_CONNECTIONS");
    error_names(&[("BEACON_PUBLISH_KEY", "short-publish-key")], "BEACON_PUBLISH_KEY");
    error_names(&[("BEACON_ADMIN_KEY", "short-admin-key")], "BEACON_ADMIN_KEY");
    error_names(&[("BEACON_PUBLIC_URL", "ftp://example.org")], "BEACON_PUBLIC_URL");
    error_names(&[("BEACON_PUBLIC_URL", "https://example.org/app")], "BEACON_PUBLIC_URL");
    error_names(&[("BEACON_TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip")], "BEACON_TRUSTED_PROXIES");
    error_names(&[("BEACON_SECURE_COOKIES", "true")], "BEACON_SECURE_COOKIES");
    error_names(&[("BEACON_DEV_AGENT_TOKEN", "short")], "BEACON_DEV_AGENT_TOKEN");
    error_names(&[("BEACON_SHARE_DEADLINE_SECS", "10")], "BEACON_SHARE_DEADLINE_SECS");
    error_names(&[("BEACON_CRITICAL_CATEGORIES", "Security Alerts")], "BEACON_CRITICAL_CATEGORIES");
}

#[test]
fn long_enough_keys_and_a_long_poll_inside_the_timeout_are_accepted() {
    let key = "k".repeat(MIN_SECRET_LEN);
    let c = config(&[
        ("BEACON_PUBLISH_KEY", &key),
        ("BEACON_ADMIN_KEY", &key),
        ("BEACON_LONG_POLL_SECS", "30"),
        ("BEACON_HEARTBEAT_MS", "150"),
    ])
    .unwrap();
    assert_eq!(c.long_poll_wait, Duration::from_secs(30));
    assert_eq!(c.heartbeat_interval, Duration::from_millis(150));
}

#[test]
fn https_public_urls_make_cookies_secure() {
    assert!(config(&[("BEACON_PUBLIC_URL", "https://beacon.example.org/")]).unwrap().https);
    assert!(!config(&[("BEACON_PUBLIC_URL", "http://192.168.1.20:3000")]).unwrap().https);
}

#[test]
fn the_dev_agent_refuses_a_network_bind_unless_allowed() {
    if !DEV_AGENT_BUILT {
        error_names(&[], "BEACON_AGENT");
        return;
    }
    error_names(&[("BEACON_BIND", "0.0.0.0:3000")], "BEACON_BIND");
    error_names(&[("BEACON_BIND", "192.168.1.20:3000")], "BEACON_BIND");
    let allowed =
        config(&[("BEACON_BIND", "0.0.0.0:3000"), ("BEACON_DEV_AGENT_ALLOW_REMOTE", "true")]).unwrap();
    assert!(allowed.dev_agent().is_some_and(|d| d.allow_remote));
    assert!(config(&[("BEACON_BIND", "[::1]:3000")]).is_ok());
    let key = "k".repeat(MIN_SECRET_LEN);
    let confirmd = [
        ("BEACON_BIND", "0.0.0.0:3000"),
        ("BEACON_AGENT", "confirmd"),
        ("CONFIRMD_BASE_URL", "https://p.example/api"),
        ("CONFIRMD_AUTH_URL", "https://p.example/token"),
        ("CONFIRMD_CLIENT_ID", "beacon"),
        ("CONFIRMD_CLIENT_SECRET", key.as_str()),
        ("CONFIRMD_ORG_ID", "org"),
        ("CONFIRMD_WEBHOOK_SECRET", key.as_str()),
        ("CONFIRMD_SCHEMA_ID", "s"),
        ("CONFIRMD_CRED_DEF_ID", "c"),
    ];
    assert!(config(&confirmd).unwrap().dev_agent().is_none());
}

#[test]
fn secrets_never_print() {
    let c = config(&[("BEACON_PUBLISH_KEY", "hunter2hunter2hunter2hunter2hunter2")]).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn several_nodes_need_redis_and_postgres() {
    let pg = ("DATABASE_URL", "postgres://beacon@db/beacon");
    let c = config(&[pg, ("BEACON_BUS", "redis"), ("REDIS_URL", "redis://cache:6379")]).unwrap();
    assert_eq!(c.cluster.bus, cluster::BusKind::Redis { url: "redis://cache:6379".into() });
    assert_eq!(c.cluster.redis_prefix, "beacon");
    assert!(!config(&[]).unwrap().cluster.is_multi_node(), "one node by default");
    error_names(&[pg, ("BEACON_BUS", "redis")], "REDIS_URL");
    error_names(&[pg, ("BEACON_BUS", "redis"), ("REDIS_URL", "http://cache")], "REDIS_URL");
    // Two nodes cannot share one SQLite event log.
    error_names(&[("BEACON_BUS", "redis"), ("REDIS_URL", "redis://cache")], "BEACON_BUS");
    error_names(&[("BEACON_BUS", "kafka")], "BEACON_BUS");
    error_names(&[("BEACON_REDIS_PREFIX", "has space")], "BEACON_REDIS_PREFIX");
    error_names(&[("BEACON_NODE_ID", "a/b")], "BEACON_NODE_ID");
}

#[cfg(feature = "dev-agent")]
#[test]
fn a_shared_dev_agent_needs_its_secrets_and_a_loopback_webhook_target() {
    let shared = ("BEACON_DEV_AGENT_SHARED", "true");
    let url = ("BEACON_DEV_AGENT_WEBHOOK_URL", "http://127.0.0.1:3001/api/webhooks/confirmd");
    let client = ("BEACON_DEV_AGENT_CLIENT_SECRET", "client-secret-0123456789abcdefghijklmn");
    let webhook = ("BEACON_DEV_AGENT_WEBHOOK_SECRET", "webhook-secret-0123456789abcdefghijklm");
    assert!(config(&[shared, url, client, webhook]).unwrap().dev_agent().unwrap().shared.is_some());
    error_names(&[shared, client, webhook], "BEACON_DEV_AGENT_WEBHOOK_URL");
    error_names(&[shared, url, webhook], "BEACON_DEV_AGENT_CLIENT_SECRET");
    error_names(
        &[shared, url, client, ("BEACON_DEV_AGENT_WEBHOOK_SECRET", "short")],
        "BEACON_DEV_AGENT_WEBHOOK_SECRET",
    );
    let remote = ("BEACON_DEV_AGENT_WEBHOOK_URL", "http://10.0.0.5:3000/api/webhooks/confirmd");
    error_names(&[shared, remote, client, webhook], "BEACON_DEV_AGENT_WEBHOOK_URL");
}
