//! Real-time delivery: live WebSocket connections and the frames queued for them.
//!
//! Each connection has one bounded queue of ready-made JSON frames. Room actors offer frames with
//! `try_send` and never wait: when a queue is full the actor drops that subscription and asks the
//! connection to send a `resync` (reload the snapshot) instead, so a slow client costs bounded
//! memory and never slows anyone else. The queue is drained by the connection's own task
//! (`http::socket`), which is the only place that writes to the socket.
//!
//! [`Connections`] indexes live connections by person, so that an actor which adds someone to a
//! room can start delivering that room's events to them at once. It also keeps them alive
//! ([`Connections::keep_alive`]): one task tells each connection in turn that a ping is due, and
//! tells them all when the server shuts down. A connection task therefore waits on two things
//! only, its queue and its socket: what else needs it (a ping, a resync, the shutdown) sets a flag
//! and, unless the task is already due to wake for frames, puts an empty frame in the queue to
//! wake it ([`ConnHandle::take_attention`]). In a fan-out to thousands, a third waiter polled again
//! after each frame showed in the profile.

pub mod budget;
pub mod call;
pub mod frames;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// The connection must close, and why.
    closing: Mutex<Option<Close>>,
    /// One of the above changed since the connection's task last looked.
    attention: AtomicBool,
}

/// Why the server closes a connection: the WebSocket close code and reason it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The close code.
    pub code: u16,
    /// The reason, for people reading logs.
    pub reason: &'static str,
}

impl Close {
    /// The server is shutting down: connect again later.
    pub const SHUTDOWN: Close = Close {
        code: 1001,
        reason: "server shutting down",
    };
    /// The session ended (signed out, a new password, the account removed): sign in again.
    pub const SIGNED_OUT: Close = Close {
        code: 4001,
        reason: "signed out: sign in again",
    };
    /// The person opened more connections than allowed; this, their oldest, gave way.
    pub const TOO_MANY: Close = Close {
        code: 4008,
        reason: "too many connections of this person; this oldest one was closed",
    };
}

/// A handle on one live connection, held by the actors it is subscribed to.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Unique per process.
    pub id: u64,
    /// Who is connected.
    pub person: PersonId,
    /// The session it was opened with (the hash of its token), so that signing out closes it.
    pub session: Option<std::sync::Arc<str>>,
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

    /// Whether the connection must close, and how.
    pub fn closing(&self) -> Option<Close> {
        *lock(&self.shared.closing)
    }

    fn ping(&self) {
        self.shared.ping_due.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Tells the connection to close with `close` (the first reason given stays).
    pub fn close(&self, close: Close) {
        lock(&self.shared.closing).get_or_insert(close);
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
#[derive(Debug)]
pub struct Connections {
    by_person: Mutex<HashMap<PersonId, Vec<ConnHandle>>>,
    next_id: AtomicU64,
    /// The server shut down: connections registered from now on close at once.
    closed: AtomicBool,
    /// Most connections one person may hold; a new one closes their oldest.
    per_person: usize,
    /// Call messages per person and per main room, across connections.
    call_budgets: Mutex<budget::CallBudgets>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new(DEFAULT_PER_PERSON)
    }
}

/// Connections one person may hold by default: a few devices with a few tabs each.
pub const DEFAULT_PER_PERSON: usize = 20;

/// Pings go out in this many slices of the ping interval, each to the connections whose id falls
/// in it, so that they are spread over the interval instead of all at once.
const PING_SLICES: u64 = 8;

impl Connections {
    /// A registry in which one person holds at most `per_person` connections (at least one).
    pub fn new(per_person: usize) -> Connections {
        Connections {
            by_person: Mutex::default(),
            next_id: AtomicU64::default(),
            closed: AtomicBool::default(),
            per_person: per_person.max(1),
            call_budgets: Mutex::default(),
        }
    }

    /// Registers a new connection of `person` opened with `session`, whose queue holds at most
    /// `capacity` frames; returns its handle and the receiving end of its queue. When the person
    /// already holds as many connections as allowed, their oldest is told to close.
    pub fn register(
        &self,
        person: PersonId,
        session: Option<&str>,
        capacity: usize,
    ) -> (ConnHandle, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = ConnHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            person,
            session: session.map(std::sync::Arc::from),
            tx,
            shared: Default::default(),
        };
        let mut by_person = lock(&self.by_person);
        // Checked under the lock that `keep_alive` sets it under: no connection misses the close.
        if self.closed.load(Ordering::Relaxed) {
            handle.close(Close::SHUTDOWN);
        }
        let list = by_person.entry(person).or_default();
        // The oldest open ones give way; one already told to close is on its way out.
        let open = list.iter().filter(|c| c.closing().is_none()).count();
        for old in list
            .iter()
            .filter(|c| c.closing().is_none())
            .take((open + 1).saturating_sub(self.per_person))
        {
            old.close(Close::TOO_MANY);
        }
        list.push(handle.clone());
        drop(by_person);
        (handle, rx)
    }

    /// Takes one call message from the budgets of `person` and of the main room `stream`.
    pub fn take_call_budget(
        &self,
        person: PersonId,
        stream: RoomId,
    ) -> Result<(), budget::Exceeded> {
        lock(&self.call_budgets).take(person, stream, Instant::now())
    }

    /// Closes every connection opened with the session whose token hashes to `session`.
    pub fn close_session(&self, session: &str) {
        let doomed: Vec<ConnHandle> = lock(&self.by_person)
            .values()
            .flatten()
            .filter(|c| c.session.as_deref() == Some(session))
            .cloned()
            .collect();
        for conn in doomed {
            conn.close(Close::SIGNED_OUT);
        }
    }

    /// Closes every connection of `person` (their sessions ended: a new password, the account
    /// removed).
    pub fn close_person(&self, person: PersonId) {
        for conn in self.of(person) {
            conn.close(Close::SIGNED_OUT);
        }
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
            if slice == 0 {
                lock(&self.call_budgets).forget_full(Instant::now());
            }
        }
        let all: Vec<ConnHandle> = {
            let by_person = lock(&self.by_person);
            self.closed.store(true, Ordering::Relaxed);
            by_person.values().flatten().cloned().collect()
        };
        for conn in all {
            conn.close(Close::SHUTDOWN);
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
        let handles: Vec<_> = (0..PING_SLICES * 3)
            .map(|_| connections.register(PersonId::new(), None, 4))
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
        assert!(handles.iter().all(|(h, _)| h.closing().is_none()));
    }

    #[tokio::test]
    async fn after_the_shutdown_a_new_connection_closes_at_once() {
        let connections = Connections::default();
        let (stop, shutdown) = watch::channel(false);
        let (before, _queue) = connections.register(PersonId::new(), None, 4);
        assert!(before.closing().is_none());
        stop.send(true).unwrap();
        connections
            .keep_alive(Duration::from_secs(30), shutdown)
            .await;
        assert_eq!(before.closing(), Some(Close::SHUTDOWN));
        let (after, mut queue) = connections.register(PersonId::new(), None, 4);
        assert_eq!(after.closing(), Some(Close::SHUTDOWN));
        // Its task wakes for it at once.
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::default());
        assert!(after.take_attention());
    }

    #[test]
    fn a_wake_up_queues_one_empty_frame_until_the_task_looks() {
        let connections = Connections::default();
        let (conn, mut queue) = connections.register(PersonId::new(), None, 4);
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
        let (conn, mut queue) = connections.register(PersonId::new(), None, 1);
        assert_eq!(conn.offer(&Utf8Bytes::from_static("{}")), Offer::Queued);
        assert_eq!(conn.offer(&Utf8Bytes::from_static("{}")), Offer::Full);
        conn.request_resync(RoomId::new());
        assert_eq!(queue.try_recv().unwrap(), Utf8Bytes::from_static("{}"));
        assert!(queue.try_recv().is_err());
        assert!(conn.take_attention() && conn.resync_requested());
    }

    #[test]
    fn a_person_holds_a_bounded_number_of_connections_and_the_oldest_give_way() {
        let connections = Connections::new(3);
        let person = PersonId::new();
        let handles: Vec<_> = (0..5)
            .map(|_| connections.register(person, None, 4))
            .collect();
        let closed: Vec<_> = handles.iter().map(|(h, _)| h.closing()).collect();
        assert_eq!(
            closed,
            vec![
                Some(Close::TOO_MANY),
                Some(Close::TOO_MANY),
                None,
                None,
                None
            ]
        );
        // Someone else is not affected.
        let (other, _q) = connections.register(PersonId::new(), None, 4);
        assert!(other.closing().is_none());
    }

    #[test]
    fn signing_out_closes_that_sessions_connections_and_a_person_closes_them_all() {
        let connections = Connections::default();
        let person = PersonId::new();
        let (a, _qa) = connections.register(person, Some("session-a"), 4);
        let (b, _qb) = connections.register(person, Some("session-b"), 4);
        connections.close_session("session-a");
        assert_eq!(a.closing(), Some(Close::SIGNED_OUT));
        assert!(b.closing().is_none());
        connections.close_person(person);
        assert_eq!(b.closing(), Some(Close::SIGNED_OUT));
    }
}
