//! Recordings after the call: each stopped recording's raw files (written by
//! `media::record`) are composed by ffmpeg into one WebM file that plays in a browser, which is
//! stored and added to the recorded room as a `recording` item.
//!
//! Jobs run in the background, at most `recording_jobs` at once, with their progress kept for
//! moderators ([`Recordings::progress`]). The `recordings` table is the queue: a recording stopped
//! but not composed is a job, so after a crash or a restart [`Recordings::start`] finds it and
//! composes it again from the raw files (which stay until the item is committed; the item's id
//! is the recording's, so composing twice adds one item).
//!
//! - **Fair across main rooms.** Jobs wait per main room and main rooms take turns
//!   ([`crate::turns`]): a class that stops ten recordings at once delays another class's one by
//!   one job, not ten.
//! - **Cancelled with their room.** A deleted room takes its recordings' rows with it. Every
//!   [`SWEEP_EVERY`] while jobs wait or run, the jobs whose row is gone (or was composed or
//!   failed elsewhere) are dropped, a running ffmpeg killed, and their raw files removed.
//! - **Nothing to compose.** A recording in which nobody sent sound or picture is discarded
//!   (failed with that reason, its files removed), not composed into a black video.
//!
//! The quota ([`Recordings::check_quota`]) counts the raw files under `DATA_DIR/recordings` and
//! the composed recordings in the file store.

pub mod compose;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use utoipa::ToSchema;

use crate::contract::{Commander, RoomError};
use crate::domain::DomainError;
use crate::domain::content::FileInfo;
use crate::domain::recording::{Recording, RecordingCommand};
use crate::domain::room::{Caller, Command};
use crate::ids::{RecordingId, RoomId};
use crate::metrics::Metrics;
use crate::store::SharedStore;
use crate::store::blobs::Blobs;
use crate::turns::Turns;

/// How recordings are kept and composed.
#[derive(Clone, Debug)]
pub struct RecordingConfig {
    /// Bytes recordings may take on disk before a new one is refused.
    pub quota_bytes: u64,
    /// Recordings composed at once.
    pub jobs: usize,
    /// Recordings under way at once in one main room with its breakout rooms.
    pub per_room: usize,
    /// Recordings under way at once that one person started.
    pub per_person: usize,
    /// The ffmpeg program.
    pub ffmpeg: std::path::PathBuf,
}

/// How often waiting and running jobs are checked against the store, to drop those of deleted
/// rooms.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a job waits for the media thread to close a recording's files.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);
/// How often a node of a cluster looks for recordings whose composer is gone.
pub const ORPHANS_EVERY: Duration = Duration::from_secs(10);
/// A job is taken up by another node only this long after its recording stopped: the node that
/// stopped it claims it at once, and its files are closed by then.
const ORPHAN_AFTER: Duration = Duration::from_secs(30);

/// Where a composing job stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Progress {
    /// Waiting for its turn.
    Waiting,
    /// ffmpeg is at work.
    Composing {
        /// How much is done, 0 to 100.
        percent: u8,
    },
    /// It failed (the reason is kept with the recording).
    Failed {
        /// Why.
        error: String,
    },
}

/// A recording to compose.
#[derive(Debug)]
pub struct Job {
    /// Its main room (whose turn it waits for).
    pub main: RoomId,
    /// The recording.
    pub recording: Recording,
    /// When it stopped.
    pub stopped_at: i64,
    /// Told once the media thread has closed its files (`None`: they were closed long ago).
    pub closed: Option<oneshot::Receiver<()>>,
}

/// The recordings service.
pub struct Recordings {
    dir: PathBuf,
    config: RecordingConfig,
    jobs: Mutex<Jobs>,
    /// Told when a job is queued or a composer is free.
    wake: Notify,
    progress: Mutex<HashMap<RecordingId, Progress>>,
}

/// Jobs waiting, by main room, and those being composed, each with what cancels it.
#[derive(Default)]
struct Jobs {
    waiting: Turns<RoomId, Job>,
    running: HashMap<RecordingId, CancellationToken>,
    /// The runner took the queue ([`Recordings::start`]).
    started: bool,
}

/// The quota is used up.
#[derive(Debug, thiserror::Error)]
#[error(
    "recordings take {used_mb} MB of the {quota_mb} MB allowed (recording_quota_mb); delete old recordings first"
)]
pub struct QuotaFull {
    /// Megabytes in use.
    pub used_mb: u64,
    /// The quota, in megabytes.
    pub quota_mb: u64,
}

impl Recordings {
    /// The service for `data_dir/recordings`; jobs wait until [`Recordings::start`].
    pub fn new(data_dir: &Path, config: RecordingConfig) -> Arc<Recordings> {
        Arc::new(Recordings {
            dir: data_dir.join("recordings"),
            config,
            jobs: Mutex::new(Jobs::default()),
            wake: Notify::new(),
            progress: Mutex::new(HashMap::new()),
        })
    }

    /// Where a recording's raw files go.
    pub fn dir_of(&self, id: RecordingId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// A recording stopped: compose it once its files are closed.
    pub fn stopped(&self, job: Job) {
        self.set(job.recording.id, Some(Progress::Waiting));
        self.jobs().waiting.push(job.main, job);
        self.wake.notify_one();
    }

    /// A std mutex: held for a few instructions, never across an `.await`.
    fn jobs(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where composing a recording stands, if it is not done.
    pub fn progress(&self, id: RecordingId) -> Option<Progress> {
        self.progress.lock().ok()?.get(&id).cloned()
    }

    fn set(&self, id: RecordingId, progress: Option<Progress>) {
        if let Ok(mut map) = self.progress.lock() {
            match progress {
                Some(p) => map.insert(id, p),
                None => map.remove(&id),
            };
        }
    }

    /// Refuses when recordings already take the quota.
    pub async fn check_quota(&self, store: &SharedStore) -> Result<(), QuotaFull> {
        let raw = dir_size(&self.dir).await;
        let stored = store.recording_bytes().await.unwrap_or(0);
        let used = raw + stored;
        if used >= self.config.quota_bytes {
            return Err(QuotaFull {
                used_mb: used >> 20,
                quota_mb: self.config.quota_bytes >> 20,
            });
        }
        Ok(())
    }

    /// Starts the job runner: first the recordings left stopped but not composed (by a crash or
    /// a restart), then each one that stops, main rooms in turns. In a cluster (`node`), each job
    /// is claimed in the store before it is composed, so that one node composes it, and the jobs
    /// whose composer died are taken up by another node ([`ORPHANS_EVERY`]).
    pub fn start(
        self: &Arc<Self>,
        rooms: Arc<dyn Commander>,
        store: SharedStore,
        blobs: Blobs,
        metrics: Arc<Metrics>,
        node: Option<Arc<crate::cluster::Node>>,
    ) {
        if std::mem::replace(&mut self.jobs().started, true) {
            return;
        }
        if let Some(node) = &node {
            self.adopt_orphans(node.clone(), store.clone());
        }
        self.sweep(store.clone());
        let this = self.clone();
        tokio::spawn(async move {
            match store.recording_jobs().await {
                Ok(rows) => {
                    for row in rows {
                        info!(recording = %row.recording.id, "composing a recording left from before");
                        this.stopped(Job {
                            main: row.main_id,
                            recording: row.recording,
                            stopped_at: row.stopped_at.unwrap_or_default(),
                            closed: None,
                        });
                    }
                }
                Err(e) => warn!(error = %e, "cannot list the recordings left to compose"),
            }
            let permits = Arc::new(tokio::sync::Semaphore::new(this.config.jobs));
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let job = loop {
                    if let Some((_, job)) = this.jobs().waiting.pop() {
                        break job;
                    }
                    this.wake.notified().await;
                };
                let cancel = CancellationToken::new();
                this.jobs().running.insert(job.recording.id, cancel.clone());
                let (this, rooms, store, blobs, metrics, node) = (
                    this.clone(),
                    rooms.clone(),
                    store.clone(),
                    blobs.clone(),
                    metrics.clone(),
                    node.clone(),
                );
                tokio::spawn(async move {
                    let id = job.recording.id;
                    let dir = this.dir_of(id);
                    let outcome = tokio::select! {
                        outcome = this.claim_and_run(job, &rooms, &store, &blobs, node.as_deref()) => outcome,
                        () = cancel.cancelled() => Err(Failure::Cancelled),
                    };
                    this.jobs().running.remove(&id);
                    match outcome {
                        Ok(()) => {
                            metrics.recordings_composed.inc();
                            this.set(id, None);
                        }
                        Err(Failure::Elsewhere) => this.set(id, None),
                        Err(Failure::Cancelled) => {
                            info!(recording = %id, "the recording's room was deleted: composing it is cancelled");
                            let _ = tokio::fs::remove_dir_all(&dir).await;
                            this.set(id, None);
                        }
                        Err(Failure::Retry(e)) => {
                            warn!(recording = %id, error = %e, "composing the recording failed; it is tried again at the next start");
                            this.set(id, Some(Progress::Failed { error: e }));
                        }
                        Err(Failure::Final(e)) => {
                            warn!(recording = %id, error = %e, "the recording cannot be composed");
                            if let Err(e) = store.recording_failed(id, &e).await {
                                warn!(recording = %id, error = %e, "noting the failure failed");
                            }
                            this.set(id, Some(Progress::Failed { error: e }));
                        }
                    }
                    drop(permit);
                });
            }
        });
    }

    /// In a cluster, claims the job first (another node may have it); then composes it.
    async fn claim_and_run(
        &self,
        job: Job,
        rooms: &Arc<dyn Commander>,
        store: &SharedStore,
        blobs: &Blobs,
        node: Option<&crate::cluster::Node>,
    ) -> Result<(), Failure> {
        let id = job.recording.id;
        if let Some(node) = node {
            match store
                .claim_recording(id, &node.id, node.alive_since())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    info!(recording = %id, "another node composes the recording (or its room is gone)");
                    return Err(Failure::Elsewhere);
                }
                Err(e) => {
                    warn!(recording = %id, error = %e, "cannot claim the recording's job; another node or a later look takes it");
                    return Err(Failure::Elsewhere);
                }
            }
        }
        self.run(job, rooms, blobs).await
    }

    /// Every [`SWEEP_EVERY`] while jobs wait or run: those whose recording is no longer a job in
    /// the store (its room was deleted, or another node finished it) are dropped, and a running
    /// one cancelled, which kills its ffmpeg.
    fn sweep(self: &Arc<Self>, store: SharedStore) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else {
                    return;
                };
                // Only jobs known before the look are judged by it: one queued meanwhile was
                // stopped after the look was taken.
                let known: HashSet<RecordingId> = {
                    let jobs = this.jobs();
                    let waiting = jobs.waiting.iter().map(|(_, job)| job.recording.id);
                    waiting.chain(jobs.running.keys().copied()).collect()
                };
                if known.is_empty() {
                    continue;
                }
                let Ok(rows) = store.recording_jobs().await else {
                    continue;
                };
                let live: HashSet<RecordingId> = rows.iter().map(|r| r.recording.id).collect();
                let gone = |id: &RecordingId| known.contains(id) && !live.contains(id);
                let dropped = {
                    let mut jobs = this.jobs();
                    for (id, cancel) in &jobs.running {
                        if gone(id) {
                            cancel.cancel();
                        }
                    }
                    jobs.waiting.remove_where(|_, job| gone(&job.recording.id))
                };
                for job in dropped {
                    let id = job.recording.id;
                    info!(recording = %id, "the recording's room was deleted: its job is dropped");
                    let _ = tokio::fs::remove_dir_all(this.dir_of(id)).await;
                    this.set(id, None);
                }
            }
        });
    }

    /// In a cluster, every [`ORPHANS_EVERY`], hands the runner the jobs that another node claimed
    /// (or nobody did) and that stopped over [`ORPHAN_AFTER`] ago: the runner's claim succeeds
    /// only where their composer is gone.
    fn adopt_orphans(self: &Arc<Self>, node: Arc<crate::cluster::Node>, store: SharedStore) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ORPHANS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else {
                    return;
                };
                let Ok(jobs) = store.recording_jobs().await else {
                    continue;
                };
                let before = node.now_ms() - ORPHAN_AFTER.as_millis() as i64;
                for row in jobs {
                    let here = this.progress(row.recording.id).is_some();
                    // Composed here (or failed here, tried again at the next start), or by a
                    // node that is alive.
                    let taken = row
                        .composer
                        .as_deref()
                        .is_some_and(|c| c == node.id || node.is_alive(c));
                    if here || taken || row.stopped_at.is_none_or(|at| at > before) {
                        continue;
                    }
                    info!(recording = %row.recording.id, composer = ?row.composer, "taking up a recording no live node composes");
                    this.stopped(Job {
                        main: row.main_id,
                        recording: row.recording,
                        stopped_at: row.stopped_at.unwrap_or_default(),
                        closed: None,
                    });
                }
            }
        });
    }

    /// Composes one recording and adds it to its room.
    async fn run(
        &self,
        job: Job,
        rooms: &Arc<dyn Commander>,
        blobs: &Blobs,
    ) -> Result<(), Failure> {
        let recording = job.recording;
        if let Some(closed) = job.closed {
            let _ = tokio::time::timeout(CLOSE_WITHIN, closed).await;
        }
        let dir = self.dir_of(recording.id);
        let mut timeline = match tokio::fs::read_to_string(dir.join("timeline.jsonl")).await {
            Ok(text) => compose::Timeline::parse(&text),
            // Nothing was ever written (recording never saw the call, or the files are gone).
            Err(e) => {
                return Err(Failure::Final(format!(
                    "the recording's files are missing ({e})"
                )));
            }
        };
        compose::drop_unplayable(&mut timeline, &dir).await;
        if timeline.tracks.is_empty() {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(Failure::Final(
                "nothing to compose: nobody sent sound or picture while it was recorded".to_owned(),
            ));
        }
        let duration_ms = compose::duration_ms(&timeline, &dir, job.stopped_at, &recording)
            .await
            .max(1_000);
        // A name no earlier attempt used: an ffmpeg left running by a crash may still write its own.
        let out = dir.join(format!("composed-{}.webm", uuid::Uuid::now_v7()));
        remove_earlier_outputs(&dir).await;
        self.set(recording.id, Some(Progress::Composing { percent: 0 }));
        let args = compose::plan(&timeline, &dir, duration_ms, &out);
        let id = recording.id;
        compose::run(&self.config.ffmpeg, &args, duration_ms, |percent| {
            self.set(id, Some(Progress::Composing { percent }));
        })
        .await
        .map_err(Failure::Retry)?;
        let file = tokio::fs::File::open(&out)
            .await
            .map_err(|e| Failure::Retry(format!("the composed file: {e}")))?;
        let blob = blobs
            .write(tokio_util::io::ReaderStream::new(file), u64::MAX)
            .await
            .map_err(|e| Failure::Retry(format!("storing the composed file: {e}")))?;
        let name = time::OffsetDateTime::from_unix_timestamp(recording.started_at / 1000)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "recording-[year][month][day]-[hour][minute].webm"
                ))
                .ok()
            })
            .unwrap_or_else(|| "recording.webm".to_owned());
        let command = Command::Recording(RecordingCommand::Finish {
            room: recording.room_id,
            id: recording.id,
            started_at: recording.started_at,
            file: FileInfo {
                name,
                content_type: "video/webm".to_owned(),
                size: blob.size,
                sha256: blob.sha256,
                duration_ms: Some(duration_ms),
            },
        });
        // From here on the job is not cancelled: once the item is in, its row says composed,
        // and a sweep must not stop the files' removal halfway.
        self.jobs().running.remove(&recording.id);
        let caller = Caller {
            person_id: recording.started_by,
            display_name: recording.started_by_name.clone(),
        };
        match rooms
            .clone()
            .command(recording.room_id, caller, command)
            .await
        {
            Ok(_) => {}
            Err(RoomError::Domain(DomainError::NotFound(_))) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return Err(Failure::Final("the room was deleted".to_owned()));
            }
            Err(e) => return Err(Failure::Retry(format!("adding the recording: {e}"))),
        }
        info!(recording = %recording.id, room = %recording.room_id, ms = duration_ms, "recording composed");
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            warn!(dir = %dir.display(), error = %e, "removing the raw files failed");
        }
        Ok(())
    }

    /// A stored recording as moderators see it, with the progress of one not composed yet.
    pub fn describe(&self, row: crate::store::RecordingRow) -> RecordingView {
        let progress = if row.composed {
            None
        } else if let Some(error) = row.error.clone() {
            Some(Progress::Failed { error })
        } else if row.stopped_at.is_none() {
            None
        } else {
            Some(self.progress(row.recording.id).unwrap_or(Progress::Waiting))
        };
        RecordingView {
            state: if row.composed {
                "composed"
            } else if matches!(progress, Some(Progress::Failed { .. })) {
                "failed"
            } else if row.stopped_at.is_none() {
                "recording"
            } else {
                "composing"
            },
            recording: row.recording,
            stopped_at: row.stopped_at,
            stop_reason: row.stop_reason,
            progress,
        }
    }
}

/// A recording as moderators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    /// The recording (its id is also the id of the item it becomes).
    #[serde(flatten)]
    pub recording: Recording,
    /// `recording`, `composing`, `composed` or `failed`.
    pub state: &'static str,
    /// When it stopped.
    pub stopped_at: Option<i64>,
    /// Why it stopped.
    pub stop_reason: Option<crate::domain::recording::RecordingEnd>,
    /// For one not composed yet: where composing stands.
    pub progress: Option<Progress>,
}

enum Failure {
    /// Worth trying again at the next start (ffmpeg missing, a disk error, the store away).
    Retry(String),
    /// Never going to work (no files, nothing recorded, the room is gone).
    Final(String),
    /// Another node composes it (cluster mode).
    Elsewhere,
    /// Its room was deleted while it waited or ran.
    Cancelled,
}

async fn remove_earlier_outputs(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_string_lossy().starts_with("composed-") {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// Bytes of the files under `dir`, one level of subdirectories deep (a recording's files).
async fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(mut recordings) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    while let Ok(Some(recording)) = recordings.next_entry().await {
        let Ok(mut files) = tokio::fs::read_dir(recording.path()).await else {
            continue;
        };
        while let Ok(Some(file)) = files.next_entry().await {
            if let Ok(meta) = file.metadata().await {
                total += meta.len();
            }
        }
    }
    total
}
