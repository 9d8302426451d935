//! Whole VP8 frames from RTP packets (RFC 7741), for the recorder: packets of one frame share a
//! timestamp, the first has the start bit set on partition 0, the last carries the marker bit.
//!
//! Invariants: a frame is emitted only when every packet from its start to its marker is here
//! (consecutive sequence numbers), frames come out in sequence order, and after a gap nothing
//! comes out until a keyframe, since a VP8 decoder shows garbage after a missing frame until the
//! next keyframe. Retransmissions may arrive late and out of order: a frame waits for its missing
//! packets until it is [`GIVE_UP`] packets or [`GIVE_UP_TS`] behind the newest.

use std::collections::BTreeMap;

use crate::media::slots::vp8_descriptor;

/// Packets a frame may be missing for, counted from its first, before it is given up.
const GIVE_UP: u64 = 96;
/// Time (90 kHz) a frame may be missing packets for, behind the newest packet, before it is
/// given up.
const GIVE_UP_TS: u32 = 90_000 * 3 / 10;

/// One whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The RTP timestamp of its packets.
    pub ts: u32,
    /// A keyframe (decodable alone).
    pub keyframe: bool,
    /// The VP8 frame (RFC 6386), without the RTP payload descriptors.
    pub data: Vec<u8>,
}

impl Frame {
    /// Width and height a keyframe declares (RFC 6386 9.1).
    pub fn size(&self) -> Option<(u16, u16)> {
        let d = &self.data;
        if !self.keyframe || d.len() < 10 || d[3..6] != [0x9d, 0x01, 0x2a] {
            return None;
        }
        let w = u16::from_le_bytes([d[6], d[7]]) & 0x3fff;
        let h = u16::from_le_bytes([d[8], d[9]]) & 0x3fff;
        Some((w, h))
    }
}

struct Part {
    ts: u32,
    start: bool,
    marker: bool,
    data: Vec<u8>,
}

/// Reassembles one VP8 stream.
#[derive(Default)]
pub struct Assembler {
    pending: BTreeMap<u64, Part>,
    /// The sequence number after the last frame emitted or dropped.
    next: Option<u64>,
    /// Nothing but a keyframe may come out next.
    need_keyframe: bool,
    started: bool,
    newest_ts: u32,
}

/// Whether `a` is after `b` on the wrapping 32-bit RTP clock.
fn ts_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

impl Assembler {
    /// A new stream: nothing comes out before its first keyframe.
    pub fn new() -> Assembler {
        Assembler {
            need_keyframe: true,
            ..Assembler::default()
        }
    }

    /// Whether the stream waits for a keyframe (the recorder then asks the sender for one).
    pub fn needs_keyframe(&self) -> bool {
        self.need_keyframe
    }

    /// Takes one packet (`seq` extended to 64 bits); returns the frames it completed.
    pub fn push(&mut self, seq: u64, ts: u32, marker: bool, payload: &[u8]) -> Vec<Frame> {
        let Some((skip, start)) = vp8_descriptor(payload) else {
            return Vec::new();
        };
        if self.next.is_some_and(|n| seq < n) || self.pending.contains_key(&seq) {
            return Vec::new(); // late (its frame is out or given up) or a duplicate
        }
        if !self.started || ts_after(ts, self.newest_ts) {
            self.newest_ts = ts;
            self.started = true;
        }
        self.pending.insert(
            seq,
            Part {
                ts,
                start,
                marker,
                data: payload[skip..].to_vec(),
            },
        );
        let mut out = Vec::new();
        while let Some(step) = self.step() {
            if let Some(frame) = step {
                out.push(frame);
            }
        }
        out
    }

    /// One step: `Some(Some(frame))` emitted, `Some(None)` dropped something, `None` waits.
    fn step(&mut self) -> Option<Option<Frame>> {
        let (&first, part) = self.pending.first_key_value()?;
        let newest = *self.pending.last_key_value()?.0;
        let stale =
            newest - first > GIVE_UP || ts_after(self.newest_ts, part.ts.wrapping_add(GIVE_UP_TS));
        match self.next {
            // Packets before the first pending one are missing: wait while they may come.
            Some(n) if first > n => {
                if !stale {
                    return None;
                }
                self.drop_until_start(first);
                return Some(None);
            }
            // Not the start of a frame, where one must begin.
            _ if !part.start => {
                self.drop_until_start(first + 1);
                return Some(None);
            }
            _ => {}
        }
        // A start: is the frame whole up to its marker?
        let ts = part.ts;
        let mut end = None;
        for (expected, (&s, p)) in (first..).zip(self.pending.range(first..)) {
            if s != expected || p.ts != ts {
                break;
            }
            if p.marker {
                end = Some(s);
                break;
            }
        }
        let Some(end) = end else {
            if stale {
                self.drop_until_start(first + 1);
                return Some(None);
            }
            return None;
        };
        let mut data = Vec::new();
        for s in first..=end {
            if let Some(p) = self.pending.remove(&s) {
                data.extend_from_slice(&p.data);
            }
        }
        self.next = Some(end + 1);
        let keyframe = data.first().is_some_and(|b| b & 0x01 == 0);
        if self.need_keyframe && !keyframe {
            return Some(None);
        }
        self.need_keyframe = false;
        Some(Some(Frame { ts, keyframe, data }))
    }

    /// Gives up what is pending before the first frame start at or after `from`: a gap, so the
    /// stream waits for a keyframe.
    fn drop_until_start(&mut self, from: u64) {
        let start = self
            .pending
            .range(from..)
            .find(|(_, p)| p.start)
            .map(|(s, _)| *s);
        match start {
            Some(s) => {
                self.pending = self.pending.split_off(&s);
                self.next = Some(s);
            }
            None => {
                let last = self.pending.last_key_value().map(|(s, _)| *s);
                self.pending.clear();
                self.next = last.map(|s| s + 1);
            }
        }
        self.need_keyframe = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `n` packets: a one-byte descriptor, then the payload bytes.
    fn frame(first_seq: u64, ts: u32, key: bool, n: usize) -> Vec<(u64, u32, bool, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let descriptor = if i == 0 { 0x10 } else { 0x00 };
                let mut payload = vec![descriptor];
                if i == 0 {
                    // VP8 frame tag: bit 0 clear on a keyframe; then a keyframe's start code
                    // and a 640x480 size.
                    payload.push(if key { 0x10 } else { 0x11 });
                    payload.extend([0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
                } else {
                    payload.push(i as u8);
                }
                (first_seq + i as u64, ts, i == n - 1, payload)
            })
            .collect()
    }

    fn feed(a: &mut Assembler, packets: &[(u64, u32, bool, Vec<u8>)]) -> Vec<Frame> {
        packets
            .iter()
            .flat_map(|(s, t, m, p)| a.push(*s, *t, *m, p))
            .collect()
    }

    #[test]
    fn whole_frames_come_out_from_the_first_keyframe_on() {
        let mut a = Assembler::new();
        let mut packets = frame(10, 1000, false, 2);
        packets.extend(frame(12, 4000, true, 3));
        packets.extend(frame(15, 7000, false, 2));
        let frames = feed(&mut a, &packets);
        assert_eq!(
            frames.len(),
            2,
            "the delta frame before the keyframe is not decodable"
        );
        assert!(frames[0].keyframe);
        assert_eq!(frames[0].size(), Some((640, 480)));
        assert_eq!(frames[0].data.len(), 10 + 2);
        assert_eq!(frames[1].ts, 7000);
        assert!(!frames[1].keyframe);
    }

    #[test]
    fn a_late_retransmission_completes_its_frame_in_order() {
        let mut a = Assembler::new();
        let key = frame(1, 0, true, 3);
        let next = frame(4, 3000, false, 2);
        let mut packets = vec![key[0].clone(), key[2].clone()];
        packets.extend(next.clone());
        assert!(
            feed(&mut a, &packets).is_empty(),
            "waits for the missing packet"
        );
        let frames = feed(&mut a, &key[1..2]);
        assert_eq!(
            frames.iter().map(|f| f.ts).collect::<Vec<_>>(),
            vec![0, 3000]
        );
    }

    #[test]
    fn a_lost_packet_drops_frames_until_the_next_keyframe() {
        let mut a = Assembler::new();
        let mut packets = frame(1, 0, true, 2);
        let mut lossy = frame(3, 3000, false, 3);
        lossy.remove(1);
        packets.extend(lossy);
        // Enough later delta frames for the hole to be given up.
        let mut seq = 6;
        for i in 0..40 {
            packets.extend(frame(seq, 6000 + i * 3000, false, 3));
            seq += 3;
        }
        packets.extend(frame(seq, 200_000, true, 2));
        let frames = feed(&mut a, &packets);
        assert!(frames[0].keyframe && frames[0].ts == 0);
        assert!(
            frames[1..].iter().all(|f| f.keyframe),
            "no delta frame after the gap: {:?}",
            frames
                .iter()
                .map(|f| (f.ts, f.keyframe))
                .collect::<Vec<_>>()
        );
        assert_eq!(frames.last().map(|f| f.ts), Some(200_000));
        assert!(!a.needs_keyframe());
    }

    #[test]
    fn duplicates_and_garbage_change_nothing() {
        let mut a = Assembler::new();
        let packets = frame(1, 0, true, 2);
        assert_eq!(feed(&mut a, &packets).len(), 1);
        assert!(feed(&mut a, &packets).is_empty());
        assert!(a.push(9, 10, true, &[]).is_empty());
        assert!(a.push(10, 10, true, &[0x80]).is_empty());
    }
}
