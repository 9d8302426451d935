//! Checks a client's SDP offer against the shape Huddle's call protocol asks for, before str0m
//! sees it, so that a bad offer gets an error naming the problem.
//!
//! The shape (documented in `docs/api.md`): one BUNDLE group; first the three m-lines the client
//! sends on, `sendonly`, in this order — microphone (audio), camera (video), screen (video); then
//! the receive slots, `recvonly`, audio and video in any order, at most the server's pool size of
//! each. Audio offers Opus; video offers VP8 or H.264. Nothing else (no data channel).

use crate::domain::call::Source;

/// Largest offer accepted, in bytes. Chromium describes each video m-line with every codec it
/// knows (about 4 KiB), so an offer with the largest pool (16 audio and 25 video slots) is about
/// 180 KiB.
pub const MAX_OFFER_BYTES: usize = 256 * 1024;

/// One m-line's role in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The client sends this source here.
    Send(Source),
    /// A receive slot.
    Slot {
        /// Audio or video.
        video: bool,
    },
}

/// Most simulcast layers of one source.
pub const MAX_LAYERS: usize = 3;

/// The m-lines of an acceptable offer, by mid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Each m-line's mid and role, in offer order.
    pub lines: Vec<(String, Line)>,
    /// The simulcast layers (RTP stream ids) of the video sources sent in several, lowest first
    /// (`a=simulcast:send`, in its order).
    pub simulcast: Vec<(Source, Vec<String>)>,
    /// The client's ICE username fragment (`a=ice-ufrag`, the first given): a new one in a later
    /// offer is an ICE restart.
    pub ufrag: Option<String>,
}

impl Shape {
    /// The mid the client sends `source` on.
    pub fn send_mid(&self, source: Source) -> Option<&str> {
        self.lines
            .iter()
            .find(|(_, l)| *l == Line::Send(source))
            .map(|(m, _)| m.as_str())
    }

    /// The layers `source` is sent in, lowest first (empty: one stream, no simulcast).
    pub fn layers(&self, source: Source) -> &[String] {
        self.simulcast
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(&[], |(_, rids)| rids.as_slice())
    }
}

/// The layers of an `a=simulcast:send` value (`q;h;f`, where `~q` is a layer paused at first and
/// `q,r` offers alternatives, of which the first is taken), checked: at most [`MAX_LAYERS`], each
/// an RTP stream id of 1 to 16 letters, digits, `-` or `_`, declared by an `a=rid:… send` line.
fn simulcast_layers(n: usize, value: &str, declared: &[&str]) -> Result<Vec<String>, OfferError> {
    let rids: Vec<String> = value
        .split(';')
        .map(|alternatives| {
            let first = alternatives.split(',').next().unwrap_or_default();
            first.trim_start_matches('~').to_owned()
        })
        .collect();
    if rids.len() > MAX_LAYERS {
        return Err(err(
            "sdp_media",
            format!(
                "m-line {n} sends {} simulcast layers; the most are {MAX_LAYERS}",
                rids.len()
            ),
        ));
    }
    for rid in &rids {
        let valid = (1..=16).contains(&rid.len())
            && rid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(err(
                "sdp_media",
                format!("m-line {n}: simulcast layer {rid:?} is not a valid RTP stream id"),
            ));
        }
        if !declared.contains(&rid.as_str()) {
            return Err(err(
                "sdp_media",
                format!("m-line {n}: simulcast layer {rid:?} has no a=rid:{rid} send line"),
            ));
        }
    }
    Ok(rids)
}

/// Why an offer was refused: a stable code and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferError {
    /// `sdp_too_large`, `sdp_invalid`, `sdp_media` or `sdp_codec`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> OfferError {
    OfferError {
        code,
        message: message.into(),
    }
}

/// Checks an offer; `max_audio` and `max_video` are the pool sizes.
pub fn check(sdp: &str, max_audio: usize, max_video: usize) -> Result<Shape, OfferError> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(err(
            "sdp_too_large",
            format!("the offer is larger than {MAX_OFFER_BYTES} bytes"),
        ));
    }
    if !sdp.starts_with("v=0") {
        return Err(err("sdp_invalid", "an SDP offer starts with v=0"));
    }
    let mut sections: Vec<Vec<&str>> = Vec::new();
    let mut bundle = false;
    let mut ufrag = None;
    for line in sdp.lines().map(str::trim_end) {
        if ufrag.is_none() {
            ufrag = line.strip_prefix("a=ice-ufrag:").map(str::to_owned);
        }
        if line.starts_with("m=") {
            sections.push(vec![line]);
        } else if let Some(section) = sections.last_mut() {
            section.push(line);
        } else if line.starts_with("a=group:BUNDLE") {
            bundle = true;
        }
    }
    if !bundle {
        return Err(err(
            "sdp_invalid",
            "the offer must bundle its m-lines (a=group:BUNDLE)",
        ));
    }
    let mut lines = Vec::new();
    let (mut audio_slots, mut video_slots) = (0, 0);
    let mut sends = Vec::new();
    let mut simulcast = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let n = i + 1;
        let kind = section[0]
            .strip_prefix("m=")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_default();
        let video = match kind {
            "audio" => false,
            "video" => true,
            other => {
                return Err(err(
                    "sdp_media",
                    format!("m-line {n} is {other:?}; calls carry only audio and video"),
                ));
            }
        };
        let attr = |name: &str| {
            section
                .iter()
                .find_map(|l| l.strip_prefix("a=").filter(|a| a.starts_with(name)))
        };
        let mid = section
            .iter()
            .find_map(|l| l.strip_prefix("a=mid:"))
            .ok_or_else(|| err("sdp_invalid", format!("m-line {n} has no a=mid")))?;
        let direction = ["sendonly", "recvonly", "sendrecv", "inactive"]
            .into_iter()
            .find(|d| attr(d) == Some(d))
            .unwrap_or("sendrecv");
        let codecs: Vec<String> = section
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|l| l.split(' ').nth(1))
            .filter_map(|c| c.split('/').next())
            .map(str::to_ascii_uppercase)
            .collect();
        let has = |c: &str| codecs.iter().any(|x| x == c);
        if video && !has("VP8") && !has("H264") {
            return Err(err(
                "sdp_codec",
                format!("m-line {n} (video) offers neither VP8 nor H.264"),
            ));
        }
        if !video && !has("OPUS") {
            return Err(err(
                "sdp_codec",
                format!("m-line {n} (audio) does not offer Opus"),
            ));
        }
        let layers = attr("simulcast:");
        let line = match direction {
            "sendonly" => {
                let expected = Source::ALL.get(sends.len()).copied();
                match expected {
                    Some(source) if source.is_video() == video && lines.len() == sends.len() => {
                        sends.push(source);
                        if let Some(value) = layers {
                            let Some(value) = value.strip_prefix("simulcast:send ") else {
                                return Err(err(
                                    "sdp_media",
                                    format!(
                                        "m-line {n}: a sending m-line's simulcast is a=simulcast:send"
                                    ),
                                ));
                            };
                            if !video {
                                return Err(err(
                                    "sdp_media",
                                    format!("m-line {n}: the microphone is sent in one layer"),
                                ));
                            }
                            let declared: Vec<&str> = section
                                .iter()
                                .filter_map(|l| l.strip_prefix("a=rid:"))
                                .filter_map(|l| {
                                    l.strip_suffix(" send")
                                        .or_else(|| l.split_once(" send ").map(|(r, _)| r))
                                })
                                .collect();
                            simulcast.push((source, simulcast_layers(n, value, &declared)?));
                        }
                        Line::Send(source)
                    }
                    _ => {
                        return Err(err(
                            "sdp_media",
                            format!(
                                "m-line {n}: the first three m-lines, and only they, are sendonly: \
                                 microphone (audio), camera (video), screen (video)"
                            ),
                        ));
                    }
                }
            }
            "recvonly" => {
                if layers.is_some() {
                    return Err(err(
                        "sdp_media",
                        format!("m-line {n}: a receive slot takes one layer; the server picks it"),
                    ));
                }
                if video {
                    video_slots += 1;
                } else {
                    audio_slots += 1;
                }
                Line::Slot { video }
            }
            other => {
                return Err(err(
                    "sdp_media",
                    format!(
                        "m-line {n} is {other}; use sendonly for your sources and recvonly for slots"
                    ),
                ));
            }
        };
        lines.push((mid.to_owned(), line));
    }
    if sends.len() != Source::ALL.len() {
        return Err(err(
            "sdp_media",
            "the offer must start with three sendonly m-lines: microphone (audio), camera (video), screen (video)",
        ));
    }
    if audio_slots > max_audio || video_slots > max_video {
        return Err(err(
            "sdp_media",
            format!(
                "the offer has {audio_slots} audio and {video_slots} video receive slots; \
                 the most are {max_audio} and {max_video}"
            ),
        ));
    }
    Ok(Shape {
        lines,
        simulcast,
        ufrag,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal offer of the required shape (not a full browser offer).
    pub(crate) fn offer(audio_slots: usize, video_slots: usize) -> String {
        let mut s =
            String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE\r\n");
        let mut section = |kind: &str, dir: &str, mid: usize| {
            let codec = if kind == "audio" {
                "111 opus/48000/2"
            } else {
                "96 VP8/90000"
            };
            s.push_str(&format!(
                "m={kind} 9 UDP/TLS/RTP/SAVPF {}\r\na=mid:{mid}\r\na={dir}\r\na=rtpmap:{codec}\r\n",
                &codec[..3]
            ));
        };
        section("audio", "sendonly", 0);
        section("video", "sendonly", 1);
        section("video", "sendonly", 2);
        for i in 0..audio_slots {
            section("audio", "recvonly", 3 + i);
        }
        for i in 0..video_slots {
            section("video", "recvonly", 3 + audio_slots + i);
        }
        s
    }

    #[test]
    fn accepts_the_documented_shape() {
        let shape = check(&offer(2, 3), 8, 9).unwrap();
        assert_eq!(shape.lines.len(), 8);
        assert_eq!(shape.send_mid(Source::Screen), Some("2"));
        assert_eq!(shape.lines[3].1, Line::Slot { video: false });
        assert_eq!(shape.lines[7].1, Line::Slot { video: true });
        assert_eq!(shape.ufrag, None);
        assert!(shape.layers(Source::Camera).is_empty());
        let with = offer(1, 1).replace("a=mid:0", "a=mid:0\r\na=ice-ufrag:abcd");
        assert_eq!(check(&with, 8, 9).unwrap().ufrag.as_deref(), Some("abcd"));
    }

    /// The camera line of `offer` with these simulcast lines added.
    fn with_camera_lines(sdp: &str, extra: &str) -> String {
        sdp.replacen("a=mid:1\r\n", &format!("a=mid:1\r\n{extra}"), 1)
    }

    #[test]
    fn reads_the_camera_layers_lowest_first() {
        let rids = "a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\n";
        let sdp = with_camera_lines(&offer(1, 1), &format!("{rids}a=simulcast:send q;h;~f\r\n"));
        let shape = check(&sdp, 8, 9).unwrap();
        assert_eq!(shape.layers(Source::Camera), ["q", "h", "f"]);
        assert!(shape.layers(Source::Screen).is_empty());
        let wrong = |extra: &str| {
            let e = check(&with_camera_lines(&offer(1, 1), extra), 8, 9).unwrap_err();
            (e.code, e.message)
        };
        let (code, message) = wrong(&format!("{rids}a=simulcast:send q;h;f;x\r\n"));
        assert_eq!(code, "sdp_media");
        assert!(message.contains("the most are 3"), "{message}");
        let (_, message) = wrong("a=rid:q send\r\na=simulcast:send q;h\r\n");
        assert!(message.contains("no a=rid:h send"), "{message}");
        let (_, message) = wrong("a=rid:q!x send\r\na=simulcast:send q!x\r\n");
        assert!(message.contains("not a valid RTP stream id"), "{message}");
        let (_, message) = wrong("a=simulcast:recv q\r\n");
        assert!(message.contains("a=simulcast:send"), "{message}");
        // Not on the microphone, nor on a receive slot.
        let mic = offer(1, 1).replacen(
            "a=mid:0\r\n",
            "a=mid:0\r\na=rid:q send\r\na=simulcast:send q\r\n",
            1,
        );
        assert!(check(&mic, 8, 9).unwrap_err().message.contains("one layer"));
        let slot = offer(1, 1).replacen(
            "a=mid:4\r\n",
            "a=mid:4\r\na=rid:q recv\r\na=simulcast:recv q\r\n",
            1,
        );
        assert!(
            check(&slot, 8, 9)
                .unwrap_err()
                .message
                .contains("the server picks")
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let code = |sdp: &str| check(sdp, 8, 9).unwrap_err().code;
        assert_eq!(code(&"x".repeat(MAX_OFFER_BYTES + 1)), "sdp_too_large");
        assert_eq!(code("hello"), "sdp_invalid");
        assert_eq!(
            code(&offer(1, 1).replace("a=group:BUNDLE", "")),
            "sdp_invalid"
        );
        assert_eq!(code(&offer(9, 1)), "sdp_media");
        assert_eq!(code(&offer(1, 1).replace("VP8", "AV1")), "sdp_codec");
        assert_eq!(code(&offer(1, 1).replace("opus", "PCMU")), "sdp_codec");
        // The screen line missing: the first recvonly line comes too early.
        let e = check(&offer(1, 1).replacen("a=sendonly", "a=recvonly", 1), 8, 9).unwrap_err();
        assert_eq!(e.code, "sdp_media");
        assert!(e.message.contains("m-line"), "{}", e.message);
        assert_eq!(
            code(&format!(
                "{}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
                offer(0, 0)
            )),
            "sdp_media"
        );
    }
}
