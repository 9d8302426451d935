//! A synthetic call participant: a str0m peer that offers Huddle's call shape, sends numbered
//! Opus- and VP8-shaped packets, and records what reaches each of its slots.
//!
//! Every payload ends with the sender's index, so a receiver can tell exactly whose media reached
//! which slot; a video payload's byte before it is the simulcast layer (0 without simulcast).
//! Audio goes every 20 ms with an RFC 6464 level; video every 33 ms, a keyframe when the server
//! asks (PLI) and every 90 frames. A keyframe carries a VP8 frame header with its size: the top
//! layer is 1280×720, each lower one half of the one above. With [`Synthetic::new_simulcast`] the
//! camera goes in up to three layers (`q`, `h`, `f`, lowest first). It is sans I/O like the SFU: the routing tests drive
//! it on simulated time, the end-to-end tests and the benchmark over real UDP.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::slots::{VideoCodec, starts_keyframe};
use crate::domain::call::MediaState;

/// What a participant received on one of its slots.
#[derive(Debug, Clone)]
pub struct Got {
    /// The RTP sequence number (extended).
    pub seq: u64,
    /// The RTP timestamp.
    pub ts: u32,
    /// The index of the participant whose packet this is.
    pub sender: u8,
    /// Video: the simulcast layer it was sent in.
    pub layer: u8,
    /// A video packet that starts a keyframe.
    pub keyframe: bool,
    /// When it arrived.
    pub at: Instant,
}

/// A participant made of a str0m peer that sends numbered synthetic media.
pub struct Synthetic {
    /// UDP, or TCP (ICE-TCP).
    pub proto: Protocol,
    /// Written into every payload it sends.
    pub index: u8,
    /// Its UDP address (the host candidate it offers).
    pub addr: SocketAddr,
    /// Its WebRTC state machine.
    pub rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    /// An ICE restart is offered: the new address becomes its candidate with the answer.
    restarting: bool,
    /// The m-lines it sends its microphone, camera and screen on.
    send: [Option<Mid>; 3],
    /// Its receive slots.
    pub slots: Vec<Mid>,
    /// Whether each slot is video.
    slot_video: Vec<bool>,
    /// What it sends.
    pub state: MediaState,
    /// The RTP stream ids of the camera's layers, lowest first (none: one stream).
    camera_rids: Vec<Rid>,
    /// Sequence numbers and timestamps per source and layer.
    counters: HashMap<(usize, usize), (u64, u32)>,
    next_audio: Instant,
    next_video: Instant,
    /// A keyframe is due on the next frame, per layer (the screen's only stream is layer 0).
    keyframe_due: [bool; 3],
    frames: u64,
    /// What arrived on each slot.
    pub got: HashMap<Mid, Vec<Got>>,
    /// How often its connection came up (1 for a call that never reconnected).
    pub connected: u32,
    pt: Vec<(Codec, Pt)>,
    next_timeout: Instant,
    /// Payload bytes of an audio and of a video packet.
    sizes: (usize, usize),
    /// The codec its camera and screen send: VP8, or H.264.
    video_codec: Codec,
}

impl Synthetic {
    /// A participant at `addr` with the given pool of receive slots; returns it and its offer
    /// (of the shape Huddle's call protocol asks for). `cert` spares a key generation per peer.
    pub fn new(
        index: u8,
        addr: SocketAddr,
        now: Instant,
        audio_slots: usize,
        video_slots: usize,
        cert: DtlsCert,
    ) -> (Synthetic, String) {
        Self::new_over(
            Protocol::Udp,
            index,
            addr,
            now,
            audio_slots,
            video_slots,
            cert,
        )
    }

    /// [`Synthetic::new`] whose camera goes in `layers` simulcast layers (1 to 3).
    pub fn new_simulcast(
        index: u8,
        addr: SocketAddr,
        now: Instant,
        (audio_slots, video_slots): (usize, usize),
        layers: usize,
        cert: DtlsCert,
    ) -> (Synthetic, String) {
        let kinds = Self::call_shape(audio_slots, video_slots);
        let rids = ["q", "h", "f"][..layers.clamp(1, 3)].to_vec();
        Self::offering(Protocol::Udp, index, addr, now, cert, &kinds, &rids)
    }

    /// [`Synthetic::new`] over `proto`: with TCP, its only candidate is an active TCP one at
    /// `addr` (ICE-TCP, RFC 6544), to be driven by [`drive_tcp`].
    pub fn new_over(
        proto: Protocol,
        index: u8,
        addr: SocketAddr,
        now: Instant,
        audio_slots: usize,
        video_slots: usize,
        cert: DtlsCert,
    ) -> (Synthetic, String) {
        let kinds = Self::call_shape(audio_slots, video_slots);
        Self::offering(proto, index, addr, now, cert, &kinds, &[])
    }

    /// The m-lines of Huddle's call shape: three sources, then the receive slots.
    fn call_shape(audio_slots: usize, video_slots: usize) -> Vec<(MediaKind, Direction)> {
        let mut kinds = vec![(MediaKind::Audio, Direction::SendOnly)];
        kinds.extend([(MediaKind::Video, Direction::SendOnly); 2]);
        kinds.extend(std::iter::repeat_n(
            (MediaKind::Audio, Direction::RecvOnly),
            audio_slots,
        ));
        kinds.extend(std::iter::repeat_n(
            (MediaKind::Video, Direction::RecvOnly),
            video_slots,
        ));
        kinds
    }

    /// A participant that only sends its microphone and camera (a publisher of an SFU whose
    /// receivers subscribe separately, such as Janus's VideoRoom); returns it and its offer.
    pub fn publisher(
        index: u8,
        addr: SocketAddr,
        now: Instant,
        cert: DtlsCert,
    ) -> (Synthetic, String) {
        let kinds = [
            (MediaKind::Audio, Direction::SendOnly),
            (MediaKind::Video, Direction::SendOnly),
        ];
        Self::offering(Protocol::Udp, index, addr, now, cert, &kinds, &[])
    }

    /// Offers `kinds`; the first sending video m-line (the camera) goes in the layers `rids`.
    fn offering(
        proto: Protocol,
        index: u8,
        addr: SocketAddr,
        now: Instant,
        cert: DtlsCert,
        kinds: &[(MediaKind, Direction)],
        rids: &[&str],
    ) -> (Synthetic, String) {
        let mut client = Self::blank(proto, index, addr, now, cert);
        client.camera_rids = rids.iter().map(|r| Rid::from(*r)).collect();
        let mut change = client.rtc.sdp_api();
        let mut sends = Vec::new();
        let mut slots = Vec::new();
        let mut camera = !rids.is_empty();
        for (kind, direction) in kinds {
            let simulcast =
                (camera && kind.is_video() && *direction == Direction::SendOnly).then(|| {
                    camera = false;
                    let mut simulcast = Simulcast::new();
                    for rid in rids {
                        simulcast.add_send_layer(SimulcastLayer::new(rid));
                    }
                    simulcast
                });
            let mid = change.add_media(*kind, *direction, None, None, simulcast);
            if *direction == Direction::SendOnly {
                sends.push(mid);
            } else {
                slots.push((mid, kind.is_video()));
            }
        }
        // Media was added above, so there is a change to apply.
        let (offer, pending) = change.apply().expect("an offer");
        client.pending = Some(pending);
        for (i, mid) in sends.into_iter().enumerate() {
            client.send[i] = Some(mid);
        }
        client.slots = slots.iter().map(|(m, _)| *m).collect();
        client.slot_video = slots.iter().map(|(_, v)| *v).collect();
        (client, offer.to_sdp_string())
    }

    /// A participant that only receives, answering an SFU's offer (a subscriber of Janus's
    /// VideoRoom); every m-line of the offer is one of its slots. Returns it and its answer.
    pub fn subscriber(
        index: u8,
        addr: SocketAddr,
        now: Instant,
        cert: DtlsCert,
        offer: &str,
    ) -> Result<(Synthetic, String), String> {
        let mut client = Self::blank(Protocol::Udp, index, addr, now, cert);
        let parsed = SdpOffer::from_sdp_string(offer).map_err(|e| e.to_string())?;
        let answer = client
            .rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| e.to_string())?;
        let mut kind = None;
        for line in offer.lines() {
            if let Some(rest) = line.strip_prefix("m=") {
                kind = Some(rest.starts_with("video"));
            } else if let (Some(mid), Some(video)) = (line.strip_prefix("a=mid:"), kind) {
                client.slots.push(Mid::from(mid.trim()));
                client.slot_video.push(video);
            }
        }
        client.learn_payload_types();
        Ok((client, answer.to_sdp_string()))
    }

    fn blank(
        proto: Protocol,
        index: u8,
        addr: SocketAddr,
        now: Instant,
        cert: DtlsCert,
    ) -> Synthetic {
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .set_dtls_cert(cert)
            .build(now);
        let candidate = match proto {
            Protocol::Tcp => Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Active)
                .build(),
            _ => Candidate::host(addr, "udp"),
        };
        if let Ok(candidate) = candidate {
            rtc.add_local_candidate(candidate);
        }
        Synthetic {
            proto,
            index,
            addr,
            rtc,
            pending: None,
            restarting: false,
            send: [None; 3],
            slots: Vec::new(),
            slot_video: Vec::new(),
            state: MediaState {
                mic: true,
                camera: true,
                screen: false,
                muted_by_moderator: false,
            },
            camera_rids: Vec::new(),
            counters: HashMap::new(),
            next_audio: now,
            next_video: now,
            keyframe_due: [true; 3],
            frames: 0,
            got: HashMap::new(),
            connected: 0,
            pt: Vec::new(),
            next_timeout: now,
            sizes: (4, 5),
            video_codec: Codec::Vp8,
        }
    }

    /// The slots of one kind.
    pub fn slots_of(&self, video: bool) -> impl Iterator<Item = &Mid> {
        self.slots
            .iter()
            .zip(&self.slot_video)
            .filter(move |(_, v)| **v == video)
            .map(|(m, _)| m)
    }

    /// Applies the server's answer.
    pub fn answer(&mut self, sdp: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        let pending = self.pending.take().ok_or("no offer is pending")?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        if std::mem::take(&mut self.restarting) {
            let candidate = Candidate::host(self.addr, "udp").map_err(|e| e.to_string())?;
            self.rtc.add_local_candidate(candidate);
        }
        self.learn_payload_types();
        Ok(())
    }

    /// Moves to a new address (the network changed) and offers an ICE restart on the same
    /// connection; returns the offer. The old address stops being a candidate when the answer is
    /// applied, and the new one takes its place.
    pub fn restart(&mut self, addr: SocketAddr) -> String {
        self.addr = addr;
        let mut change = self.rtc.sdp_api();
        change.ice_restart(false);
        // An ICE restart is a change, so there is an offer.
        let (offer, pending) = change.apply().expect("an ICE restart offer");
        self.pending = Some(pending);
        self.restarting = true;
        offer.to_sdp_string()
    }

    fn learn_payload_types(&mut self) {
        for p in self.rtc.codec_config().params() {
            if !self.pt.iter().any(|(c, _)| *c == p.spec().codec) {
                self.pt.push((p.spec().codec, p.pt()));
            }
        }
    }

    /// Sends payloads of these sizes (bytes of an audio and of a video packet) instead of the
    /// smallest that carry the sender: a benchmark wants packets the size of real ones.
    pub fn set_payload_sizes(&mut self, audio: usize, video: usize) {
        self.sizes = (audio, video);
    }

    /// Sends its video as `codec` (VP8 or H.264, both offered and answered) from now on.
    pub fn set_video_codec(&mut self, codec: Codec) {
        self.video_codec = codec;
        self.keyframe_due = [true; 3];
    }

    /// Asks for a keyframe on the next video frame.
    pub fn want_keyframe(&mut self) {
        self.keyframe_due = [true; 3];
    }

    /// The camera's layers (1 without simulcast).
    fn camera_layers(&self) -> usize {
        self.camera_rids.len().max(1)
    }

    /// Writes the media due by `now` (nothing before the connection is up).
    pub fn produce(&mut self, now: Instant) {
        if !self.rtc.is_connected() {
            return;
        }
        while self.next_audio <= now {
            self.next_audio += Duration::from_millis(20);
            if self.state.mic {
                let mut payload = vec![0xfc; self.sizes.0.max(2)];
                *payload.last_mut().unwrap_or(&mut 0) = self.index;
                self.write(0, 0, Codec::Opus, payload, 960, now);
            }
        }
        while self.next_video <= now {
            self.next_video += Duration::from_millis(33);
            self.frames += 1;
            if self.frames.is_multiple_of(90) {
                self.keyframe_due = [true; 3];
            }
            let layers = self.camera_layers();
            let sources = [(1, self.state.camera, layers), (2, self.state.screen, 1)];
            for (i, on, layers) in sources {
                for layer in (0..layers).filter(|_| on) {
                    let key = std::mem::take(&mut self.keyframe_due[layer]);
                    let payload = self.video_payload(key, layer, layers);
                    self.write(i, layer, self.video_codec, payload, 2970, now);
                }
            }
        }
    }

    /// One frame of video in one packet: the codec's header (a keyframe's with its size, for
    /// VP8), then filler, the layer and the sender; the top layer is `sizes.1` bytes, each lower
    /// one a quarter of the one above.
    fn video_payload(&self, key: bool, layer: usize, layers: usize) -> Vec<u8> {
        let mut payload = match (self.video_codec, key) {
            // H.264 (RFC 6184): one NAL unit, an IDR slice (type 5) or a non-IDR one (1).
            (Codec::H264, true) => vec![0x65],
            (Codec::H264, false) => vec![0x41],
            // VP8 descriptor: X, S, partition 0; I with a one-byte picture id; then the frame tag
            // whose lowest bit is 0 on a keyframe, which goes on with the start code, the width
            // and the height (RFC 6386 9.1).
            (_, true) => {
                let height = 720u16 >> (layers - 1 - layer);
                let width = height / 9 * 16;
                let mut p = vec![0x90, 0x80, (self.frames & 0x7f) as u8, 0x10, 0, 0];
                p.extend([0x9d, 0x01, 0x2a]);
                p.extend(width.to_le_bytes());
                p.extend(height.to_le_bytes());
                p
            }
            (_, false) => vec![0x90, 0x80, (self.frames & 0x7f) as u8, 0x11, 0, 0],
        };
        let size = self.sizes.1 >> (2 * (layers - 1 - layer));
        payload.resize(size.max(payload.len() + 2), 0x55);
        let n = payload.len();
        payload[n - 2] = layer as u8;
        payload[n - 1] = self.index;
        payload
    }

    fn write(
        &mut self,
        i: usize,
        layer: usize,
        codec: Codec,
        payload: Vec<u8>,
        step: u32,
        now: Instant,
    ) {
        let Some(pt) = self.pt.iter().find(|(c, _)| *c == codec).map(|(_, pt)| *pt) else {
            return;
        };
        let start = (1, 1000 * (1 + i as u32) + 100 * layer as u32);
        let (seq, ts) = *self.counters.entry((i, layer)).or_insert(start);
        self.counters
            .insert((i, layer), (seq + 1, ts.wrapping_add(step)));
        let Some(mid) = self.send[i] else {
            return;
        };
        let rid = (i == 1)
            .then(|| self.camera_rids.get(layer).copied())
            .flatten();
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, rid) else {
            return;
        };
        let ext = ExtensionValues {
            audio_level: (i == 0).then_some(-20),
            voice_activity: (i == 0).then_some(true),
            ..Default::default()
        };
        tx.write_rtp(
            RtpWrite::new(pt, seq.into(), ts, now, payload)
                .marker(true)
                .ext_vals(ext),
        );
    }

    /// Takes a datagram from the network; returns the datagrams to send, by destination (str0m wants its output
    /// polled after every input).
    pub fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        if let Ok(contents) = bytes.try_into() {
            let input = Input::Receive(
                now,
                Receive {
                    proto: self.proto,
                    source: from,
                    destination: self.addr,
                    contents,
                },
            );
            let _ = self.rtc.handle_input(input);
        }
        self.poll(now)
    }

    /// Moves time on: timers run and due media is written; returns what is to be sent.
    pub fn tick(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.produce(now);
        self.poll(now)
    }

    /// When [`Synthetic::tick`] must run next.
    pub fn next_wake(&self) -> Instant {
        self.next_timeout.min(self.next_audio).min(self.next_video)
    }

    /// Polls the peer until it only has a timeout left; returns its datagrams by destination.
    pub fn poll(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let Ok(output) = self.rtc.poll_output() else {
                break;
            };
            match output {
                Output::Transmit(t) => out.push((t.destination, t.contents.to_vec())),
                Output::Timeout(t) => {
                    self.next_timeout = t;
                    break;
                }
                Output::Event(Event::Connected) => self.connected += 1,
                Output::Event(Event::KeyframeRequest(req)) => {
                    match req
                        .rid
                        .and_then(|r| self.camera_rids.iter().position(|c| *c == r))
                    {
                        Some(layer) => self.keyframe_due[layer] = true,
                        None => self.keyframe_due = [true; 3],
                    }
                }
                Output::Event(Event::RtpPacket(p)) => {
                    let Some(mid) = self
                        .rtc
                        .direct_api()
                        .stream_rx(&p.header.ssrc)
                        .map(|s| s.mid())
                    else {
                        continue;
                    };
                    let sender = *p.payload.last().unwrap_or(&0);
                    let layer = p.payload.len().checked_sub(2).map_or(0, |i| p.payload[i]);
                    let codec = self
                        .rtc
                        .codec_config()
                        .params()
                        .iter()
                        .find(|c| c.pt() == p.header.payload_type)
                        .map(|c| c.spec().codec);
                    let keyframe = match codec {
                        Some(Codec::Vp8) => starts_keyframe(VideoCodec::Vp8, &p.payload),
                        Some(Codec::H264) => starts_keyframe(VideoCodec::H264, &p.payload),
                        _ => false,
                    };
                    self.got.entry(mid).or_default().push(Got {
                        seq: *p.seq_no,
                        ts: p.header.timestamp,
                        sender,
                        layer,
                        keyframe,
                        at: now,
                    });
                }
                Output::Event(_) => {}
            }
        }
        out
    }

    /// The senders heard (audio) or seen (video) since `since`.
    pub fn senders_since(&self, since: Instant, video: bool) -> BTreeSet<u8> {
        self.slots_of(video)
            .filter_map(|m| self.got.get(m))
            .flatten()
            .filter(|g| g.at >= since)
            .map(|g| g.sender)
            .collect()
    }

    /// Checks every slot's stream: sequence numbers step by one, timestamps never go back, and
    /// the first video packet from each sender (after any switch) starts a keyframe.
    pub fn check_continuity(&self) -> Result<(), String> {
        for (i, mid) in self.slots.iter().enumerate() {
            let Some(got) = self.got.get(mid) else {
                continue;
            };
            let video = self.slot_video[i];
            let who = format!("participant {} slot {mid}", self.index);
            if video && got.first().is_some_and(|g| !g.keyframe) {
                return Err(format!("{who}: the first frame is not a keyframe"));
            }
            for pair in got.windows(2) {
                if pair[1].seq != pair[0].seq + 1 {
                    return Err(format!(
                        "{who}: sequence jumps from {} to {}",
                        pair[0].seq, pair[1].seq
                    ));
                }
                if pair[1].ts.wrapping_sub(pair[0].ts) >= 1 << 31 {
                    return Err(format!("{who}: the timestamp went back"));
                }
                if video && pair[1].sender != pair[0].sender && !pair[1].keyframe {
                    return Err(format!(
                        "{who}: the first frame from a new sender is not a keyframe"
                    ));
                }
                if video && pair[1].layer != pair[0].layer && !pair[1].keyframe {
                    return Err(format!(
                        "{who}: the first frame of a new layer is not a keyframe"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Runs a participant on a real UDP socket until the task is dropped: datagrams in, timers, and
/// what it sends out (for the end-to-end tests and the benchmark).
pub async fn drive(
    socket: tokio::net::UdpSocket,
    media: std::sync::Arc<std::sync::Mutex<Synthetic>>,
) {
    // A poisoned lock means a test already failed elsewhere; keep going with the data as it is.
    let lock = || media.lock().unwrap_or_else(|p| p.into_inner());
    let mut buf = vec![0u8; 2048];
    loop {
        let wake = lock().next_wake();
        let out = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => lock().receive(Instant::now(), from, &buf[..n]),
                Err(_) => continue,
            },
            () = tokio::time::sleep_until(wake.into()) => lock().tick(Instant::now()),
        };
        for (to, datagram) in out {
            let _ = socket.send_to(&datagram, to).await;
        }
    }
}

/// [`drive`] over one TCP connection to the server's passive candidate `server` (ICE-TCP): each
/// packet framed with a 2-byte length (RFC 4571).
pub async fn drive_tcp(server: SocketAddr, media: std::sync::Arc<std::sync::Mutex<Synthetic>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lock = || media.lock().unwrap_or_else(|p| p.into_inner());
    let Ok(stream) = tokio::net::TcpStream::connect(server).await else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (packets_tx, mut packets) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    tokio::spawn(async move {
        let mut length = [0u8; 2];
        while reader.read_exact(&mut length).await.is_ok() {
            let mut packet = vec![0u8; u16::from_be_bytes(length) as usize];
            if reader.read_exact(&mut packet).await.is_err()
                || packets_tx.send(packet).await.is_err()
            {
                break;
            }
        }
    });
    loop {
        let wake = lock().next_wake();
        let out = tokio::select! {
            packet = packets.recv() => match packet {
                Some(packet) => lock().receive(Instant::now(), server, &packet),
                None => return,
            },
            () = tokio::time::sleep_until(wake.into()) => lock().tick(Instant::now()),
        };
        for (_, packet) in out {
            let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&packet);
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}
