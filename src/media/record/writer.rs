//! The recorder's thread: takes the packets the media thread taps and writes each person's each
//! source to a file of its own (Opus in Ogg, VP8 in WebM), with a timeline of the recording
//! (`timeline.jsonl`: who was present, who spoke, when each file starts).
//!
//! Invariants: the media thread never waits for it (packets beyond [`QUEUE`] waiting are dropped
//! and counted); a person who leaves the room and comes back gets new files; on `End` every file
//! is closed and synced to disk before the stop is confirmed, so the files alone are enough to
//! compose the recording after a crash.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::warn;

use super::opus::OpusWriter;
use super::vp8::Assembler;
use super::webm::WebmWriter;
use crate::domain::call::Source;
use crate::ids::{PersonId, RecordingId, RoomId};
use crate::metrics::Metrics;

/// Packets that may wait for the writer before more are dropped.
pub const QUEUE: usize = 8_192;
/// How often a video file's buffer goes to disk.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What the media thread hands the recorder.
#[derive(Debug)]
pub enum Tap {
    /// A recording starts, writing into `dir`.
    Begin {
        /// Which.
        id: RecordingId,
        /// Its directory.
        dir: PathBuf,
        /// When.
        at: Instant,
    },
    /// A packet of a source in a recorded room.
    Packet(Packet),
    /// Something for the timeline.
    Note {
        /// Which recording.
        id: RecordingId,
        /// When.
        at: Instant,
        /// Who.
        person: PersonId,
        /// What.
        note: Note,
    },
    /// The recording ends: close the files, then say so on `done`.
    End {
        /// Which.
        id: RecordingId,
        /// When.
        at: Instant,
        /// Told once every file is on disk.
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

/// One tapped RTP packet.
#[derive(Debug)]
pub struct Packet {
    /// Which recording.
    pub id: RecordingId,
    /// The main room (to ask for keyframes).
    pub stream: RoomId,
    /// Whose.
    pub person: PersonId,
    /// Which source.
    pub source: Source,
    /// The simulcast layer (a change restarts the video at a keyframe).
    pub layer: usize,
    /// Extended sequence number.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// RTP marker bit.
    pub marker: bool,
    /// The payload (shared with the forwarding, not copied).
    pub payload: std::sync::Arc<[u8]>,
    /// When it arrived.
    pub at: Instant,
}

/// A line of the timeline about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Came into the room (or was there when recording started).
    Present {
        /// Display name.
        name: String,
    },
    /// Left the room.
    Absent,
    /// Started speaking.
    Speaking,
    /// Stopped speaking.
    Silent,
    /// Left the call but not the room: their files end (a new connection starts new ones).
    HungUp,
}

/// The media thread's end of the recorder.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Tap>,
    queued: Arc<AtomicUsize>,
    /// Video sources whose recording waits for a keyframe: (main room, person, source).
    pub asks: Arc<Mutex<HashSet<(RoomId, PersonId, Source)>>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// Starts the writer thread.
    pub fn start(metrics: Arc<Metrics>) -> std::io::Result<Recorder> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let asks = Arc::new(Mutex::new(HashSet::new()));
        let mut writer = Writer {
            active: HashMap::new(),
            queued: queued.clone(),
            asks: asks.clone(),
        };
        std::thread::Builder::new()
            .name("huddle-recorder".into())
            .spawn(move || {
                while let Ok(tap) = rx.recv() {
                    writer.handle(tap);
                }
            })?;
        Ok(Recorder {
            tx,
            queued,
            asks,
            metrics,
        })
    }

    /// Hands over a control message (never dropped).
    pub fn send(&self, tap: Tap) {
        let _ = self.tx.send(tap);
    }

    /// Hands over a packet, or drops it if the writer is too far behind.
    pub fn packet(&self, packet: Packet) {
        if self.queued.load(Ordering::Relaxed) >= QUEUE {
            self.metrics.recording_packets_dropped.inc();
            return;
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Tap::Packet(packet));
    }
}

enum Track {
    Audio(OpusWriter<BufWriter<File>>),
    Video(Video),
    /// Writing failed: the rest of this source is not recorded.
    Broken,
}

struct Video {
    layer: usize,
    frames: Assembler,
    file: Option<WebmWriter<BufWriter<File>>>,
    /// The file's start.
    start: Instant,
    /// (RTP timestamp, milliseconds into the file) of the layer's first frame.
    base: Option<(u32, u64)>,
    flushed: Instant,
}

struct Active {
    dir: PathBuf,
    start: Instant,
    timeline: BufWriter<File>,
    tracks: HashMap<(PersonId, Source), Track>,
    files: u32,
}

struct Writer {
    active: HashMap<RecordingId, Active>,
    queued: Arc<AtomicUsize>,
    asks: Arc<Mutex<HashSet<(RoomId, PersonId, Source)>>>,
}

fn ms(since: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(since).as_millis() as u64
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(64 * 1024, File::create(path)?))
}

impl Active {
    fn line(&mut self, value: serde_json::Value) {
        let line = format!("{value}\n");
        if let Err(e) = self
            .timeline
            .write_all(line.as_bytes())
            .and_then(|()| self.timeline.flush())
        {
            warn!(dir = %self.dir.display(), error = %e, "writing the recording's timeline failed");
        }
    }

    /// A new file for a source; its name and start go to the timeline.
    fn open(&mut self, person: PersonId, source: Source, at: Instant) -> (PathBuf, String) {
        self.files += 1;
        let ext = if source.is_video() { "webm" } else { "ogg" };
        let name = format!("{:04}-{}-{}.{ext}", self.files, person, source.as_str());
        let t = ms(self.start, at);
        self.line(json!({"t": t, "event": "track", "file": name, "person": person, "source": source.as_str()}));
        (self.dir.join(&name), name)
    }

    fn close(&mut self, person: PersonId, source: Source) {
        match self.tracks.remove(&(person, source)) {
            Some(Track::Audio(w)) => {
                if let Err(e) = w.finish() {
                    warn!(error = %e, "closing a recorded audio file failed");
                }
            }
            Some(Track::Video(Video {
                file: Some(mut w), ..
            })) => {
                if let Err(e) = w.flush() {
                    warn!(error = %e, "closing a recorded video file failed");
                }
            }
            _ => {}
        }
    }
}

impl Writer {
    fn handle(&mut self, tap: Tap) {
        match tap {
            Tap::Begin { id, dir, at } => {
                let opened = std::fs::create_dir_all(&dir)
                    .and_then(|()| create(&dir.join("timeline.jsonl")));
                match opened {
                    Ok(timeline) => {
                        let mut active = Active {
                            dir,
                            start: at,
                            timeline,
                            tracks: HashMap::new(),
                            files: 0,
                        };
                        let wall = (time::OffsetDateTime::now_utc().unix_timestamp_nanos()
                            / 1_000_000) as i64;
                        active.line(json!({"t": 0, "event": "start", "wall_ms": wall}));
                        self.active.insert(id, active);
                    }
                    Err(e) => {
                        warn!(dir = %dir.display(), error = %e, "cannot write the recording")
                    }
                }
            }
            Tap::Packet(p) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.packet(p);
            }
            Tap::Note {
                id,
                at,
                person,
                note,
            } => {
                let Some(active) = self.active.get_mut(&id) else {
                    return;
                };
                let t = ms(active.start, at);
                match note {
                    Note::Present { name } => active
                        .line(json!({"t": t, "event": "present", "person": person, "name": name})),
                    Note::Absent | Note::HungUp => {
                        for source in Source::ALL {
                            active.close(person, source);
                        }
                        let event = if note == Note::Absent {
                            "absent"
                        } else {
                            "hangup"
                        };
                        active.line(json!({"t": t, "event": event, "person": person}));
                    }
                    Note::Speaking => {
                        active.line(json!({"t": t, "event": "speaking", "person": person}))
                    }
                    Note::Silent => {
                        active.line(json!({"t": t, "event": "silent", "person": person}))
                    }
                }
            }
            Tap::End { id, at, done } => {
                if let Some(mut active) = self.active.remove(&id) {
                    let keys: Vec<(PersonId, Source)> = active.tracks.keys().copied().collect();
                    for (person, source) in keys {
                        active.close(person, source);
                    }
                    let t = ms(active.start, at);
                    active.line(json!({"t": t, "event": "end"}));
                    sync_dir(&active.dir);
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
        }
    }

    fn packet(&mut self, p: Packet) {
        let Some(active) = self.active.get_mut(&p.id) else {
            return;
        };
        let key = (p.person, p.source);
        let mut track = match active.tracks.remove(&key) {
            Some(track) => track,
            None if p.source.is_video() => Track::Video(Video {
                layer: p.layer,
                frames: Assembler::new(),
                file: None,
                start: p.at,
                base: None,
                flushed: p.at,
            }),
            None => {
                let (path, _) = active.open(p.person, p.source, p.at);
                match create(&path).and_then(|f| OpusWriter::new(f, rand::random())) {
                    Ok(w) => Track::Audio(w),
                    Err(e) => {
                        warn!(file = %path.display(), error = %e, "cannot write a recorded source");
                        Track::Broken
                    }
                }
            }
        };
        let result = match &mut track {
            Track::Audio(w) => w.packet(p.ts, &p.payload),
            Track::Video(v) => {
                let result = video(active, v, &p);
                if v.frames.needs_keyframe()
                    && let Ok(mut asks) = self.asks.lock()
                {
                    asks.insert((p.stream, p.person, p.source));
                }
                result
            }
            Track::Broken => Ok(()),
        };
        if let Err(e) = result {
            warn!(dir = %active.dir.display(), error = %e, "writing a recorded source failed; it stops here");
            track = Track::Broken;
        }
        active.tracks.insert(key, track);
    }
}

/// Takes a video packet: whole frames go to the file, which opens at the first keyframe.
fn video(active: &mut Active, v: &mut Video, p: &Packet) -> std::io::Result<()> {
    if v.layer != p.layer {
        // Another layer: its frames start over at a keyframe, on its own clock.
        v.layer = p.layer;
        v.frames = Assembler::new();
        v.base = None;
    }
    for frame in v.frames.push(p.seq, p.ts, p.marker, &p.payload) {
        if v.file.is_none() {
            let Some((w, h)) = frame.size() else {
                continue;
            };
            let (path, _) = active.open(p.person, p.source, p.at);
            v.file = Some(WebmWriter::new(create(&path)?, w, h)?);
            v.start = p.at;
        }
        write_frame(v, &frame, p.at)?;
    }
    Ok(())
}

fn write_frame(v: &mut Video, frame: &super::vp8::Frame, at: Instant) -> std::io::Result<()> {
    let arrived = ms(v.start, at);
    let (base_ts, base_ms) = *v.base.get_or_insert((frame.ts, arrived));
    let t = base_ms + u64::from(frame.ts.wrapping_sub(base_ts)) / 90;
    let Some(file) = v.file.as_mut() else {
        return Ok(());
    };
    file.frame(t, frame.keyframe, &frame.data)?;
    if at.saturating_duration_since(v.flushed) >= FLUSH_EVERY {
        v.flushed = at;
        file.flush()?;
    }
    Ok(())
}

/// Syncs every file of a finished recording, and the directory, to disk.
fn sync_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(file) = File::open(entry.path()) {
            let _ = file.sync_all();
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
