//! One person's PeerConnection with the server: their str0m `Rtc`, which m-line carries which of
//! their sources, and their receive slots.
//!
//! A peer is created from a checked offer and lives until its person leaves the call, loses access,
//! joins again from elsewhere, or goes silent (see `Sfu::tick`). Nothing here decides routing; the
//! call (`media::call`) tells each slot which source feeds it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{KeyframeRequestKind, Mid, Pt, Rid};
use str0m::net::TcpType;
use str0m::rtp::Ssrc;
use str0m::stats::PeerStats;
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

use super::congestion::Ceiling;
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
    /// Video: the layer of the feed forwarded now (`None` until the first keyframe of `target`).
    pub layer: Option<usize>,
    /// Video: the layer chosen for it (`media::layers`); a switch happens on its next keyframe.
    pub target: Option<usize>,
    /// Its feed's place in the receiver's priority order (0 first): the order in which layers are
    /// given out when bandwidth is short.
    pub rank: usize,
    /// The height the client shows it at, in device pixels, if it said (`call_view`).
    pub shown_height: Option<u32>,
}

impl Slot {
    fn new(mid: Mid, video: bool) -> Slot {
        Slot {
            mid,
            video,
            feed: None,
            rewrite: Rewrite::default(),
            pt_map: None,
            layer: None,
            target: None,
            rank: 0,
            shown_height: None,
        }
    }
}

/// One stream a client sends: a simulcast layer of a source, or the source's only stream.
#[derive(Debug, Clone)]
pub struct SentLayer {
    /// Its RTP stream id (`None` without simulcast).
    pub rid: Option<Rid>,
    /// Payload bytes since the last measurement.
    pub bytes: u64,
    /// Bits per second, smoothed.
    pub bitrate: u64,
    /// When its last packet arrived.
    pub last_packet: Option<Instant>,
    /// The frame height of its last keyframe, where the codec tells (VP8).
    pub height: Option<u32>,
}

impl SentLayer {
    fn new(rid: Option<Rid>) -> SentLayer {
        SentLayer {
            rid,
            bytes: 0,
            bitrate: 0,
            last_packet: None,
            height: None,
        }
    }
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
    /// The streams it sends of each source, lowest layer first.
    pub sent: HashMap<Source, Vec<SentLayer>>,
    /// Incoming SSRCs resolved to sources and layers.
    pub rx_sources: HashMap<Ssrc, (Source, usize)>,
    /// Each incoming payload type's parameters and video codec, once learnt.
    pub rx_payloads: HashMap<Pt, Option<(PayloadParams, Option<VideoCodec>)>>,
    /// When a keyframe was last asked of each video source's layer.
    pub last_keyframe_request: HashMap<(Source, usize), Instant>,
    /// The ceiling its reported loss sets on what is forwarded to it.
    pub ceiling: Ceiling,
    /// What is forwarded to it now and what it would like, in bits/s (audio and the layers
    /// chosen, audio and the ideal layers).
    pub sending: (u64, u64),
    /// str0m's last statistics of the connection (once a second).
    pub stats: Option<PeerStats>,
    /// Jitter of the microphone's audio as it arrives (RTP units), from str0m's statistics.
    pub jitter_in: Option<u32>,
    /// Jitter the client reports for each audio slot it receives (RTP units).
    pub jitter_out: HashMap<Mid, u32>,
    /// Payload bytes forwarded to it since the last measurement, and the smoothed bits/s.
    pub forwarded: (u64, u64),
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
            .set_stats_interval(Some(std::time::Duration::from_secs(1)))
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
                Line::Slot { video } => slots.push(Slot::new(mid, *video)),
            }
        }
        let sent = Source::ALL
            .into_iter()
            .map(|source| {
                let layers = match shape.layers(source) {
                    [] => vec![SentLayer::new(None)],
                    rids => rids
                        .iter()
                        .map(|r| SentLayer::new(Some(Rid::from(r.as_str()))))
                        .collect(),
                };
                (source, layers)
            })
            .collect();
        let mut peer = Peer {
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
            sent,
            rx_sources: HashMap::new(),
            rx_payloads: HashMap::new(),
            last_keyframe_request: HashMap::new(),
            ceiling: Ceiling::default(),
            sending: (0, 0),
            stats: None,
            jitter_in: None,
            jitter_out: HashMap::new(),
            forwarded: (0, 0),
            last_state: String::new(),
        };
        peer.answer_repairs();
        Ok((peer, candidates_in_every_section(&answer.to_sdp_string())))
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
        Ok(candidates_in_every_section(&answer.to_sdp_string()))
    }

    /// Lets each video slot answer NACKs for up to [`RESEND_SHARE`] of its bytes.
    fn answer_repairs(&mut self) {
        let mut api = self.rtc.direct_api();
        for slot in self.slots.iter().filter(|s| s.video) {
            if let Some(stream) = api.stream_tx_by_mid(slot.mid, None) {
                stream.set_rtx_cache(RESEND_HISTORY, RESEND_WITHIN, Some(RESEND_SHARE));
            }
        }
    }

    /// The source and layer an incoming SSRC carries, learnt from its m-line and RTP stream id
    /// the first time.
    pub fn source_of(&mut self, ssrc: Ssrc) -> Option<(Source, usize)> {
        if let Some(s) = self.rx_sources.get(&ssrc) {
            return Some(*s);
        }
        let (mid, rid) = {
            let mut api = self.rtc.direct_api();
            let stream = api.stream_rx(&ssrc)?;
            (stream.mid(), stream.rid())
        };
        let source = *self.send_mids.get(&mid)?;
        let layer = self.sent.get(&source)?.iter().position(|l| l.rid == rid)?;
        self.rx_sources.insert(ssrc, (source, layer));
        Some((source, layer))
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

    /// Asks the client for a keyframe of a layer of `source`, at most once per `min_gap`.
    /// Returns whether a request went out.
    pub fn request_keyframe(
        &mut self,
        source: Source,
        layer: usize,
        now: Instant,
        min_gap: std::time::Duration,
    ) -> bool {
        if self
            .last_keyframe_request
            .get(&(source, layer))
            .is_some_and(|at| now.saturating_duration_since(*at) < min_gap)
        {
            return false;
        }
        let Some(rid) = self
            .sent
            .get(&source)
            .and_then(|layers| layers.get(layer))
            .map(|l| l.rid)
        else {
            return false;
        };
        let Some(mid) = self
            .send_mids
            .iter()
            .find(|(_, s)| **s == source)
            .map(|(m, _)| *m)
        else {
            return false;
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(mid, rid) else {
            return false;
        };
        stream.request_keyframe(KeyframeRequestKind::Pli);
        self.last_keyframe_request.insert((source, layer), now);
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
/// Of the bytes sent to a receiver on one video slot over a second, the share retransmissions
/// may take; past it, NACKs go unanswered for a while. str0m's default (15%) left 3 or 4 of 20
/// lost packets unanswered in a five-person call: a slot showing a small layer sends few bytes,
/// and a client that does not ask twice froze until the next keyframe. Half answers a random
/// loss of up to a half, and still bounds what a receiver NACKing everything can make the server
/// send. Set once, when the call is set up: str0m empties a stream's history when it changes.
const RESEND_SHARE: f32 = 0.5;
/// Packets each video slot keeps for retransmission (str0m's default).
const RESEND_HISTORY: usize = 1024;
/// How old a packet may be and still be retransmitted (str0m's default).
const RESEND_WITHIN: Duration = Duration::from_secs(3);

/// The answer with the server's candidates (UDP, and passive TCP) in every m-section. str0m
/// writes them in the first one only, which is enough with BUNDLE, but a client that reads
/// candidates from another section would find none and never connect.
fn candidates_in_every_section(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split_terminator("\r\n").collect();
    let candidates: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("a=candidate:") || *l == "a=end-of-candidates")
        .collect();
    let mut out = String::with_capacity(sdp.len() + lines.len() * 64);
    let (mut in_media, mut has) = (false, false);
    let close_section = |out: &mut String, in_media: bool, has: bool| {
        if in_media && !has {
            for line in &candidates {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    };
    for line in &lines {
        if line.starts_with("m=") {
            close_section(&mut out, in_media, has);
            (in_media, has) = (true, false);
        } else if line.starts_with("a=candidate:") {
            has = true;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    close_section(&mut out, in_media, has);
    out
}

#[cfg(test)]
mod tests {
    use super::candidates_in_every_section;

    #[test]
    fn every_m_section_gets_the_candidates_of_the_first() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
                   a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                   a=candidate:2 1 tcp 2130706430 127.0.0.1 5000 typ host tcptype passive\r\n\
                   a=end-of-candidates\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        let out = candidates_in_every_section(sdp);
        let sections: Vec<&str> = out.split("m=").skip(1).collect();
        assert_eq!(sections.len(), 2);
        for section in sections {
            assert_eq!(section.matches("a=candidate:").count(), 2, "{out}");
            assert_eq!(section.matches("a=end-of-candidates").count(), 1, "{out}");
        }
        assert!(out.ends_with("\r\n"));
        assert_eq!(
            candidates_in_every_section(&out),
            out,
            "already there: unchanged"
        );
    }
}
