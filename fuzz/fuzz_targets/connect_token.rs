//! Connect tokens: verification never panics and accepts nothing unsigned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static KEYS: OnceLock<server::auth::token::TokenKeys> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let keys = KEYS.get_or_init(|| server::auth::token::TokenKeys::new("fuzz-token-secret-0123456789abcdef"));
    assert!(keys.verify(text).is_err(), "a fuzzer cannot sign tokens");
});
