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
//!
//! Here: the state, the datagrams and timers in. `peers`: the commands and the peer table;
//! `routing`: routes, layers and forwarding; `timers`: the tick and each peer's `Rtc` driven;
//! `recording`: taps of recorded rooms; `statistics`: the call-quality table.

mod peers;
mod recording;
mod routing;
mod statistics;
mod timers;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::Input;
use str0m::config::DtlsCert;
use str0m::ice::StunMessage;
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::RtpPacket;
use tracing::debug;

use super::call::Call;
use super::peer::{Feed, Peer, PeerId};
use super::record::{Recorder, Taps};
use super::stats::PersonStats;
use crate::domain::call::MediaState;
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
