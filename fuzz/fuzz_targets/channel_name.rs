//! Channel names: parsing never panics, and a parsed name re-parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::ChannelName;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(name) = ChannelName::parse(text) {
        assert_eq!(ChannelName::parse(name.as_str()), Ok(name.clone()));
        assert_eq!(name.as_str(), text);
    }
});
