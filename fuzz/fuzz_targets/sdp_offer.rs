//! A client's SDP offer (`call_join`, `call_restart`): Huddle's shape check and, for an offer it
//! accepts, str0m's parser, both without a panic.
#![no_main]

use huddle::media::offer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|sdp: &str| {
    if offer::check(sdp, 8, 9).is_ok() {
        let _ = str0m::change::SdpOffer::from_sdp_string(sdp);
    }
});
