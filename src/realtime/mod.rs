//! Real-time delivery: live WebSocket connections and the frames queued for them.
//!
//! Each connection has one bounded queue of ready-made JSON frames. Room actors offer frames with
//! `try_send` and never wait: when a queue is full the actor drops that subscription and asks the
//! connection to send a `resync` (reload the snapshot) instead, so a slow client costs bounded
//! memory and never slows anyone else. The queue is drained by the connection's own task
//! ([`ws`]), which is the only place that writes to the socket.
//!
//! [`Connections`] indexes live connections by person, so that an actor which adds someone to a
//! room can start delivering that room's events to them at once. It also keeps them alive
//! ([`Connections::keep_alive`]): one task tells each connection in turn that a ping is due, and
//! tells them all when the server shuts down. A connection task therefore waits on two things
//! only, its queue and its socket: what else needs it (a ping, a resync, the shutdown) sets a flag
//! and, unless the task is already due to wake for frames, puts an empty frame in the queue to
//! wake it ([`ConnHandle::take_attention`]). In a fan-out to thousands, a third waiter polled again
//! after each frame showed in the profile.

pub mod call;
pub mod ws;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, watch};

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
    /// Time to ping the client (and to check that it still answers).
    ping_due: AtomicBool,
    /// The server is shutting down: close.
    closing: AtomicBool,
    /// One of the above changed since the connection's task last looked.
    attention: AtomicBool,
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
        // An empty frame is the wake-up of `wake`; every real frame is a JSON object.
        debug_assert!(!frame.is_empty());
        match self.tx.try_send(frame.clone()) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Asks the connection to tell its client to reload `stream` and to subscribe again.
    pub fn request_resync(&self, stream: RoomId) {
        lock(&self.shared.resync).push(stream);
        self.wake();
    }

    /// Whether a resync is waiting.
    pub fn resync_requested(&self) -> bool {
        !lock(&self.shared.resync).is_empty()
    }

    /// Takes the streams waiting for a resync.
    pub fn take_resyncs(&self) -> Vec<RoomId> {
        std::mem::take(&mut *lock(&self.shared.resync))
    }

    /// Whether something other than a frame needs the connection's task (a resync, a ping, the
    /// server's shutdown) since it last asked; asking clears it. The task asks after each frame
    /// or batch it takes from its queue.
    pub fn take_attention(&self) -> bool {
        self.shared.attention.load(Ordering::Relaxed)
            && self.shared.attention.swap(false, Ordering::AcqRel)
    }

    /// Makes sure the connection's task looks at its flags soon: the first call since it last
    /// looked queues an empty frame to wake it. When the queue is full the task is due to wake
    /// for the frames anyway, and it looks after taking them. So at most one such frame waits.
    fn wake(&self) {
        if !self.shared.attention.swap(true, Ordering::AcqRel) {
            let _ = self.tx.try_send(Utf8Bytes::default());
        }
    }

    /// Whether a ping is due; asking clears it.
    pub fn take_ping(&self) -> bool {
        self.shared.ping_due.swap(false, Ordering::Relaxed)
    }

    /// Whether the server is shutting down.
    pub fn closing(&self) -> bool {
        self.shared.closing.load(Ordering::Relaxed)
    }

    fn ping(&self) {
        self.shared.ping_due.store(true, Ordering::Relaxed);
        self.wake();
    }

    fn close(&self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.wake();
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
    /// The server shut down: connections registered from now on close at once.
    closed: AtomicBool,
}

/// Pings go out in this many slices of the ping interval, each to the connections whose id falls
/// in it, so that they are spread over the interval instead of all at once.
const PING_SLICES: u64 = 8;

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
        let mut by_person = lock(&self.by_person);
        // Checked under the lock that `keep_alive` sets it under: no connection misses the close.
        if self.closed.load(Ordering::Relaxed) {
            handle.close();
        }
        by_person.entry(person).or_default().push(handle.clone());
        drop(by_person);
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

    /// Until `shutdown` turns true: every `ping` interval, tells each connection that a ping is due
    /// (a slice of them at a time); then tells them all to close.
    pub async fn keep_alive(&self, ping: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick =
            tokio::time::interval((ping / PING_SLICES as u32).max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut slice = 0;
        while !*shutdown.borrow() {
            tokio::select! {
                _ = tick.tick() => {}
                changed = shutdown.changed() => if changed.is_err() { break } else { continue },
            }
            self.ping_slice(slice);
            slice = (slice + 1) % PING_SLICES;
        }
        let all: Vec<ConnHandle> = {
            let by_person = lock(&self.by_person);
            self.closed.store(true, Ordering::Relaxed);
            by_person.values().flatten().cloned().collect()
        };
        for conn in all {
            conn.close();
        }
    }

    /// Tells the connections of one slice (of [`PING_SLICES`]) that a ping is due; the lock is let
    /// go before they are told.
    fn ping_slice(&self, slice: u64) {
        let due: Vec<ConnHandle> = lock(&self.by_person)
            .values()
            .flatten()
            .filter(|c| c.id % PING_SLICES == slice)
            .cloned()
            .collect();
        for conn in due {
            conn.ping();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connection_is_told_once_per_round_of_slices_that_a_ping_is_due() {
        let connections = Connections::default();
        let person = PersonId::new();
        let handles: Vec<_> = (0..PING_SLICES * 3)
            .map(|_| connections.register(person, 4))
            .collect();
        let mut told = vec![0; handles.len()];
        for slice in 0..PING_SLICES {
            connections.ping_slice(slice);
            let now: Vec<usize> = (0..handles.len())
                .filter(|&i| handles[i].0.take_ping())
                .collect();
            assert_eq!(now.len(), 3, "slice {slice}: a third of each");
            for i in now {
                told[i] += 1;
            }
        }
        assert!(told.iter().all(|&n| n == 1), "{told:?}");
        assert!(handles.iter().all(|(h, _)| !h.closing()));
    }

    #[tokio::test]
    async fn after_the_shutdown_a_new_connection_closes_at_once() {
        let connections = Connections::default();
        let (stop, shutdown) = watch::channel(false);
        let (before, _queue) = connections.register(PersonId::new(), 4);
        assert!(!before.closing());
        stop.send(true).unwrap();
        connections
            .keep_alive(Duration::from_secs(30), shutdown)
            .await;
        assert!(before.closing());
        let (after, mut queue) = connections.register(PersonId::new(), 4);
        assert!(after.closing());
        // Its task wakes for it at once.
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::default());
        assert!(after.take_attention());
    }

    #[test]
    fn a_wake_up_queues_one_empty_frame_until_the_task_looks() {
        let connections = Connections::default();
        let (conn, mut queue) = connections.register(PersonId::new(), 4);
        assert!(!conn.take_attention());
        conn.ping();
        conn.request_resync(RoomId::new());
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::default());
        assert!(queue.try_recv().is_err(), "one wake-up frame for both");
        assert!(conn.take_attention());
        assert!(!conn.take_attention(), "asking clears it");
        assert!(conn.take_ping() && conn.resync_requested());
        conn.ping();
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::default());
    }

    #[test]
    fn a_full_queue_gets_no_wake_up_frame_and_keeps_the_flag() {
        let connections = Connections::default();
        let (conn, mut queue) = connections.register(PersonId::new(), 1);
        assert_eq!(conn.offer(&Utf8Bytes::from_static("{}")), Offer::Queued);
        assert_eq!(conn.offer(&Utf8Bytes::from_static("{}")), Offer::Full);
        conn.request_resync(RoomId::new());
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::from_static("{}"));
        assert!(queue.try_recv().is_err());
        assert!(conn.take_attention() && conn.resync_requested());
    }
}
