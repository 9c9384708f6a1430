//! Visitor cookie values: decoding never panics, and nothing decodes without
//! the server's signature.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-visitor-secret-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A forged value cannot carry the HMAC of a secret it never saw.
    assert!(server::auth::visitor::decode(SECRET, text).is_none());
});
