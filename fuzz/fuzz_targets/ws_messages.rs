//! What a client sends on the event WebSocket: the dashboard request and every call message are
//! parsed without a panic, whatever the text.
#![no_main]

use huddle::realtime::{call, frames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = frames::dashboard_request(text);
    let _ = call::parse(text, |_| Ok(()));
});
