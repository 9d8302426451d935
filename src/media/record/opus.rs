//! Opus in Ogg (RFC 7845) for one microphone, as its RTP packets arrive. The `ogg` crate lays out
//! the pages; this writes the two header packets and the granule positions.
//!
//! The granule position is the RTP timestamp since the file's first packet (both count 48 kHz
//! samples), so a pause in sending (a muted microphone) leaves a jump in the granules rather than
//! shifting what follows. A page ends every second and goes to the file, so a crash loses at
//! most the last second. One packet is held back, so the last one written can close the stream.

use std::io::{self, Write};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Packets per page (20 ms each: a second).
const PER_PAGE: u32 = 50;

/// Samples at 48 kHz one Opus packet holds, from its TOC byte (RFC 6716 3.1).
pub fn samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame length in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    Some(frame * frames)
}

/// Writes one Opus stream into an Ogg file.
pub struct OpusWriter<W: Write> {
    pages: PacketWriter<'static, W>,
    serial: u32,
    first_ts: Option<u32>,
    /// The last packet's timestamp, extended past wraps (samples since the first packet).
    last: u64,
    /// The packet held back, with the granule position at its end.
    held: Option<(Vec<u8>, u64)>,
    in_page: u32,
}

impl<W: Write> OpusWriter<W> {
    /// Writes the identification and comment headers (RFC 7845 5.1, 5.2).
    pub fn new(out: W, serial: u32) -> io::Result<OpusWriter<W>> {
        let mut pages = PacketWriter::new(out);
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(2); // channels: RTP Opus is always declared stereo (RFC 7587)
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: RTP carries none
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0
        pages.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        let vendor = b"huddle";
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes()); // no comments
        pages.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        pages.inner_mut().flush()?;
        Ok(OpusWriter {
            pages,
            serial,
            first_ts: None,
            last: 0,
            held: None,
            in_page: 0,
        })
    }

    /// Appends a packet with RTP timestamp `ts`; one that is not after the last is dropped (a
    /// duplicate or a late one).
    pub fn packet(&mut self, ts: u32, data: &[u8]) -> io::Result<()> {
        let Some(samples) = samples(data) else {
            return Ok(());
        };
        let at = match self.first_ts {
            None => {
                self.first_ts = Some(ts);
                0
            }
            Some(_) => {
                let delta = ts.wrapping_sub(self.last_ts());
                if delta == 0 || delta >= 1 << 31 {
                    return Ok(());
                }
                self.last + u64::from(delta)
            }
        };
        self.last = at;
        if let Some((packet, granule)) = self.held.take() {
            self.in_page += 1;
            let end = if self.in_page >= PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.pages.write_packet(packet, self.serial, end, granule)?;
            if self.in_page == 0 {
                self.pages.inner_mut().flush()?;
            }
        }
        self.held = Some((data.to_vec(), at + samples));
        Ok(())
    }

    fn last_ts(&self) -> u32 {
        self.first_ts.unwrap_or(0).wrapping_add(self.last as u32)
    }

    /// Writes the held packet as the stream's last and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some((packet, granule)) = self.held.take() {
            self.pages
                .write_packet(packet, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        }
        self.pages.inner_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lengths_follow_the_toc_byte() {
        // Config 31 (CELT 20 ms), one frame: what browsers send.
        assert_eq!(samples(&[0xF8, 0xFF]), Some(960));
        // Config 1 (SILK 20 ms), two frames.
        assert_eq!(samples(&[0x09]), Some(1920));
        // Config 16 (CELT 2.5 ms), code 3 with 4 frames.
        assert_eq!(samples(&[0x83, 0x04]), Some(480));
        assert_eq!(samples(&[]), None);
    }

    #[test]
    fn granules_follow_rtp_time_across_a_pause_and_a_wrap() {
        let mut file = Vec::new();
        let mut w = OpusWriter::new(&mut file, 7).unwrap();
        let start = u32::MAX - 960; // wraps after the first packet
        w.packet(start, &[0xF8, 1]).unwrap();
        w.packet(start.wrapping_add(960), &[0xF8, 2]).unwrap();
        w.packet(start.wrapping_add(960), &[0xF8, 9]).unwrap(); // duplicate: dropped
        w.packet(start.wrapping_add(48_000 * 3), &[0xF8, 3])
            .unwrap(); // after a 3 s pause
        w.finish().unwrap();
        let mut reader = ogg::reading::PacketReader::new(std::io::Cursor::new(file));
        let mut packets = Vec::new();
        while let Some(p) = reader.read_packet().unwrap() {
            packets.push((p.data.clone(), p.absgp_page(), p.last_in_stream()));
        }
        assert_eq!(&packets[0].0[..8], b"OpusHead");
        assert_eq!(&packets[1].0[..8], b"OpusTags");
        let audio: Vec<_> = packets[2..].iter().map(|p| p.0[1]).collect();
        assert_eq!(audio, vec![1, 2, 3]);
        let last = packets.last().unwrap();
        assert_eq!(
            last.1,
            48_000 * 3 + 960,
            "the granule at the end of the last packet"
        );
        assert!(last.2, "the last packet closes the stream");
    }
}
