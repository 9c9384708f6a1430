//! Webhook credentials from hostile headers: signatures, timestamps (absurd
//! ones included), keys and org ids. Never panics; only the right key and
//! org pass the key check.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-webhook-secret-0123456789abcdef";
const ORG: &str = "fuzz-org";

fuzz_target!(|input: (Vec<u8>, String, String, String, String, i64)| {
    let (body, signature, timestamp, key, org, now) = input;
    let mut headers = HeaderMap::new();
    for (name, value) in [("x-signature", &signature), ("x-timestamp", &timestamp), ("x-api-key", &key), ("x-org-id", &org)] {
        if value.is_empty() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    let verdict = server::webhook::verify::check(&headers, &body, SECRET, ORG, now, 300_000);
    if verdict.is_ok() && !headers.contains_key("x-signature") {
        assert_eq!(headers.get("x-api-key").map(|v| v.as_bytes()), Some(SECRET.as_bytes()));
        assert_eq!(headers.get("x-org-id").map(|v| v.as_bytes()), Some(ORG.as_bytes()));
    }
});
