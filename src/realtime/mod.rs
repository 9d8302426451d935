//! Real-time delivery: live WebSocket connections and the frames queued for them.
//!
//! Each connection has one bounded queue of ready-made JSON frames. Room actors offer frames with
//! `try_send` and never wait: when a queue is full the actor drops that subscription and asks the
//! connection to send a `resync` (reload the snapshot) instead, so a slow client costs bounded
//! memory and never slows anyone else. The queue is drained by the connection's own task
//! ([`ws`]), which is the only place that writes to the socket.
//!
//! [`Connections`] indexes live connections by person, so that an actor which adds someone to a
//! room can start delivering that room's events to them at once.

pub mod call;
pub mod ws;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc};

use crate::ids::{PersonId, RoomId};

/// What became of a frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The queue was full: the connection must resync this stream.
    Full,
    /// The connection is gone.
    Closed,
}

/// State shared between a connection's task and the actors that feed it.
#[derive(Debug, Default)]
pub struct ConnShared {
    /// Streams whose subscription overflowed and must be resynced.
    resync: Mutex<Vec<RoomId>>,
    /// Streams this connection is subscribed to, kept by the actors.
    streams: Mutex<HashSet<RoomId>>,
    /// Wakes the connection's task when `resync` grows.
    notify: Notify,
}

/// A handle on one live connection, held by the actors it is subscribed to.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Unique per process.
    pub id: u64,
    /// Who is connected.
    pub person: PersonId,
    tx: mpsc::Sender<Utf8Bytes>,
    shared: std::sync::Arc<ConnShared>,
}

impl ConnHandle {
    /// Offers a frame without waiting.
    pub fn offer(&self, frame: &Utf8Bytes) -> Offer {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Asks the connection to tell its client to reload `stream` and to subscribe again.
    pub fn request_resync(&self, stream: RoomId) {
        lock(&self.shared.resync).push(stream);
        self.shared.notify.notify_one();
    }

    /// Takes the streams waiting for a resync.
    pub fn take_resyncs(&self) -> Vec<RoomId> {
        std::mem::take(&mut *lock(&self.shared.resync))
    }

    /// Waits until a resync is requested.
    pub async fn resync_requested(&self) {
        self.shared.notify.notified().await;
    }

    /// Records that an actor now delivers `stream` to this connection (or stopped doing so).
    pub fn mark_subscribed(&self, stream: RoomId, subscribed: bool) {
        let mut streams = lock(&self.shared.streams);
        if subscribed {
            streams.insert(stream);
        } else {
            streams.remove(&stream);
        }
    }

    /// The streams this connection is subscribed to.
    pub fn subscribed_streams(&self) -> Vec<RoomId> {
        lock(&self.shared.streams).iter().copied().collect()
    }
}

/// A std mutex is right here: it is held for a few instructions and never across an `.await`.
/// A poisoned lock only means another thread panicked mid-push; the data is still a valid Vec/Set.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every live connection, by person.
#[derive(Debug, Default)]
pub struct Connections {
    by_person: Mutex<HashMap<PersonId, Vec<ConnHandle>>>,
    next_id: AtomicU64,
}

impl Connections {
    /// Registers a new connection whose queue holds at most `capacity` frames; returns its handle
    /// and the receiving end of its queue.
    pub fn register(
        &self,
        person: PersonId,
        capacity: usize,
    ) -> (ConnHandle, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = ConnHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            person,
            tx,
            shared: Default::default(),
        };
        lock(&self.by_person)
            .entry(person)
            .or_default()
            .push(handle.clone());
        (handle, rx)
    }

    /// Forgets a connection.
    pub fn unregister(&self, handle: &ConnHandle) {
        let mut map = lock(&self.by_person);
        if let Some(list) = map.get_mut(&handle.person) {
            list.retain(|c| c.id != handle.id);
            if list.is_empty() {
                map.remove(&handle.person);
            }
        }
    }

    /// The live connections of one person.
    pub fn of(&self, person: PersonId) -> Vec<ConnHandle> {
        lock(&self.by_person)
            .get(&person)
            .cloned()
            .unwrap_or_default()
    }
}
