//! A WebM (Matroska) writer for one VP8 track, in the live layout browsers' `MediaRecorder` also
//! writes: the Segment and each Cluster have an unknown size and there is no index, so every
//! byte is final when written and a file cut short by a crash still plays up to its last whole
//! frame. Written by hand because it is a few elements; the crates that write WebM seek back to
//! patch sizes, which a crash would leave undone.
//!
//! Invariants: block times never go backwards; a cluster starts at a keyframe when the current
//! one is a second old, and always before a block's time would overflow its 16-bit offset.

use std::io::{self, Write};

const EBML: u32 = 0x1A45_DFA3;
const EBML_VERSION: u32 = 0x4286;
const EBML_READ_VERSION: u32 = 0x42F7;
const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
const DOC_TYPE: u32 = 0x4282;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_UID: u32 = 0x73C5;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const CLUSTER: u32 = 0x1F43_B675;
const CLUSTER_TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
/// The size field that means "unknown" (8 bytes, all value bits set).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// An element ID as written (IDs carry their own length marker).
fn id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// A size as an EBML variable-length integer, in the fewest bytes.
fn size(out: &mut Vec<u8>, n: u64) {
    let mut len = 1;
    // A length of `len` bytes holds 7 × len value bits; all ones is reserved for "unknown".
    while len < 8 && n >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    let marked = n | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

fn element(out: &mut Vec<u8>, element_id: u32, body: &[u8]) {
    id(out, element_id);
    size(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn uint(out: &mut Vec<u8>, element_id: u32, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    element(out, element_id, &bytes[skip..]);
}

/// Writes one VP8 track as WebM.
pub struct WebmWriter<W: Write> {
    out: W,
    /// The current cluster's time, in milliseconds.
    cluster: Option<u64>,
    last: u64,
}

impl<W: Write> WebmWriter<W> {
    /// Writes the header, with the first keyframe's size.
    pub fn new(mut out: W, width: u16, height: u16) -> io::Result<WebmWriter<W>> {
        let mut head = Vec::with_capacity(160);
        let mut ebml = Vec::new();
        uint(&mut ebml, EBML_VERSION, 1);
        uint(&mut ebml, EBML_READ_VERSION, 1);
        uint(&mut ebml, EBML_MAX_ID_LENGTH, 4);
        uint(&mut ebml, EBML_MAX_SIZE_LENGTH, 8);
        element(&mut ebml, DOC_TYPE, b"webm");
        uint(&mut ebml, DOC_TYPE_VERSION, 4);
        uint(&mut ebml, DOC_TYPE_READ_VERSION, 2);
        element(&mut head, EBML, &ebml);
        id(&mut head, SEGMENT);
        head.extend_from_slice(&UNKNOWN_SIZE);
        let mut info = Vec::new();
        uint(&mut info, TIMESTAMP_SCALE, 1_000_000);
        element(&mut info, MUXING_APP, b"huddle");
        element(&mut info, WRITING_APP, b"huddle");
        element(&mut head, INFO, &info);
        let mut video = Vec::new();
        uint(&mut video, PIXEL_WIDTH, u64::from(width));
        uint(&mut video, PIXEL_HEIGHT, u64::from(height));
        let mut track = Vec::new();
        uint(&mut track, TRACK_NUMBER, 1);
        uint(&mut track, TRACK_UID, 1);
        uint(&mut track, TRACK_TYPE, 1);
        element(&mut track, CODEC_ID, b"V_VP8");
        element(&mut track, VIDEO, &video);
        let mut entry = Vec::new();
        element(&mut entry, TRACK_ENTRY, &track);
        element(&mut head, TRACKS, &entry);
        out.write_all(&head)?;
        Ok(WebmWriter {
            out,
            cluster: None,
            last: 0,
        })
    }

    /// Appends a frame at `at_ms` (milliseconds since the file's start).
    pub fn frame(&mut self, at_ms: u64, keyframe: bool, data: &[u8]) -> io::Result<()> {
        let at = at_ms.max(self.last);
        self.last = at;
        let mut bytes = Vec::with_capacity(data.len() + 24);
        let start_cluster = match self.cluster {
            None => true,
            Some(c) => (keyframe && at - c >= 1_000) || at - c > i16::MAX as u64,
        };
        if start_cluster {
            id(&mut bytes, CLUSTER);
            bytes.extend_from_slice(&UNKNOWN_SIZE);
            uint(&mut bytes, CLUSTER_TIMESTAMP, at);
            self.cluster = Some(at);
        }
        let offset = (at - self.cluster.unwrap_or(at)) as i16;
        id(&mut bytes, SIMPLE_BLOCK);
        size(&mut bytes, data.len() as u64 + 4);
        bytes.push(0x81); // track 1
        bytes.extend_from_slice(&offset.to_be_bytes());
        bytes.push(if keyframe { 0x80 } else { 0x00 });
        bytes.extend_from_slice(data);
        self.out.write_all(&bytes)
    }

    /// Pushes what is buffered to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_variable_length_integers() {
        let encode = |n| {
            let mut v = Vec::new();
            size(&mut v, n);
            v
        };
        assert_eq!(encode(0), vec![0x80]);
        assert_eq!(encode(126), vec![0xFE]);
        // 127 with one byte would be all ones, which means "unknown".
        assert_eq!(encode(127), vec![0x40, 0x7F]);
        assert_eq!(encode(1000), vec![0x43, 0xE8]);
        assert_eq!(encode(16_383), vec![0x20, 0x3F, 0xFF]);
    }

    #[test]
    fn the_header_and_blocks_are_laid_out_as_matroska_says() {
        let mut file = Vec::new();
        let mut w = WebmWriter::new(&mut file, 640, 480).unwrap();
        w.frame(0, true, &[1, 2, 3]).unwrap();
        w.frame(40, false, &[4]).unwrap();
        w.frame(1_040, true, &[5]).unwrap();
        w.frame(1_000, false, &[6]).unwrap(); // out of order: kept at the last time
        assert_eq!(&file[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        let find = |needle: &[u8]| file.windows(needle.len()).filter(|w| *w == needle).count();
        assert_eq!(find(b"webm"), 1);
        assert_eq!(find(b"V_VP8"), 1);
        assert_eq!(find(&[0xB0, 0x82, 0x02, 0x80]), 1, "width 640");
        assert_eq!(find(&[0xBA, 0x82, 0x01, 0xE0]), 1, "height 480");
        assert_eq!(
            find(&[0x1F, 0x43, 0xB6, 0x75]),
            2,
            "a new cluster at the keyframe"
        );
        // Block: id, size 4 + 3, track 1, offset 0, keyframe flag, data.
        assert_eq!(find(&[0xA3, 0x87, 0x81, 0, 0, 0x80, 1, 2, 3]), 1);
        assert_eq!(find(&[0xA3, 0x85, 0x81, 0, 40, 0x00, 4]), 1);
        // The second cluster's time is 1040 ms; the late frame is placed at 1040 too.
        assert_eq!(find(&[0xE7, 0x82, 0x04, 0x10]), 1);
        assert_eq!(find(&[0xA3, 0x85, 0x81, 0, 0, 0x00, 6]), 1);
    }
}
