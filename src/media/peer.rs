//! One person's PeerConnection with the server: their str0m `Rtc`, which m-line carries which of
//! their sources, and their receive slots.
//!
//! A peer is created from a checked offer and lives until its person leaves the call, loses access,
//! joins again from elsewhere, or goes silent (see `Sfu::tick`). Nothing here decides routing; the
//! call (`media::call`) tells each slot which source feeds it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{KeyframeRequestKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::rtp::Ssrc;
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

use super::offer::{Line, Shape};
use super::slots::{Rewrite, VideoCodec};
use crate::domain::call::Source;
use crate::ids::{PersonId, RoomId};

/// A peer's number, unique in the process; also the `call_id` clients see.
pub type PeerId = u64;

/// A source of one person: what feeds a slot.
pub type Feed = (PersonId, Source);

/// One receive slot: an m-line the server sends on.
#[derive(Debug)]
pub struct Slot {
    /// Its mid, as the client named it.
    pub mid: Mid,
    /// Video (or audio).
    pub video: bool,
    /// The source forwarded into it now.
    pub feed: Option<Feed>,
    /// Sequence and time rewriting.
    pub rewrite: Rewrite,
    /// The source's payload type and ours for it, once matched.
    pub pt_map: Option<(Pt, Pt)>,
}

/// One person's connection.
pub struct Peer {
    /// Its number.
    pub id: PeerId,
    /// The main room.
    pub stream: RoomId,
    /// Whose.
    pub person: PersonId,
    /// The WebRTC state machine.
    pub rtc: Rtc,
    /// The server's ICE username fragment, by which the first STUN packet finds this peer (a new
    /// one after each ICE restart).
    pub ufrag: String,
    /// The client's ICE username fragment: a new one in an offer is an ICE restart.
    pub remote_ufrag: Option<String>,
    /// When the offer was accepted.
    pub created: Instant,
    /// The last datagram from the client.
    pub last_heard: Instant,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// The connected peer reached us on a new path (an ICE restart, a NAT rebinding): once ICE
    /// is connected on it, ask its video sources for keyframes.
    pub new_path: bool,
    /// Remote addresses that reach this peer.
    pub addrs: Vec<SocketAddr>,
    /// When str0m wants to be woken.
    pub next_timeout: Instant,
    /// The earliest wake-up already in the heap for this peer.
    pub scheduled: Option<Instant>,
    /// Which source each of the client's sending m-lines carries.
    pub send_mids: HashMap<Mid, Source>,
    /// Receive slots, in offer order.
    pub slots: Vec<Slot>,
    /// Incoming SSRCs resolved to sources.
    pub rx_sources: HashMap<Ssrc, Source>,
    /// Each incoming payload type's parameters and video codec, once learnt.
    pub rx_payloads: HashMap<Pt, Option<(PayloadParams, Option<VideoCodec>)>>,
    /// When a keyframe was last asked of each video source.
    pub last_keyframe_request: HashMap<Source, Instant>,
    /// The last `call_state` frame sent, so unchanged views are not sent again.
    pub last_state: String,
}

/// How a peer's `Rtc` is set up.
pub struct Setup<'a> {
    /// The shared DTLS certificate.
    pub cert: &'a DtlsCert,
    /// The host candidate to advertise.
    pub candidate: SocketAddr,
    /// Whether to advertise a passive TCP candidate at the same address (ICE-TCP).
    pub tcp: bool,
}

impl Peer {
    /// Accepts a checked offer; returns the peer and the SDP answer.
    pub fn accept(
        id: PeerId,
        stream: RoomId,
        person: PersonId,
        sdp: &str,
        shape: &Shape,
        setup: &Setup<'_>,
        now: Instant,
    ) -> Result<(Peer, String), String> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| format!("the offer: {e}"))?;
        let ufrag = random_token(16);
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_dtls_cert(setup.cert.clone())
            .set_local_ice_credentials(IceCreds {
                ufrag: ufrag.clone(),
                pass: random_token(24),
            })
            .build(now);
        let candidate =
            Candidate::host(setup.candidate, "udp").map_err(|e| format!("candidate: {e}"))?;
        rtc.add_local_candidate(candidate);
        if setup.tcp {
            // After the UDP one, with a lower priority: TCP only where UDP does not get through.
            let candidate = Candidate::builder()
                .tcp()
                .host(setup.candidate)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| format!("TCP candidate: {e}"))?;
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("the offer: {e}"))?;
        let mut send_mids = HashMap::new();
        let mut slots = Vec::new();
        for (mid, line) in &shape.lines {
            let mid = Mid::from(mid.as_str());
            match line {
                Line::Send(source) => {
                    send_mids.insert(mid, *source);
                }
                Line::Slot { video } => slots.push(Slot {
                    mid,
                    video: *video,
                    feed: None,
                    rewrite: Rewrite::default(),
                    pt_map: None,
                }),
            }
        }
        let peer = Peer {
            id,
            stream,
            person,
            rtc,
            ufrag,
            remote_ufrag: shape.ufrag.clone(),
            created: now,
            last_heard: now,
            connected: false,
            new_path: false,
            addrs: Vec::new(),
            next_timeout: now,
            scheduled: None,
            send_mids,
            slots,
            rx_sources: HashMap::new(),
            rx_payloads: HashMap::new(),
            last_keyframe_request: HashMap::new(),
            last_state: String::new(),
        };
        Ok((peer, answer.to_sdp_string()))
    }

    /// Applies an ICE restart the client offers on the same PeerConnection (its network changed,
    /// or the media path broke): the m-lines must be the call's own, in the same roles, and the
    /// ICE credentials new. The DTLS session, the slots and their rewriting stay as they are.
    /// Returns the answer; the caller re-indexes the peer under its new `ufrag`.
    pub fn restart(&mut self, sdp: &str, shape: &Shape) -> Result<String, String> {
        let same_lines = shape.lines.len() == self.send_mids.len() + self.slots.len()
            && shape.lines.iter().all(|(mid, line)| {
                let mid = Mid::from(mid.as_str());
                match line {
                    Line::Send(source) => self.send_mids.get(&mid) == Some(source),
                    Line::Slot { video } => {
                        self.slots.iter().any(|s| s.mid == mid && s.video == *video)
                    }
                }
            });
        if !same_lines {
            return Err(
                "an ICE restart offers the same m-lines as the call's first offer; to change them, join again"
                    .into(),
            );
        }
        if shape.ufrag.is_none() || shape.ufrag == self.remote_ufrag {
            return Err("an ICE restart offers new ICE credentials (a=ice-ufrag)".into());
        }
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| format!("the offer: {e}"))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("the offer: {e}"))?;
        self.remote_ufrag.clone_from(&shape.ufrag);
        self.ufrag = self.rtc.direct_api().local_ice_credentials().ufrag;
        Ok(answer.to_sdp_string())
    }

    /// The source an incoming SSRC carries, learnt from its m-line the first time.
    pub fn source_of(&mut self, ssrc: Ssrc) -> Option<Source> {
        if let Some(s) = self.rx_sources.get(&ssrc) {
            return Some(*s);
        }
        let mid = self.rtc.direct_api().stream_rx(&ssrc)?.mid();
        let source = *self.send_mids.get(&mid)?;
        self.rx_sources.insert(ssrc, source);
        Some(source)
    }

    /// The parameters of an incoming payload type, and its video codec if Huddle recognises its
    /// keyframes; learnt once per payload type (this runs for every forwarded packet).
    pub fn payload_of(&mut self, pt: Pt) -> Option<(PayloadParams, Option<VideoCodec>)> {
        if let Some(known) = self.rx_payloads.get(&pt) {
            return *known;
        }
        let known = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.pt() == pt)
            .map(|p| {
                let codec = match p.spec().codec {
                    Codec::Vp8 => Some(VideoCodec::Vp8),
                    Codec::H264 => Some(VideoCodec::H264),
                    _ => None,
                };
                (*p, codec)
            });
        self.rx_payloads.insert(pt, known);
        known
    }

    /// Asks the client for a keyframe of `source`, at most once per `min_gap`. Returns whether a
    /// request went out.
    pub fn request_keyframe(
        &mut self,
        source: Source,
        now: Instant,
        min_gap: std::time::Duration,
    ) -> bool {
        if self
            .last_keyframe_request
            .get(&source)
            .is_some_and(|at| now.saturating_duration_since(*at) < min_gap)
        {
            return false;
        }
        let Some(mid) = self
            .send_mids
            .iter()
            .find(|(_, s)| **s == source)
            .map(|(m, _)| *m)
        else {
            return false;
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(mid, None) else {
            return false;
        };
        stream.request_keyframe(KeyframeRequestKind::Pli);
        self.last_keyframe_request.insert(source, now);
        true
    }
}

/// A random token of ICE characters (letters and digits).
fn random_token(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
