//! The selective forwarding unit, sans I/O: datagrams, commands and time go in; datagrams to send
//! and signalling frames for people come out. The UDP thread (`media::udp`) and the routing tests
//! drive the same code, the tests on simulated time.
//!
//! Invariants:
//! - a datagram finds its peer through a map from remote address; an unknown address is only
//!   learnt from a STUN request whose username names a peer's ICE fragment (and which that peer's
//!   `Rtc` accepts); anything else from an unknown address is dropped;
//! - a packet is forwarded only along `Call::routes`, which are rebuilt from
//!   [`crate::domain::call::table`] whenever locations, membership or media states change, before
//!   any further packet is handled;
//! - a peer that does not connect within `connect_timeout`, or is not heard from for
//!   `idle_timeout`, is removed with everything that pointed at it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::config::DtlsCert;
use str0m::ice::StunMessage;
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};
use str0m::{Event, IceConnectionState, Input, Output};
use tracing::{debug, info};

use super::call::{Call, Member};
use super::congestion::Report;
use super::layers::{self, Layer, Want};
use super::offer;
use super::peer::{Feed, Peer, PeerId, SentLayer, Setup};
use super::record::{self, Note, Recorder, Take, Tap, Taps};
use super::slots::{self, VideoCodec, starts_keyframe, vp8_keyframe_height};
use super::stats::{PersonStats, SlotStats, audio_jitter_ms};
use crate::domain::call::{MediaState, Source};
use crate::ids::{PersonId, RecordingId, RoomId};
use crate::metrics::Metrics;

/// How often speakers are re-ranked, speaking flags settled and silent peers dropped.
const TICK: Duration = Duration::from_millis(200);
/// The least time between two keyframe requests to one source.
const KEYFRAME_GAP: Duration = Duration::from_millis(300);
/// How long a slot waits for a keyframe before asking again.
const KEYFRAME_RETRY: Duration = Duration::from_millis(600);
/// Remote addresses remembered per peer.
const MAX_ADDRS: usize = 8;
/// The grid str0m's timers are rounded up to.
const TIMER_SLACK: Duration = Duration::from_millis(5);
/// A sent layer counts as active while its packets keep coming within this time.
const LAYER_ACTIVE: Duration = Duration::from_secs(1);
/// What a forwarded audio slot is reckoned to need of a receiver's link (Opus and its headers),
/// in bits/s, before video gets the rest.
const AUDIO_RESERVE: u64 = 50_000;

/// Settings of the media server.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The host candidate offered to clients (the public address and the UDP port).
    pub candidate: SocketAddr,
    /// Whether clients are also offered ICE over TCP on the same address and port.
    pub tcp: bool,
    /// Most audio receive slots a client may offer.
    pub audio_slots: usize,
    /// Most video receive slots a client may offer.
    pub video_slots: usize,
    /// A peer must connect (ICE and DTLS) within this time.
    pub connect_timeout: Duration,
    /// A connected peer not heard from for this long is dropped.
    pub idle_timeout: Duration,
    /// Whether each receiver's layers are fitted under the ceiling its reported loss sets
    /// (`media::congestion`); without, every slot gets the layer its tile asks for.
    pub congestion: bool,
    /// The label of the cluster node this media server belongs to (`cluster::call_label`),
    /// named in each `call_answer` so that a client can tell when its room's call has moved to
    /// another node (`None`: no cluster).
    pub node: Option<String>,
}

/// A video slot's mid, the layer forwarded into it now, and the layer chosen for it.
pub type SlotLayers = (String, Option<usize>, Option<usize>);

/// What the room actors (and, through them, clients) ask of the media server.
#[derive(Debug)]
pub enum Command {
    /// Where people of a main room are now; `None` means not connected (or no longer a member).
    Locations {
        /// The main room.
        stream: RoomId,
        /// Each person's location and display name.
        people: Vec<(PersonId, Option<(RoomId, String)>)>,
    },
    /// Join the call with an offer (replaces an earlier peer of the same person).
    Join {
        /// The main room.
        stream: RoomId,
        /// Who.
        person: PersonId,
        /// The SDP offer.
        sdp: String,
        /// What they send from the start.
        state: MediaState,
    },
    /// Restart ICE on the person's existing connection with a new offer of the same m-lines.
    Restart {
        /// The main room.
        stream: RoomId,
        /// Who.
        person: PersonId,
        /// The SDP offer with new ICE credentials.
        sdp: String,
    },
    /// Leave the call.
    Leave {
        /// The main room.
        stream: RoomId,
        /// Who.
        person: PersonId,
    },
    /// A member turned a source on or off.
    Media {
        /// The main room.
        stream: RoomId,
        /// Who.
        person: PersonId,
        /// Microphone on.
        mic: bool,
        /// Camera on.
        camera: bool,
        /// Screen shared.
        screen: bool,
    },
    /// A moderator muted someone's microphone.
    Mute {
        /// The main room.
        stream: RoomId,
        /// Whose microphone.
        target: PersonId,
        /// The moderator, to tell the target.
        by: PersonId,
        /// Their display name.
        by_name: String,
    },
    /// How large a client shows its video slots (device pixels high), for the layer choice.
    View {
        /// The main room.
        stream: RoomId,
        /// Whose slots.
        person: PersonId,
        /// Each slot's mid and height (0: not shown).
        heights: Vec<(String, u32)>,
    },
    /// Keep one person's camera in view (or stop, with `None`).
    Pin {
        /// The main room.
        stream: RoomId,
        /// Who pins.
        person: PersonId,
        /// Whom.
        pin: Option<PersonId>,
    },
    /// Someone lost access to the main room: end their call.
    Evict {
        /// The main room.
        stream: RoomId,
        /// Who.
        person: PersonId,
    },
    /// End a main room's call: it was deleted (`room_deleted`), or its call moved to another
    /// node's media server (`moved`).
    Close {
        /// The main room.
        stream: RoomId,
        /// Why, as `call_ended` tells each member.
        reason: &'static str,
    },
    /// Start recording the call of `room` (the main room or one of its breakout rooms) into
    /// `dir`.
    Record {
        /// The main room.
        stream: RoomId,
        /// The recorded room.
        room: RoomId,
        /// The recording.
        id: RecordingId,
        /// Where its files go.
        dir: std::path::PathBuf,
    },
    /// Stop recording `room`; `done` is told once its files are on disk.
    StopRecording {
        /// The main room.
        stream: RoomId,
        /// The recorded room.
        room: RoomId,
        /// Told when the files are closed.
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
    /// How the call is for each member, for a moderator.
    Stats {
        /// The main room.
        stream: RoomId,
        /// Where to send the answer.
        reply: tokio::sync::oneshot::Sender<Vec<PersonStats>>,
    },
}

impl Command {
    /// The main room it is about.
    pub fn stream(&self) -> RoomId {
        match self {
            Command::Locations { stream, .. }
            | Command::Join { stream, .. }
            | Command::Restart { stream, .. }
            | Command::Leave { stream, .. }
            | Command::Media { stream, .. }
            | Command::Mute { stream, .. }
            | Command::View { stream, .. }
            | Command::Pin { stream, .. }
            | Command::Evict { stream, .. }
            | Command::Close { stream, .. }
            | Command::Record { stream, .. }
            | Command::StopRecording { stream, .. }
            | Command::Stats { stream, .. } => *stream,
        }
    }
}

/// A frame for one person's WebSocket connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The main room.
    pub stream: RoomId,
    /// Who.
    pub person: PersonId,
    /// The JSON frame.
    pub frame: String,
}

/// Someone is in a call sending `state` now, or left it (`None`): for the session report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPresence {
    /// The main room.
    pub stream: RoomId,
    /// Who.
    pub person: PersonId,
    /// What they send, if in the call.
    pub state: Option<MediaState>,
}

/// The media server's state.
pub struct Sfu {
    config: SfuConfig,
    cert: DtlsCert,
    metrics: Arc<Metrics>,
    peers: HashMap<PeerId, Peer>,
    by_addr: HashMap<SocketAddr, PeerId>,
    by_ufrag: HashMap<String, PeerId>,
    by_person: HashMap<(RoomId, PersonId), PeerId>,
    calls: HashMap<RoomId, Call>,
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    next_tick: Option<Instant>,
    next_id: PeerId,
    /// Packets received and not yet forwarded.
    incoming: VecDeque<(PeerId, RtpPacket)>,
    /// Keyframe requests from receivers, by slot.
    keyframe_asks: VecDeque<(PeerId, str0m::media::Mid)>,
    /// Peers that had an input and must be polled before anything else happens to them.
    touched: HashSet<PeerId>,
    /// Peers that were only written to (forwarded packets, keyframe requests): polled once for a
    /// whole batch of datagrams, when the transmits are taken, so that a receiver's `Rtc` is
    /// walked once per batch rather than once per packet.
    written: HashSet<PeerId>,
    /// Some call's slots must be recomputed.
    any_dirty: bool,
    /// Calls whose layers must be chosen again (a layer started, a tile changed size).
    relayer: HashSet<RoomId>,
    /// When sent layers were last measured.
    measured: Instant,
    /// Peers to remove, with the reason.
    doomed: Vec<(PeerId, &'static str)>,
    transmits: VecDeque<Transmit>,
    signals: VecDeque<Signal>,
    /// Who joined a call, changed what they send or left, for the room actors.
    presence: VecDeque<CallPresence>,
    /// The time of the latest input.
    now: Instant,
    /// The origin of the timer grid.
    epoch: Instant,
    /// The recorder's thread, if recording is possible.
    recorder: Option<Recorder>,
    /// The rooms being recorded.
    taps: Taps,
}

impl Sfu {
    /// A media server with no calls; `cert` is shared by every peer's DTLS.
    pub fn new(config: SfuConfig, cert: DtlsCert, metrics: Arc<Metrics>) -> Sfu {
        Sfu {
            config,
            cert,
            metrics,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_person: HashMap::new(),
            calls: HashMap::new(),
            timers: BinaryHeap::new(),
            next_tick: None,
            next_id: 1,
            incoming: VecDeque::new(),
            keyframe_asks: VecDeque::new(),
            touched: HashSet::new(),
            written: HashSet::new(),
            any_dirty: false,
            relayer: HashSet::new(),
            measured: Instant::now(),
            doomed: Vec::new(),
            transmits: VecDeque::new(),
            signals: VecDeque::new(),
            presence: VecDeque::new(),
            now: Instant::now(),
            epoch: Instant::now(),
            recorder: None,
            taps: Taps::default(),
        }
    }

    /// Lets calls be recorded through `recorder`.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// The next datagram to send. Call it after each batch of inputs: it first polls the peers
    /// that packets were forwarded to.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.transmits.is_empty() && !self.written.is_empty() {
            let now = self.now;
            let written: Vec<PeerId> = self.written.drain().collect();
            for id in written {
                self.drain(id);
            }
            // Polling a receiver yields only datagrams and timers; anything else it produced
            // (a failure) is settled at once.
            self.settle(now);
        }
        self.transmits.pop_front()
    }

    /// The next frame for a person.
    pub fn poll_signal(&mut self) -> Option<Signal> {
        self.signals.pop_front()
    }

    /// The next news of who is in a call, sending what.
    pub fn poll_presence(&mut self) -> Option<CallPresence> {
        self.presence.pop_front()
    }

    /// When [`Sfu::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((t, _))| *t);
        match (timer, self.next_tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The counters it keeps.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many peers exist (for tests and metrics).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Entries of every index that points at peers (addresses, ICE fragments, people, call
    /// members): zero once every peer is gone, whatever happened to them.
    pub fn held(&self) -> usize {
        self.by_addr.len()
            + self.by_ufrag.len()
            + self.by_person.len()
            + self
                .calls
                .values()
                .map(|c| c.members.len() + c.routes.len())
                .sum::<usize>()
    }

    /// The receiving peer's slots: (mid, video, feed).
    pub fn slots_of(
        &self,
        stream: RoomId,
        person: PersonId,
    ) -> Option<Vec<(String, bool, Option<Feed>)>> {
        let peer = self.peers.get(self.by_person.get(&(stream, person))?)?;
        Some(
            peer.slots
                .iter()
                .map(|s| (s.mid.to_string(), s.video, s.feed))
                .collect(),
        )
    }

    /// The receiving peer's video slots: (mid, layer forwarded now, layer chosen).
    pub fn layers_of(&self, stream: RoomId, person: PersonId) -> Option<Vec<SlotLayers>> {
        let peer = self.peers.get(self.by_person.get(&(stream, person))?)?;
        Some(
            peer.slots
                .iter()
                .filter(|s| s.video)
                .map(|s| (s.mid.to_string(), s.layer, s.target))
                .collect(),
        )
    }

    /// The forwarding the server does now: for each receiving person, the sources in its slots.
    pub fn forwarding(&self, stream: RoomId) -> HashMap<PersonId, BTreeSet<Feed>> {
        let Some(call) = self.calls.get(&stream) else {
            return HashMap::new();
        };
        call.members
            .iter()
            .filter_map(|(person, m)| {
                let peer = self.peers.get(&m.peer)?;
                Some((*person, peer.slots.iter().filter_map(|s| s.feed).collect()))
            })
            .collect()
    }

    /// The pure rule's table for a stream, as this server knows its locations and members.
    pub fn table(&self, stream: RoomId) -> crate::domain::call::Table {
        self.calls.get(&stream).map(Call::table).unwrap_or_default()
    }

    /// Applies a command from a room actor.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.now = now;
        match command {
            Command::Locations { stream, people } => {
                let call = self.calls.entry(stream).or_default();
                for (person, located) in people {
                    match located {
                        Some((room, name)) => {
                            call.locations.insert(person, room);
                            call.names.insert(person, name);
                        }
                        None => {
                            call.locations.remove(&person);
                        }
                    }
                }
                call.dirty = true;
                self.any_dirty = true;
            }
            Command::Join {
                stream,
                person,
                sdp,
                state,
            } => self.join(now, stream, person, &sdp, state),
            Command::Restart {
                stream,
                person,
                sdp,
            } => self.restart(stream, person, &sdp),
            Command::Leave { stream, person } => self.remove_person(stream, person, "left"),
            Command::Evict { stream, person } => self.remove_person(stream, person, "removed"),
            Command::Media {
                stream,
                person,
                mic,
                camera,
                screen,
            } => {
                if let Some(m) = self.member(stream, person) {
                    // Turning the microphone on is how its owner lifts a moderator's mute.
                    let muted = m.state.muted_by_moderator && !mic;
                    m.state = MediaState {
                        mic,
                        camera,
                        screen,
                        muted_by_moderator: muted,
                    };
                    self.mark(stream);
                    self.report(stream, person);
                } else {
                    self.not_in_call(stream, person);
                }
            }
            Command::Mute {
                stream,
                target,
                by,
                by_name,
            } => {
                if let Some(m) = self.member(stream, target) {
                    m.state.muted_by_moderator = true;
                    let frame = serde_json::json!({
                        "type": "call_muted", "room": stream, "stream": stream, "by": by,
                        "by_name": by_name,
                    });
                    self.signal(stream, target, frame.to_string());
                    self.mark(stream);
                    self.report(stream, target);
                }
            }
            Command::View {
                stream,
                person,
                heights,
            } => self.view(stream, person, &heights),
            Command::Pin {
                stream,
                person,
                pin,
            } => {
                if let Some(m) = self.member(stream, person) {
                    m.pin = pin;
                    self.mark(stream);
                } else {
                    self.not_in_call(stream, person);
                }
            }
            Command::Stats { stream, reply } => {
                // The asker may have given up waiting; nothing to do then.
                let _ = reply.send(self.stats(stream, now));
            }
            Command::Record {
                stream,
                room,
                id,
                dir,
            } => self.record(stream, room, id, dir, now),
            Command::StopRecording { stream, room, done } => {
                self.stop_recording(stream, room, done, now)
            }
            Command::Close { stream, reason } => {
                let rooms: Vec<RoomId> = self
                    .taps
                    .streams
                    .get(&stream)
                    .map(|r| r.keys().copied().collect())
                    .unwrap_or_default();
                for room in rooms {
                    self.stop_recording(stream, room, None, now);
                }
                let people: Vec<PersonId> = self
                    .calls
                    .get(&stream)
                    .map(|c| c.members.keys().copied().collect())
                    .unwrap_or_default();
                for person in people {
                    self.remove_person(stream, person, reason);
                }
                self.calls.remove(&stream);
            }
        }
        self.settle(now);
    }

    /// Whether packets from `addr` reach a peer (it was introduced by a valid ICE check).
    pub fn knows(&self, addr: SocketAddr) -> bool {
        self.by_addr.contains_key(&addr)
    }

    /// Takes a datagram that arrived on the media socket (UDP), or a packet framed on one of its
    /// TCP connections (ICE-TCP).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        self.now = now;
        let Ok(contents) = bytes.try_into() else {
            self.metrics.media_dropped_datagrams.inc();
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination,
                contents,
            },
        );
        let id = match self.by_addr.get(&source) {
            Some(id) => *id,
            None => {
                // Only a STUN request naming one of our ICE fragments introduces an address.
                let found = StunMessage::parse(bytes)
                    .ok()
                    .and_then(|m| m.split_username().map(|(ours, _)| ours.to_owned()))
                    .and_then(|ours| self.by_ufrag.get(&ours).copied())
                    .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
                let Some(id) = found else {
                    self.metrics.media_dropped_datagrams.inc();
                    return;
                };
                if let Some(peer) = self.peers.get_mut(&id) {
                    if peer.addrs.len() >= MAX_ADDRS {
                        let old = peer.addrs.remove(0);
                        self.by_addr.remove(&old);
                    }
                    peer.addrs.push(source);
                    peer.new_path |= peer.connected;
                }
                self.by_addr.insert(source, id);
                id
            }
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.last_heard = now;
        // The first RTP or RTCP (first byte 128–191) on a connected peer's new path: the client
        // uses that path now, and what was in flight on the old one is lost. A keyframe from
        // each video source it receives, rather than after its own loss report.
        if peer.new_path && matches!(bytes.first(), Some(128..=191)) {
            peer.new_path = false;
            debug!(room = %peer.stream, person = %peer.person, "media on a new path");
            for slot in peer.slots.iter().filter(|s| s.video) {
                self.keyframe_asks.push_back((id, slot.mid));
            }
        }
        if let Err(e) = peer.rtc.handle_input(input) {
            debug!(peer = id, error = %e, "input refused");
        }
        self.touched.insert(id);
        self.settle(now);
    }

    /// Drives timers: str0m's, keyframe retries, speaker ranking and dropping silent peers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        // Each peer gets at most one timeout input before it is drained (str0m wants its output
        // polled after every input).
        let mut due = HashSet::new();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.scheduled == Some(at) {
                peer.scheduled = None;
            }
            if peer.next_timeout <= now {
                due.insert(id);
            }
            self.touched.insert(id);
        }
        for id in due {
            if let Some(peer) = self.peers.get_mut(&id) {
                let _ = peer.rtc.handle_input(Input::Timeout(now));
            }
        }
        if self.next_tick.is_some_and(|t| t <= now) {
            self.tick(now);
        }
        self.settle(now);
    }

    fn tick(&mut self, now: Instant) {
        self.next_tick = (!self.peers.is_empty()).then_some(now + TICK);
        for peer in self.peers.values() {
            let silent = now.saturating_duration_since(peer.last_heard);
            let age = now.saturating_duration_since(peer.created);
            if !peer.rtc.is_alive() {
                self.doomed.push((peer.id, "closed"));
            } else if !peer.connected && age > self.config.connect_timeout {
                self.doomed.push((peer.id, "connect_timeout"));
            } else if peer.connected && silent > self.config.idle_timeout {
                self.doomed.push((peer.id, "idle_timeout"));
            }
        }
        for call in self.calls.values_mut() {
            let mut changed = false;
            for m in call.members.values_mut() {
                changed |= m.settle_speaking();
            }
            // Ranking matters only where a room has more senders than some receiver has slots:
            // re-rank those calls every tick; the others only when a speaking flag changed.
            if changed || crowded(call, &self.peers) {
                call.dirty = true;
                self.any_dirty = true;
            }
        }
        // What each sent layer carries, smoothed over about a second.
        let elapsed = now.saturating_duration_since(self.measured).as_secs_f64();
        self.measured = now;
        if elapsed > 0.0 {
            let smooth = |bytes: &mut u64, bitrate: &mut u64| {
                let sample = (std::mem::take(bytes) as f64 * 8.0 / elapsed) as u64;
                *bitrate = if *bitrate == 0 {
                    sample
                } else {
                    (*bitrate * 3 + sample) / 4
                };
            };
            for peer in self.peers.values_mut() {
                for layer in peer.sent.values_mut().flatten() {
                    smooth(&mut layer.bytes, &mut layer.bitrate);
                }
                let (bytes, bitrate) = &mut peer.forwarded;
                smooth(bytes, bitrate);
            }
        }
        // Layers are chosen again with what was measured.
        self.relayer.extend(self.calls.keys().copied());
        // Slots still waiting for a keyframe of the layer chosen for them ask again.
        let mut asks = Vec::new();
        for peer in self.peers.values() {
            for slot in &peer.slots {
                if let (Some((person, source)), Some(target)) = (slot.feed, slot.target)
                    && slot.layer != Some(target)
                {
                    asks.push((peer.stream, person, source, target));
                }
            }
        }
        for (stream, person, source, layer) in asks {
            self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_RETRY);
        }
        self.recorder_asks(now);
    }

    /// Starts recording a room's call.
    fn record(
        &mut self,
        stream: RoomId,
        room: RoomId,
        id: RecordingId,
        dir: std::path::PathBuf,
        now: Instant,
    ) {
        if self.recorder.is_none() {
            tracing::warn!(%room, "no recorder: the call is not recorded");
            return;
        }
        self.stop_recording(stream, room, None, now);
        if let Some(recorder) = &self.recorder {
            recorder.send(Tap::Begin { id, dir, at: now });
        }
        self.taps.begin(stream, room, id);
        self.metrics.recordings_active.inc();
        info!(%room, recording = %id, "recording the call");
        // Everyone there gets a view saying so before the tap takes anything of theirs.
        let call = self.calls.entry(stream).or_default();
        call.recorded.insert(room);
        call.dirty = true;
        self.any_dirty = true;
    }

    /// Stops recording a room's call; `done` is told once its files are on disk.
    fn stop_recording(
        &mut self,
        stream: RoomId,
        room: RoomId,
        done: Option<tokio::sync::oneshot::Sender<()>>,
        now: Instant,
    ) {
        let Some(id) = self.taps.end(stream, room) else {
            if let Some(done) = done {
                let _ = done.send(());
            }
            return;
        };
        self.metrics.recordings_active.dec();
        info!(%room, recording = %id, "stopped recording the call");
        if let Some(call) = self.calls.get_mut(&stream) {
            call.recorded.remove(&room);
            call.dirty = true;
            self.any_dirty = true;
        }
        if let Some(recorder) = &self.recorder {
            recorder.send(Tap::End { id, at: now, done });
        }
    }

    /// Tells the recordings of a call who is present and who speaks, as it changed.
    fn sync_recordings(&mut self, stream: RoomId, now: Instant) {
        let (Some(rooms), Some(recorder)) = (self.taps.streams.get_mut(&stream), &self.recorder)
        else {
            return;
        };
        let call = self.calls.get(&stream);
        for (room, rec) in rooms.iter_mut() {
            let here: HashSet<PersonId> = call
                .map(|c| {
                    c.locations
                        .iter()
                        .filter(|(_, r)| *r == room)
                        .map(|(p, _)| *p)
                        .collect()
                })
                .unwrap_or_default();
            for person in here.difference(&rec.present) {
                let name = call
                    .and_then(|c| c.names.get(person))
                    .cloned()
                    .unwrap_or_default();
                recorder.send(Tap::Note {
                    id: rec.id,
                    at: now,
                    person: *person,
                    note: Note::Present { name },
                });
            }
            for person in rec.present.difference(&here) {
                recorder.send(Tap::Note {
                    id: rec.id,
                    at: now,
                    person: *person,
                    note: Note::Absent,
                });
            }
            rec.layers.retain(|(p, _), _| here.contains(p));
            rec.speaking.retain(|p| here.contains(p));
            rec.present = here;
            for person in &rec.present {
                let speaking = call
                    .and_then(|c| c.members.get(person))
                    .is_some_and(|m| m.speaking);
                if speaking != rec.speaking.contains(person) {
                    let note = if speaking {
                        rec.speaking.insert(*person);
                        Note::Speaking
                    } else {
                        rec.speaking.remove(person);
                        Note::Silent
                    };
                    recorder.send(Tap::Note {
                        id: rec.id,
                        at: now,
                        person: *person,
                        note,
                    });
                }
            }
        }
    }

    /// A person's peer is gone: the files of what they sent end (a new peer starts new ones,
    /// with its own timestamps).
    fn hung_up(&mut self, stream: RoomId, person: PersonId) {
        let (Some(rooms), Some(recorder)) = (self.taps.streams.get_mut(&stream), &self.recorder)
        else {
            return;
        };
        for rec in rooms.values_mut().filter(|r| r.present.contains(&person)) {
            rec.layers.retain(|(p, _), _| *p != person);
            recorder.send(Tap::Note {
                id: rec.id,
                at: self.now,
                person,
                note: Note::HungUp,
            });
        }
    }

    /// Keyframes the recorder waits for (a gap in a recorded video).
    fn recorder_asks(&mut self, now: Instant) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let asks: Vec<(RoomId, PersonId, Source)> = match recorder.asks.lock() {
            Ok(mut asks) => asks.drain().collect(),
            Err(_) => return,
        };
        for (stream, person, source) in asks {
            if let Some(layer) = self.taps.layer_of(stream, person, source) {
                self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_RETRY);
            }
        }
    }

    fn member(&mut self, stream: RoomId, person: PersonId) -> Option<&mut Member> {
        self.calls.get_mut(&stream)?.members.get_mut(&person)
    }

    fn mark(&mut self, stream: RoomId) {
        if let Some(call) = self.calls.get_mut(&stream) {
            call.dirty = true;
            self.any_dirty = true;
        }
    }

    /// Tells the room's actor what `person` sends in the call now (nothing: not in it).
    fn report(&mut self, stream: RoomId, person: PersonId) {
        let state = self
            .calls
            .get(&stream)
            .and_then(|c| c.members.get(&person))
            .map(|m| m.state);
        self.presence.push_back(CallPresence {
            stream,
            person,
            state,
        });
    }

    fn signal(&mut self, stream: RoomId, person: PersonId, frame: String) {
        self.signals.push_back(Signal {
            stream,
            person,
            frame,
        });
    }

    fn error(&mut self, stream: RoomId, person: PersonId, code: &str, message: &str) {
        let frame = serde_json::json!({
            "type": "call_error", "room": stream, "stream": stream, "code": code, "message": message,
        });
        self.signal(stream, person, frame.to_string());
    }

    fn not_in_call(&mut self, stream: RoomId, person: PersonId) {
        self.error(stream, person, "not_in_call", "join the call first");
    }

    fn join(
        &mut self,
        now: Instant,
        stream: RoomId,
        person: PersonId,
        sdp: &str,
        state: MediaState,
    ) {
        let shape = match offer::check(sdp, self.config.audio_slots, self.config.video_slots) {
            Ok(shape) => shape,
            Err(e) => return self.error(stream, person, e.code, &e.message),
        };
        let id = self.next_id;
        let setup = Setup {
            cert: &self.cert,
            candidate: self.config.candidate,
            tcp: self.config.tcp,
        };
        let (peer, answer) = match Peer::accept(id, stream, person, sdp, &shape, &setup, now) {
            Ok(ok) => ok,
            Err(message) => return self.error(stream, person, "sdp_invalid", &message),
        };
        self.next_id += 1;
        if self.by_person.contains_key(&(stream, person)) {
            self.remove_person(stream, person, "replaced");
        }
        info!(room = %stream, person = %person, call_id = id, "joined the call");
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        self.by_person.insert((stream, person), id);
        self.peers.insert(id, peer);
        self.touched.insert(id);
        self.metrics.call_peers.inc();
        let call = self.calls.entry(stream).or_default();
        call.joins += 1;
        call.members
            .insert(person, Member::new(id, state, call.joins));
        call.dirty = true;
        self.any_dirty = true;
        self.report(stream, person);
        if self.next_tick.is_none() {
            self.next_tick = Some(now + TICK);
        }
        let mut frame = serde_json::json!({
            "type": "call_answer", "room": stream, "stream": stream, "call_id": id, "sdp": answer,
        });
        if let Some(node) = &self.config.node {
            frame["node"] = node.as_str().into();
        }
        self.signal(stream, person, frame.to_string());
    }

    fn restart(&mut self, stream: RoomId, person: PersonId, sdp: &str) {
        let Some(id) = self.by_person.get(&(stream, person)).copied() else {
            return self.not_in_call(stream, person);
        };
        let shape = match offer::check(sdp, self.config.audio_slots, self.config.video_slots) {
            Ok(shape) => shape,
            Err(e) => return self.error(stream, person, e.code, &e.message),
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let old = peer.ufrag.clone();
        let answer = match peer.restart(sdp, &shape) {
            Ok(answer) => answer,
            Err(message) => return self.error(stream, person, "sdp_invalid", &message),
        };
        info!(room = %stream, person = %person, call_id = id, "ICE restart");
        self.by_ufrag.remove(&old);
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        self.touched.insert(id);
        let frame = serde_json::json!({
            "type": "call_answer", "room": stream, "stream": stream, "call_id": id, "sdp": answer,
            "restart": true,
        });
        self.signal(stream, person, frame.to_string());
    }

    fn remove_person(&mut self, stream: RoomId, person: PersonId, reason: &'static str) {
        match self.by_person.get(&(stream, person)) {
            Some(id) => {
                let id = *id;
                self.remove_peer(id, reason);
            }
            None if reason == "left" => self.not_in_call(stream, person),
            None => {}
        }
    }

    fn remove_peer(&mut self, id: PeerId, reason: &'static str) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        info!(room = %peer.stream, person = %peer.person, call_id = id, reason, "left the call");
        peer.rtc.disconnect();
        for addr in &peer.addrs {
            self.by_addr.remove(addr);
        }
        self.by_ufrag.remove(&peer.ufrag);
        if self.by_person.get(&(peer.stream, peer.person)) == Some(&id) {
            self.by_person.remove(&(peer.stream, peer.person));
        }
        self.touched.remove(&id);
        self.written.remove(&id);
        if let Some(call) = self.calls.get_mut(&peer.stream)
            && call.members.get(&peer.person).is_some_and(|m| m.peer == id)
        {
            call.members.remove(&peer.person);
            call.dirty = true;
            self.any_dirty = true;
            self.report(peer.stream, peer.person);
        }
        self.metrics.call_peers.dec();
        self.hung_up(peer.stream, peer.person);
        if reason != "left" && reason != "replaced" {
            self.metrics.call_peers_dropped.inc();
        }
        let frame = serde_json::json!({
            "type": "call_ended", "room": peer.stream, "stream": peer.stream, "call_id": id, "reason": reason,
        });
        self.signal(peer.stream, peer.person, frame.to_string());
    }

    /// Runs everything that follows from an input until nothing is left: peers' output, routing
    /// changes, forwarding, and removals.
    fn settle(&mut self, now: Instant) {
        loop {
            let touched: Vec<PeerId> = self.touched.drain().collect();
            for id in &touched {
                self.drain(*id);
            }
            if std::mem::take(&mut self.any_dirty) {
                let dirty: Vec<RoomId> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.dirty)
                    .map(|(s, _)| *s)
                    .collect();
                for stream in dirty {
                    self.refresh(stream, now);
                }
            }
            if !self.doomed.is_empty() {
                for (id, reason) in std::mem::take(&mut self.doomed) {
                    self.remove_peer(id, reason);
                }
                continue;
            }
            while let Some((from, packet)) = self.incoming.pop_front() {
                self.forward(from, packet, now);
            }
            // A receiver asked for a keyframe on a slot: ask that slot's source.
            while let Some((peer, mid)) = self.keyframe_asks.pop_front() {
                let feed = self.peers.get(&peer).and_then(|p| {
                    let slot = p.slots.iter().find(|s| s.mid == mid)?;
                    Some((p.stream, slot.feed?, slot.layer.or(slot.target)?))
                });
                if let Some((stream, (person, source), layer)) = feed {
                    self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_GAP);
                }
            }
            for stream in std::mem::take(&mut self.relayer) {
                self.choose_layers(stream, now);
            }
            if self.touched.is_empty() && !self.any_dirty {
                break;
            }
        }
    }

    /// Polls one peer's `Rtc` until it only has a timeout left.
    fn drain(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        loop {
            match peer.rtc.poll_output() {
                Ok(Output::Transmit(t)) => self.transmits.push_back(t),
                Ok(Output::Timeout(t)) => {
                    // Timer slack: str0m's housekeeping (NACK, TWCC, reports, ICE) waits for the
                    // next tick of a TIMER_SLACK grid, so that what is due close together runs in
                    // one wake-up. Media never waits for a timer: forwarded packets go out when
                    // the receiver is polled after its batch.
                    let t = slack_grid(self.epoch, t);
                    peer.next_timeout = t;
                    if peer.scheduled.is_none_or(|s| t < s) {
                        peer.scheduled = Some(t);
                        self.timers.push(Reverse((t, id)));
                    }
                    break;
                }
                Ok(Output::Event(event)) => match event {
                    Event::Connected => {
                        peer.connected = true;
                        debug!(room = %peer.stream, person = %peer.person, "media connected");
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        debug!(room = %peer.stream, person = %peer.person, "ICE disconnected");
                    }
                    Event::RtpPacket(packet) => self.incoming.push_back((id, packet)),
                    Event::KeyframeRequest(req) => self.keyframe_asks.push_back((id, req.mid)),
                    Event::PeerStats(stats) => {
                        if let Some(loss) = stats.egress_loss_fraction {
                            let (sending, wanted) = peer.sending;
                            let report = Report {
                                loss,
                                sending,
                                wanted,
                            };
                            peer.ceiling.update(self.now, report);
                        }
                        peer.stats = Some(stats);
                    }
                    Event::MediaIngressStats(stats)
                        if peer.send_mids.get(&stats.mid) == Some(&Source::Mic) =>
                    {
                        peer.jitter_in = Some(stats.jitter);
                    }
                    Event::MediaEgressStats(stats) => {
                        let audio = peer.slots.iter().any(|s| s.mid == stats.mid && !s.video);
                        if let (true, Some(remote)) = (audio, stats.remote) {
                            peer.jitter_out.insert(stats.mid, remote.jitter);
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    debug!(peer = id, error = %e, "peer failed");
                    self.doomed.push((id, "failed"));
                    break;
                }
            }
            if !peer.rtc.is_alive() {
                self.doomed.push((id, "closed"));
                break;
            }
        }
    }

    /// Recomputes every slot of a call from the rule, and tells receivers what changed.
    fn refresh(&mut self, stream: RoomId, now: Instant) {
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
    fn choose_layers(&mut self, stream: RoomId, now: Instant) {
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

    /// Each member's call now, in joining order.
    fn stats(&self, stream: RoomId, now: Instant) -> Vec<PersonStats> {
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

    /// A client says how large it shows its video slots.
    fn view(&mut self, stream: RoomId, person: PersonId, heights: &[(String, u32)]) {
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

    fn ask_keyframe(
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
    fn forward(&mut self, from: PeerId, packet: RtpPacket, now: Instant) {
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

/// A sent layer as the layer choice sees it now.
fn layer_now(sent: &SentLayer, now: Instant) -> Layer {
    Layer {
        active: sent
            .last_packet
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_ACTIVE),
        bitrate: sent.bitrate,
        height: sent.height,
    }
}

/// `t` rounded up to the timer grid that starts at `epoch`.
fn slack_grid(epoch: Instant, t: Instant) -> Instant {
    let Some(since) = t.checked_duration_since(epoch) else {
        return t;
    };
    let slack = TIMER_SLACK.as_nanos();
    let ticks = since.as_nanos().div_ceil(slack);
    epoch + Duration::from_nanos((ticks * slack) as u64)
}

/// Whether some receiver of the call has more sources of a kind in its room than slots for them,
/// so that who fills its slots depends on who speaks.
fn crowded(call: &Call, peers: &HashMap<PeerId, Peer>) -> bool {
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
