//! Receive slots: which source feeds each of a receiver's fixed m-lines, and how a source's RTP is
//! rewritten so that the receiver sees one continuous stream per slot.
//!
//! Invariants:
//! - [`assign`] keeps a source in the slot it already had; only slots whose source is no longer
//!   wanted are refilled, so a change of room or of the loudest speaker moves as few tiles as
//!   possible;
//! - [`Rewrite`] hands out strictly increasing sequence numbers and non-decreasing timestamps per
//!   slot, across any number of source switches, and (for video) nothing from a new source until
//!   the first packet of a keyframe.

use std::time::Instant;

/// Places `wanted` (in priority order; only the first `current.len()` can fit) into the slots.
/// A wanted source already in a slot stays there; the others take the slots that fell free, in
/// order. Returns the new content of every slot.
pub fn assign<K: Copy + PartialEq>(current: &[Option<K>], wanted: &[K]) -> Vec<Option<K>> {
    let fitting = &wanted[..wanted.len().min(current.len())];
    let mut next: Vec<Option<K>> = current
        .iter()
        .map(|k| k.filter(|k| fitting.contains(k)))
        .collect();
    let newcomers: Vec<K> = fitting
        .iter()
        .filter(|k| !next.contains(&Some(**k)))
        .copied()
        .collect();
    let mut newcomers = newcomers.into_iter();
    for slot in next.iter_mut().filter(|s| s.is_none()) {
        match newcomers.next() {
            Some(k) => *slot = Some(k),
            None => break,
        }
    }
    next
}

/// The rewriting state of one outgoing slot.
#[derive(Debug, Default)]
pub struct Rewrite {
    /// Added to a source's extended sequence number.
    seq_delta: i64,
    /// Added (wrapping) to a source's RTP timestamp.
    ts_delta: u32,
    /// The first source sequence number since the last switch; older packets are dropped.
    floor: u64,
    /// The last sequence number, timestamp and time sent on this slot.
    last: Option<(u64, u32, Instant)>,
    /// The next packet starts a new mapping.
    rebase: bool,
    /// Video: nothing passes until a keyframe starts.
    awaiting_keyframe: bool,
}

impl Rewrite {
    /// A new source feeds this slot.
    pub fn switch(&mut self, video: bool) {
        self.rebase = true;
        self.awaiting_keyframe = video;
    }

    /// The same source goes on in another of its layers, from a keyframe: the next packet starts
    /// a new mapping, without waiting for anything.
    pub fn rebase(&mut self) {
        self.rebase = true;
        self.awaiting_keyframe = false;
    }

    /// The outgoing sequence number and timestamp for a source packet, or `None` to drop it.
    /// `keyframe_start` says whether the packet begins a keyframe (asked only when needed);
    /// `clock_rate` converts the time since the last packet into RTP ticks on a switch.
    pub fn map(
        &mut self,
        seq: u64,
        ts: u32,
        now: Instant,
        clock_rate: u32,
        keyframe_start: impl FnOnce() -> bool,
    ) -> Option<(u64, u32)> {
        if self.awaiting_keyframe {
            if !keyframe_start() {
                return None;
            }
            self.awaiting_keyframe = false;
        }
        if self.rebase {
            self.rebase = false;
            let (out_seq, out_ts) = match self.last {
                Some((last_seq, last_ts, at)) => {
                    let gap = now.saturating_duration_since(at).as_secs_f64();
                    let ticks = ((gap * f64::from(clock_rate)) as u32).max(1);
                    (last_seq + 1, last_ts.wrapping_add(ticks))
                }
                None => (1, ts),
            };
            self.seq_delta = out_seq as i64 - seq as i64;
            self.ts_delta = out_ts.wrapping_sub(ts);
            self.floor = seq;
        }
        if seq < self.floor {
            // Reordered from before the switch: it would go backwards.
            return None;
        }
        let out_seq = (seq as i64 + self.seq_delta) as u64;
        let out_ts = ts.wrapping_add(self.ts_delta);
        match self.last {
            Some((last_seq, _, _)) if out_seq <= last_seq => {
                // A late packet of this source: pass it with its own numbers (the receiver
                // reorders), without moving the high-water mark.
            }
            _ => self.last = Some((out_seq, out_ts, now)),
        }
        Some((out_seq, out_ts))
    }
}

/// Whether an RTP payload begins a keyframe, for the video codecs Huddle forwards.
pub fn starts_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::Vp8 => vp8_keyframe_start(payload),
        VideoCodec::H264 => h264_keyframe(payload),
    }
}

/// The frame height a VP8 keyframe's first packet declares (RFC 6386 9.1), if `payload` is one.
pub fn vp8_keyframe_height(payload: &[u8]) -> Option<u32> {
    let at = vp8_header_offset(payload)?;
    let frame = payload.get(at..at + 10)?;
    let key = frame[0] & 0x01 == 0;
    let start_code = frame[3..6] == [0x9d, 0x01, 0x2a];
    (key && start_code).then(|| u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff))
}

/// The video codecs whose keyframes Huddle recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// VP8 (RFC 7741).
    Vp8,
    /// H.264 (RFC 6184).
    H264,
}

/// RFC 7741: the payload descriptor, then (at the start of a partition 0) the VP8 payload header,
/// whose lowest bit is 0 for a keyframe.
fn vp8_keyframe_start(p: &[u8]) -> bool {
    vp8_header_offset(p).is_some_and(|at| p.get(at).is_some_and(|b| b & 0x01 == 0))
}

/// Where the VP8 payload header starts, after the RFC 7741 descriptor, if the packet begins
/// partition 0 of a frame.
fn vp8_header_offset(p: &[u8]) -> Option<usize> {
    let (at, starts_frame) = vp8_descriptor(p)?;
    starts_frame.then_some(at)
}

/// The RFC 7741 payload descriptor of a VP8 packet: its length, and whether the packet starts a
/// frame (the start bit on partition 0).
pub fn vp8_descriptor(p: &[u8]) -> Option<(usize, bool)> {
    let first = *p.first()?;
    let start_of_partition = first & 0x10 != 0;
    let partition_zero = first & 0x07 == 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *p.get(1)?;
        at = 2;
        if ext & 0x80 != 0 {
            // Picture id: one byte, or two when its top bit is set.
            let pid = *p.get(at)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID/Y/KEYIDX
        }
    }
    (at <= p.len()).then_some((at, start_of_partition && partition_zero))
}

/// RFC 6184: an IDR slice or a parameter set (which precedes one), alone, aggregated (STAP-A) or
/// at the start of a fragmented unit (FU-A).
fn h264_keyframe(p: &[u8]) -> bool {
    let is_key = |nal: u8| matches!(nal & 0x1f, 5 | 7);
    match p.first().map(|b| b & 0x1f) {
        Some(1..=23) => is_key(p[0]),
        Some(24) => {
            let mut at = 1;
            while at + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[at], p[at + 1]]));
                if is_key(p[at + 2]) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        Some(28) => p.get(1).is_some_and(|h| h & 0x80 != 0 && is_key(*h)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn sources_keep_their_slots() {
        let current = [Some(1), Some(2), None, Some(3)];
        // 2 leaves, 4 and 5 come: 4 takes the free slot, 5 takes 2's.
        assert_eq!(
            assign(&current, &[3, 4, 1, 5]),
            vec![Some(1), Some(4), Some(5), Some(3)]
        );
        // More wanted than slots: the first ones win.
        assert_eq!(assign(&[None, None], &[7, 8, 9]), vec![Some(7), Some(8)]);
        assert_eq!(assign::<u8>(&[Some(1)], &[]), vec![None]);
    }

    #[test]
    fn recognises_keyframes() {
        // VP8: descriptor with X, I (one-byte picture id), then a keyframe header (P bit 0).
        assert!(starts_keyframe(
            VideoCodec::Vp8,
            &[0x90, 0x80, 0x05, 0x10, 0, 0]
        ));
        assert!(!starts_keyframe(
            VideoCodec::Vp8,
            &[0x90, 0x80, 0x05, 0x11, 0, 0]
        ));
        // Not the start of a partition.
        assert!(!starts_keyframe(VideoCodec::Vp8, &[0x80, 0x80, 0x05, 0x10]));
        assert!(!starts_keyframe(VideoCodec::Vp8, &[]));
        // A keyframe's header: frame tag, start code, 14-bit width and height (little-endian).
        let key = [
            0x90, 0x80, 0x05, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        assert_eq!(vp8_keyframe_height(&key), Some(360));
        let mut delta = key;
        delta[3] = 0x11;
        assert_eq!(vp8_keyframe_height(&delta), None);
        assert_eq!(vp8_keyframe_height(&key[..10]), None);
        // H.264: SPS alone, STAP-A with SPS, FU-A start of an IDR, a P slice.
        assert!(starts_keyframe(VideoCodec::H264, &[0x67, 1, 2]));
        assert!(starts_keyframe(
            VideoCodec::H264,
            &[0x78, 0, 2, 0x67, 1, 0, 1, 0x68]
        ));
        assert!(starts_keyframe(VideoCodec::H264, &[0x7c, 0x85, 1]));
        assert!(!starts_keyframe(VideoCodec::H264, &[0x7c, 0x05, 1]));
        assert!(!starts_keyframe(VideoCodec::H264, &[0x41, 1]));
    }

    #[test]
    fn video_waits_for_a_keyframe_after_a_switch() {
        let t0 = Instant::now();
        let mut r = Rewrite::default();
        r.switch(true);
        assert_eq!(r.map(100, 5000, t0, 90_000, || false), None);
        assert_eq!(r.map(101, 5000, t0, 90_000, || true), Some((1, 5000)));
        assert_eq!(r.map(102, 8000, t0, 90_000, || false), Some((2, 8000)));
        // Another source 100 ms later, far away in both numbers.
        r.switch(true);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.map(9, 1, t1, 90_000, || true), Some((3, 8000 + 9000)));
        assert_eq!(r.map(10, 3001, t1, 90_000, || false), Some((4, 20_000)));
        // A packet of the new source from before its first one is dropped.
        assert_eq!(r.map(8, 0, t1, 90_000, || false), None);
    }

    proptest! {
        /// Whatever the sources' numbers and however often the slot switches, what goes out is
        /// strictly increasing in sequence and never goes back in time.
        #[test]
        fn continuous_per_slot(
            steps in proptest::collection::vec((any::<bool>(), 0u64..1 << 40, any::<u32>(), 0u64..50), 1..200)
        ) {
            let t0 = Instant::now();
            let mut r = Rewrite::default();
            let mut src = (0u64, 0u32);
            let mut last: Option<(u64, u32)> = None;
            let mut elapsed = 0;
            for (switch, seq, ts, gap_ms) in steps {
                elapsed += gap_ms;
                if switch || last.is_none() {
                    r.switch(false);
                    src = (seq, ts);
                } else {
                    src = (src.0 + 1, src.1.wrapping_add(960));
                }
                let now = t0 + Duration::from_millis(elapsed);
                let (s, t) = r.map(src.0, src.1, now, 48_000, || true).unwrap();
                if let Some((ls, lt)) = last {
                    prop_assert_eq!(s, ls + 1);
                    prop_assert!(t.wrapping_sub(lt) < 1 << 31, "timestamp went back");
                }
                last = Some((s, t));
            }
        }
    }
}
