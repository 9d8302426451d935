//! What the call is like for each person, for moderators (`GET /rooms/{room}/call/stats`): the
//! loss and jitter on the way to them and from them, round-trip time, what they send and receive,
//! and the layers their video slots get — so that a teacher can see who is struggling.
//!
//! The media thread builds a [`PersonStats`] per member from str0m's statistics (once a second
//! per connection) and its own measurements; nothing here is sent to anyone but the moderator who
//! asked.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::call::Source;
use crate::ids::{PersonId, RoomId};

/// One person's call, as the server sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonStats {
    /// Who.
    pub person_id: PersonId,
    /// Their display name.
    pub display_name: String,
    /// The room they are in now (`null` while their event connection is down).
    pub room: Option<RoomId>,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Round-trip time to them, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Fraction of the packets sent to them that they did not receive, over the last second.
    pub loss_to: Option<f32>,
    /// Fraction of the packets they sent that did not arrive, over the last second.
    pub loss_from: Option<f32>,
    /// Interarrival jitter of the audio they receive, as they report it, in milliseconds (the
    /// worst of their audio slots).
    pub jitter_to_ms: Option<f64>,
    /// Interarrival jitter of their microphone's audio as it arrives, in milliseconds.
    pub jitter_from_ms: Option<f64>,
    /// What they send, in kbit/s (payload, every layer).
    pub sending_kbps: u64,
    /// What the server sends them, in kbit/s (everything on the wire, over the last second).
    pub receiving_kbps: u64,
    /// The ceiling their reported loss sets on what they are sent, in kbit/s (`null`: none).
    pub ceiling_kbps: Option<u64>,
    /// How many layers of their camera arrive now (0: camera off).
    pub camera_layers: usize,
    /// Each video slot that shows someone: whose source and which of its layers.
    pub video: Vec<SlotStats>,
}

/// A video slot of a receiver.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotStats {
    /// Whose source it shows.
    pub person_id: PersonId,
    /// `camera` or `screen`.
    #[schema(value_type = String)]
    pub source: Source,
    /// The layer forwarded now, 0 the lowest (`null`: none yet, or paused).
    pub layer: Option<usize>,
    /// How many layers that source sends now.
    pub layers: usize,
}

/// Jitter in RTP timestamp units of a 48 kHz clock, in milliseconds.
pub fn audio_jitter_ms(units: u32) -> f64 {
    f64::from(units) / 48.0
}
