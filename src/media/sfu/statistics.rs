//! The call-quality table moderators see: per person and slot, what they send and receive, losses,
//! jitter and the layer chosen.

use std::time::Instant;

use super::Sfu;
use super::routing::layer_now;
use crate::domain::call::Source;
use crate::ids::{PersonId, RoomId};
use crate::media::call::Member;
use crate::media::peer::SentLayer;
use crate::media::stats::{PersonStats, SlotStats, audio_jitter_ms};

impl Sfu {
    /// Each member's call now, in joining order.
    pub(super) fn stats(&self, stream: RoomId, now: Instant) -> Vec<PersonStats> {
        let Some(call) = self.calls.get(&stream) else {
            return Vec::new();
        };
        let active = |sent: &[SentLayer]| sent.iter().filter(|l| layer_now(l, now).active).count();
        let mut members: Vec<(&PersonId, &Member)> = call.members.iter().collect();
        members.sort_by_key(|(_, m)| m.order);
        members
            .into_iter()
            .filter_map(|(person, m)| {
                let peer = self.peers.get(&m.peer)?;
                let stats = peer.stats.as_ref();
                let video = peer
                    .slots
                    .iter()
                    .filter(|s| s.video)
                    .filter_map(|s| {
                        let (from, source) = s.feed?;
                        let layers = self
                            .by_person
                            .get(&(stream, from))
                            .and_then(|id| self.peers.get(id))
                            .and_then(|p| p.sent.get(&source))
                            .map_or(0, |sent| active(sent));
                        Some(SlotStats {
                            person_id: from,
                            source,
                            layer: s.layer,
                            layers,
                        })
                    })
                    .collect();
                let sent_bits: u64 = peer
                    .sent
                    .values()
                    .flatten()
                    .filter(|l| layer_now(l, now).active)
                    .map(|l| l.bitrate)
                    .sum();
                Some(PersonStats {
                    person_id: *person,
                    display_name: call.names.get(person).cloned().unwrap_or_default(),
                    room: call.locations.get(person).copied(),
                    connected: peer.connected,
                    rtt_ms: stats.and_then(|s| s.rtt).map(|d| d.as_secs_f64() * 1000.0),
                    loss_to: stats.and_then(|s| s.egress_loss_fraction),
                    loss_from: stats.and_then(|s| s.ingress_loss_fraction),
                    jitter_to_ms: peer.jitter_out.values().max().map(|j| audio_jitter_ms(*j)),
                    jitter_from_ms: peer.jitter_in.map(audio_jitter_ms),
                    sending_kbps: sent_bits / 1000,
                    receiving_kbps: peer.forwarded.1 / 1000,
                    ceiling_kbps: peer.ceiling.limit().map(|c| c / 1000),
                    camera_layers: peer.sent.get(&Source::Camera).map_or(0, |s| active(s)),
                    video,
                })
            })
            .collect()
    }
}
