//! What the SFU forwards to whom: the routes rebuilt from the call's table on every change, the
//! simulcast layer each receiver gets, its view of the slots, keyframe requests, and the forwarding
//! of each packet along the routes.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};

use super::{AUDIO_RESERVE, KEYFRAME_GAP, KEYFRAME_RETRY, LAYER_ACTIVE, Sfu};
use crate::domain::call::Source;
use crate::ids::{PersonId, RoomId};
use crate::media::call::{Call, Member};
use crate::media::layers::{self, Layer, Want};
use crate::media::peer::{Feed, Peer, PeerId, SentLayer};
use crate::media::record::{self, Take};
use crate::media::slots::{self, VideoCodec, starts_keyframe, vp8_keyframe_height};

/// A sent layer as the layer choice sees it now.
pub(super) fn layer_now(sent: &SentLayer, now: Instant) -> Layer {
    Layer {
        active: sent
            .last_packet
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_ACTIVE),
        bitrate: sent.bitrate,
        height: sent.height,
    }
}

/// Whether some receiver of the call has more sources of a kind in its room than slots for them,
/// so that who fills its slots depends on who speaks.
pub(super) fn crowded(call: &Call, peers: &HashMap<PeerId, Peer>) -> bool {
    let sends = |m: &Member| {
        let video = [Source::Camera, Source::Screen]
            .into_iter()
            .filter(|s| m.state.sends(*s))
            .count();
        (usize::from(m.state.sends(Source::Mic)), video)
    };
    let mut per_room: HashMap<RoomId, (usize, usize)> = HashMap::new();
    for (person, m) in &call.members {
        if let Some(room) = call.locations.get(person) {
            let (a, v) = sends(m);
            let total = per_room.entry(*room).or_default();
            *total = (total.0 + a, total.1 + v);
        }
    }
    call.members.iter().any(|(person, m)| {
        let Some((room_audio, room_video)) =
            call.locations.get(person).and_then(|r| per_room.get(r))
        else {
            return false;
        };
        let (a, v) = sends(m);
        peers.get(&m.peer).is_some_and(|p| {
            let video_slots = p.slots.iter().filter(|s| s.video).count();
            room_audio - a > p.slots.len() - video_slots || room_video - v > video_slots
        })
    })
}

impl Sfu {
    /// Recomputes every slot of a call from the rule, and tells receivers what changed.
    pub(super) fn refresh(&mut self, stream: RoomId, now: Instant) {
        let Some(call) = self.calls.get_mut(&stream) else {
            return;
        };
        call.dirty = false;
        let table = call.table();
        let empty = BTreeSet::new();
        let mut routes: HashMap<Feed, Vec<(PeerId, usize)>> = HashMap::new();
        let mut views = Vec::new();
        let receivers: Vec<(PersonId, PeerId)> =
            call.members.iter().map(|(p, m)| (*p, m.peer)).collect();
        for (person, peer_id) in receivers {
            let Some(peer) = self.peers.get_mut(&peer_id) else {
                continue;
            };
            let allowed = table.get(&person).unwrap_or(&empty);
            let (audio, video) = call.wanted(person, allowed);
            for (is_video, wanted) in [(false, audio), (true, video)] {
                let indexes: Vec<usize> = (0..peer.slots.len())
                    .filter(|i| peer.slots[*i].video == is_video)
                    .collect();
                let current: Vec<Option<Feed>> =
                    indexes.iter().map(|i| peer.slots[*i].feed).collect();
                let next = slots::assign(&current, &wanted);
                for (i, feed) in indexes.iter().zip(next) {
                    let slot = &mut peer.slots[*i];
                    if slot.feed != feed {
                        slot.feed = feed;
                        slot.pt_map = None;
                        // Video waits for a keyframe of the layer chosen below.
                        slot.layer = None;
                        slot.target = None;
                        if feed.is_some() {
                            slot.rewrite.switch(is_video);
                        }
                        self.metrics.slot_switches.inc();
                    }
                    slot.rank = feed
                        .and_then(|f| wanted.iter().position(|w| *w == f))
                        .unwrap_or(usize::MAX);
                    if let Some(f) = feed {
                        routes.entry(f).or_default().push((peer_id, *i));
                    }
                }
            }
            let slot_list: Vec<(String, bool, Option<Feed>)> = peer
                .slots
                .iter()
                .map(|s| (s.mid.to_string(), s.video, s.feed))
                .collect();
            let view = call.view(stream, person, peer_id, &slot_list);
            if view != peer.last_state {
                peer.last_state.clone_from(&view);
                views.push((person, view));
            }
        }
        call.routes = routes;
        for (person, view) in views {
            self.signal(stream, person, view);
        }
        self.sync_recordings(stream, now);
        self.choose_layers(stream, now);
    }

    /// Chooses, for every receiver of a call, the layer of each of its video slots (from what
    /// its sources send, the size it shows each slot at and the ceiling on its link), asks for a
    /// keyframe where a slot is to switch, and notes what it is sent and would like to be sent
    /// (for its ceiling's next report).
    pub(super) fn choose_layers(&mut self, stream: RoomId, now: Instant) {
        let Some(call) = self.calls.get(&stream) else {
            return;
        };
        let members: Vec<(PersonId, PeerId)> =
            call.members.iter().map(|(p, m)| (*p, m.peer)).collect();
        let mut sources: HashMap<Feed, Vec<Layer>> = HashMap::new();
        for (person, id) in &members {
            let Some(peer) = self.peers.get(id) else {
                continue;
            };
            for source in [Source::Camera, Source::Screen] {
                if let Some(sent) = peer.sent.get(&source) {
                    let measured = sent.iter().map(|l| layer_now(l, now)).collect();
                    sources.insert((*person, source), measured);
                }
            }
        }
        let mut asks = Vec::new();
        for (_, id) in &members {
            let Some(peer) = self.peers.get_mut(id) else {
                continue;
            };
            let mut video: Vec<usize> = (0..peer.slots.len())
                .filter(|i| peer.slots[*i].video && peer.slots[*i].feed.is_some())
                .collect();
            video.sort_by_key(|i| peer.slots[*i].rank);
            let wants: Vec<Want<'_>> = video
                .iter()
                .map(|i| {
                    let slot = &peer.slots[*i];
                    Want {
                        layers: slot
                            .feed
                            .and_then(|f| sources.get(&f))
                            .map_or(&[], Vec::as_slice),
                        height: slot.shown_height,
                        current: slot.layer,
                    }
                })
                .collect();
            let audio = AUDIO_RESERVE
                * peer
                    .slots
                    .iter()
                    .filter(|s| !s.video && s.feed.is_some())
                    .count() as u64;
            let budget = peer
                .ceiling
                .limit()
                .filter(|_| self.config.congestion)
                .map(|c| c.saturating_sub(audio));
            let chosen = layers::choose(&wants, budget);
            let ideals: Vec<Option<usize>> = wants
                .iter()
                .map(|w| layers::ideal(w.layers, w.height))
                .collect();
            peer.sending = (
                audio + layers::rate(&wants, &chosen),
                audio + layers::rate(&wants, &ideals),
            );
            for (i, target) in video.iter().zip(chosen) {
                let slot = &mut peer.slots[*i];
                if slot.target == target {
                    continue;
                }
                slot.target = target;
                match (target, slot.feed) {
                    (Some(t), Some(feed)) if slot.layer != Some(t) => asks.push((feed, t)),
                    // Paused: nothing more until the link holds it again.
                    (None, _) => slot.layer = None,
                    _ => {}
                }
            }
        }
        for ((person, source), layer) in asks {
            self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_GAP);
        }
    }

    /// A client says how large it shows its video slots.
    pub(super) fn view(&mut self, stream: RoomId, person: PersonId, heights: &[(String, u32)]) {
        let Some(peer) = self
            .by_person
            .get(&(stream, person))
            .and_then(|id| self.peers.get_mut(id))
        else {
            return self.not_in_call(stream, person);
        };
        if let Some((mid, _)) = heights
            .iter()
            .find(|(mid, _)| !peer.slots.iter().any(|s| s.video && *s.mid == **mid))
        {
            let message = format!("{mid:?} is not one of your video slots");
            return self.error(stream, person, "bad_request", &message);
        }
        for (mid, height) in heights {
            if let Some(slot) = peer.slots.iter_mut().find(|s| *s.mid == **mid) {
                slot.shown_height = Some(*height);
            }
        }
        self.relayer.insert(stream);
    }

    pub(super) fn ask_keyframe(
        &mut self,
        stream: RoomId,
        person: PersonId,
        source: Source,
        layer: usize,
        now: Instant,
        gap: Duration,
    ) {
        let Some(id) = self.by_person.get(&(stream, person)).copied() else {
            return;
        };
        if let Some(peer) = self.peers.get_mut(&id)
            && peer.request_keyframe(source, layer, now, gap)
        {
            self.metrics.keyframe_requests.inc();
            self.written.insert(id);
        }
    }

    /// Forwards one packet along its routes.
    pub(super) fn forward(&mut self, from: PeerId, packet: RtpPacket, now: Instant) {
        let Some(src) = self.peers.get_mut(&from) else {
            return;
        };
        let (stream, person) = (src.stream, src.person);
        let Some((source, layer)) = src.source_of(packet.header.ssrc) else {
            return;
        };
        let Some((in_params, codec)) = src.payload_of(packet.header.payload_type) else {
            return;
        };
        let codec = codec.filter(|_| source.is_video());
        let keyframe = codec.is_some_and(|c| starts_keyframe(c, &packet.payload));
        // Only VP8 video is recorded (the web client sends VP8; H.264 is forwarded only).
        let recordable = codec.is_none_or(|c| c == VideoCodec::Vp8);
        let taps_here = recordable && self.taps.streams.contains_key(&stream);
        if let Some(sent) = src.sent.get_mut(&source).and_then(|l| l.get_mut(layer)) {
            let was_active = sent
                .last_packet
                .is_some_and(|t| now.saturating_duration_since(t) < LAYER_ACTIVE);
            sent.bytes += packet.payload.len() as u64;
            sent.last_packet = Some(now);
            if keyframe && codec == Some(VideoCodec::Vp8) {
                sent.height = vp8_keyframe_height(&packet.payload).or(sent.height);
            }
            if !was_active && source.is_video() {
                // A layer (re)started: receivers may want it.
                self.relayer.insert(stream);
            }
        }
        let Some(call) = self.calls.get_mut(&stream) else {
            return;
        };
        if let (Source::Mic, Some(level), Some(m)) = (
            source,
            packet.header.ext_vals.audio_level,
            call.members.get_mut(&person),
        ) {
            m.hear(level, now);
        }
        let mut recording_ask = None;
        if taps_here
            && let Some(room) = call.locations.get(&person).copied()
            && call
                .members
                .get(&person)
                .is_some_and(|m| m.state.sends(source))
        {
            let active: Vec<bool> = self
                .peers
                .get(&from)
                .and_then(|p| p.sent.get(&source))
                .map(|layers| layers.iter().map(|l| layer_now(l, now).active).collect())
                .unwrap_or_default();
            match self
                .taps
                .take(stream, room, person, source, (layer, keyframe, &active))
            {
                Some((id, Take::Yes)) => {
                    if let Some(recorder) = &self.recorder {
                        recorder.packet(record::Packet {
                            id,
                            stream,
                            person,
                            source,
                            layer,
                            seq: *packet.seq_no,
                            ts: packet.header.timestamp,
                            marker: packet.header.marker,
                            payload: packet.payload.clone(),
                            at: now,
                        });
                    }
                }
                Some((_, Take::WantKeyframe(layer))) => recording_ask = Some(layer),
                _ => {}
            }
        }
        if let Some(layer) = recording_ask {
            self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_RETRY);
        }
        let Some(call) = self.calls.get_mut(&stream) else {
            return;
        };
        let Some(targets) = call.routes.get(&(person, source)) else {
            return;
        };
        let clock_rate = if source.is_video() { 90_000 } else { 48_000 };
        let seq = *packet.seq_no;
        let ts = packet.header.timestamp;
        let ext = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            ..Default::default()
        };
        for (peer_id, index) in targets {
            let Some(peer) = self.peers.get_mut(peer_id) else {
                continue;
            };
            let Some(slot) = peer.slots.get_mut(*index) else {
                continue;
            };
            if slot.video && slot.layer != Some(layer) {
                // Another layer of this source: switch to it where it was chosen and a keyframe
                // starts; until then the slot goes on with the layer it has (no freeze).
                if slot.target != Some(layer) || !keyframe {
                    continue;
                }
                slot.layer = Some(layer);
                slot.rewrite.rebase();
            }
            let pt = match slot.pt_map {
                Some((i, o)) if i == packet.header.payload_type => o,
                _ => {
                    let Some(out) = peer
                        .rtc
                        .codec_config()
                        .match_params(in_params)
                        .map(|p| p.pt())
                    else {
                        continue;
                    };
                    slot.pt_map = Some((packet.header.payload_type, out));
                    out
                }
            };
            let Some((out_seq, out_ts)) = slot.rewrite.map(seq, ts, now, clock_rate, || keyframe)
            else {
                continue;
            };
            let mid = slot.mid;
            let mut api = peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                continue;
            };
            tx.write_rtp(
                RtpWrite::new(pt, out_seq.into(), out_ts, now, packet.payload.clone())
                    .marker(packet.header.marker)
                    .ext_vals(ext.clone())
                    .nackable(source.is_video()),
            );
            self.metrics.media_packets_forwarded.inc();
            self.metrics
                .media_bytes_forwarded
                .inc_by(packet.payload.len() as u64);
            peer.forwarded.0 += packet.payload.len() as u64;
            self.written.insert(*peer_id);
        }
    }
}
