//! What a client sends on the event WebSocket: the dashboard request and every call message are
//! parsed without a panic, whatever the text.
#![no_main]

use huddle::realtime::{call, ws};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = ws::dashboard_request(text);
    let _ = call::parse(text, |_| Ok(()));
});
