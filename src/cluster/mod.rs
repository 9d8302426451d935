//! Cluster mode: several Huddle nodes on one PostgreSQL (and NATS between them).
//!
//! This module holds what a node is to the others: its id, its heartbeat in the `nodes` table,
//! and the rule that decides when a node is gone. Ownership of streams and the fence on commits
//! are the store's (`store::cluster`); the room actors claim a stream before they load it.
//!
//! Liveness: each node writes its heartbeat every [`BEAT`]; a node whose last heartbeat is older
//! than [`GONE_AFTER`] is gone, and the streams it owned may be claimed by another node. A node
//! that could not write its heartbeat for [`GIVE_UP_AFTER`] (shorter than `GONE_AFTER`) stops its
//! room actors itself, before anyone may take its rooms over; the fence refuses whatever it might
//! still try to commit after that.

pub mod bus;
mod subjects;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::ids::RoomId;
use crate::store::SharedStore;

/// How often a node writes its heartbeat.
pub const BEAT: Duration = Duration::from_secs(1);
/// A node whose heartbeat is older than this is gone (ms).
pub const GONE_AFTER: i64 = 3_000;
/// A node that could not write its heartbeat for this long stops its actors (ms).
pub const GIVE_UP_AFTER: i64 = 2_000;

/// How clients see which node serves a room's call (`call_answer`'s `node`, `hello`'s
/// `call_node`): an opaque label they only compare, not the node id, which may be a host name.
pub fn call_label(node_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("huddle call node {node_id}"));
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// This node, as the cluster knows it.
pub struct Node {
    /// Its id (`node_id`).
    pub id: String,
    /// Where it serves HTTP, for `huddle admin cluster` and the other nodes.
    pub address: String,
    /// When it started, ms.
    pub started_at: i64,
    /// Whether its heartbeat is being written: actors start only while it is.
    healthy: AtomicBool,
    /// Flips when the node gives up its rooms (its database is out of reach).
    given_up: watch::Sender<u64>,
    clock: SharedClock,
    /// The connection to the other nodes.
    pub bus: bus::Bus,
    /// The nodes whose heartbeat was current at this node's last heartbeat.
    alive: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Nodes NATS said nobody answers for, and when: their rooms are claimed without waiting for
    /// their heartbeat to age.
    gone: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Changes each time a node is newly presumed gone; following actors watch it.
    gone_news: watch::Sender<u64>,
}

/// How far apart the nodes' clocks may be (NTP keeps them far closer): a forwarded command is
/// refused from this long before its sender gives up on it.
pub const CLOCK_MARGIN: Duration = Duration::from_millis(500);

/// How often a node pings the others over NATS.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// Pings in a row that find nobody answering before a node is presumed gone (a blip of the NATS
/// connection shorter than this does not cost a node its rooms).
const PROBES_MISSED: u32 = 2;

/// How long "nobody answers for that node" counts as the node being gone.
const PRESUMED_GONE_FOR: Duration = Duration::from_secs(10);

impl Node {
    /// A node that has not written its first heartbeat yet.
    pub fn new(id: String, address: String, clock: SharedClock, bus: bus::Bus) -> Arc<Node> {
        let started_at = clock.now_ms();
        Arc::new(Node {
            id,
            address,
            started_at,
            healthy: AtomicBool::new(false),
            given_up: watch::channel(0).0,
            clock,
            bus,
            alive: Default::default(),
            gone: Default::default(),
            gone_news: watch::channel(0).0,
        })
    }

    /// Notes that NATS has nobody answering for `node`.
    pub fn presume_gone(&self, node: &str) {
        let mut gone = self.gone.lock().unwrap_or_else(|p| p.into_inner());
        gone.retain(|_, at| at.elapsed() < PRESUMED_GONE_FOR);
        let news = gone
            .insert(node.to_owned(), std::time::Instant::now())
            .is_none();
        drop(gone);
        if news {
            self.gone_news.send_modify(|n| *n += 1);
        }
    }

    /// Changes each time a node is newly presumed gone.
    pub fn gone_news(&self) -> watch::Receiver<u64> {
        self.gone_news.subscribe()
    }

    /// The other nodes whose heartbeat was current at this node's last heartbeat.
    fn peers(&self) -> Vec<String> {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        alive.iter().filter(|n| **n != self.id).cloned().collect()
    }

    /// Whether `node` was alive at this node's last heartbeat (and NATS has not said otherwise
    /// since).
    pub fn is_alive(&self, node: &str) -> bool {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        alive.contains(node) && !self.is_presumed_gone(node)
    }

    async fn refresh_alive(&self, store: &SharedStore) {
        if let Ok(nodes) = store.nodes().await {
            let since = self.alive_since();
            let now: std::collections::HashSet<String> = nodes
                .into_iter()
                .filter(|n| n.seen_at >= since)
                .map(|n| n.node_id)
                .collect();
            *self.alive.lock().unwrap_or_else(|p| p.into_inner()) = now;
        }
    }

    /// `node` answered (it came back, perhaps restarted): it is no longer presumed gone.
    pub fn heard_from(&self, node: &str) {
        let mut gone = self.gone.lock().unwrap_or_else(|p| p.into_inner());
        gone.remove(node);
    }

    /// Whether NATS lately had nobody answering for `node`.
    pub fn is_presumed_gone(&self, node: &str) -> bool {
        let gone = self.gone.lock().unwrap_or_else(|p| p.into_inner());
        gone.get(node)
            .is_some_and(|at| at.elapsed() < PRESUMED_GONE_FOR)
    }

    /// The time now, ms (this node's clock).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Heartbeats at or after this instant belong to nodes that are alive now.
    pub fn alive_since(&self) -> i64 {
        self.clock.now_ms() - GONE_AFTER
    }

    /// Whether the node may run room actors (its heartbeat is current).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Changes each time the node gives up its rooms; actors watch it.
    pub fn given_up(&self) -> watch::Receiver<u64> {
        self.given_up.subscribe()
    }

    /// Writes the first heartbeat now (a node joins only once the others can see it), then
    /// every [`BEAT`] until `stop` fires.
    pub async fn start(
        self: &Arc<Self>,
        store: SharedStore,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), crate::store::StoreError> {
        store
            .heartbeat(
                &self.id,
                &self.address,
                self.started_at,
                self.clock.now_ms(),
            )
            .await?;
        self.healthy.store(true, Ordering::Release);
        self.refresh_alive(&store).await;
        info!(node = %self.id, "joined the cluster");
        let node = self.clone();
        tokio::spawn(async move {
            let mut last_ok = node.clock.now_ms();
            let mut tick = tokio::time::interval(BEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let now = node.clock.now_ms();
                let beat = store.heartbeat(&node.id, &node.address, node.started_at, now);
                match tokio::time::timeout(BEAT, beat).await {
                    Ok(Ok(())) => {
                        last_ok = now;
                        node.refresh_alive(&store).await;
                        if !node.healthy.swap(true, Ordering::AcqRel) {
                            info!(node = %node.id, "the database answers again; rooms may load");
                        }
                    }
                    failed => {
                        let error = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "the heartbeat timed out".to_owned(),
                        };
                        warn!(node = %node.id, %error, "could not write the heartbeat");
                        if now - last_ok >= GIVE_UP_AFTER
                            && node.healthy.swap(false, Ordering::AcqRel)
                        {
                            warn!(node = %node.id, "giving up this node's rooms until the database answers");
                            node.given_up.send_modify(|n| *n += 1);
                        }
                    }
                }
            }
        });
        Ok(())
    }
}

/// Every [`PROBE_EVERY`] until `stop` fires, pings the other live nodes over NATS. One that
/// nobody answers for, [`PROBES_MISSED`] times in a row, is presumed gone: the rooms it owned are
/// claimed by the nodes that follow them at once (and its calls move), without waiting for its
/// heartbeat to age. A node that is alive but cut off from NATS is presumed gone too; the fence
/// then refuses its next commit.
pub fn watch_peers(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut missed: std::collections::HashMap<String, u32> = Default::default();
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let peers = node.peers();
            let probes = peers.iter().map(|peer| node.bus.probe(peer, PROBE_EVERY));
            let found = futures_util::future::join_all(probes).await;
            missed.retain(|peer, _| peers.contains(peer));
            for (peer, probe) in peers.iter().zip(found) {
                match probe {
                    bus::Probe::Answered => {
                        missed.remove(peer);
                        node.heard_from(peer);
                    }
                    bus::Probe::NoResponders => {
                        let count = missed.entry(peer.clone()).or_default();
                        *count += 1;
                        if *count == PROBES_MISSED {
                            info!(node = %peer, "nobody answers for the node on NATS: presumed gone");
                            node.presume_gone(peer);
                        }
                    }
                    bus::Probe::Unknown => {}
                }
            }
        }
    });
}

/// Every [`BEAT`] until `stop` fires, starts the actors of rooms whose timers must run (a round,
/// a recording) and whose owner is gone: one node wins each claim, and its actor acts on the
/// timer, so that a round still ends when the node that ran it died.
pub fn adopt_orphans(
    node: Arc<Node>,
    store: SharedStore,
    rooms: Arc<dyn bus::Host>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if !node.is_healthy() {
                continue;
            }
            match orphans(&store, node.alive_since()).await {
                Ok(streams) => {
                    for stream in streams {
                        rooms.clone().wake(stream);
                    }
                }
                Err(e) => warn!(error = %e, "could not look for rooms left by gone nodes"),
            }
        }
    });
}

/// Streams with a running timer whose owner is gone (or that nobody owns).
async fn orphans(
    store: &SharedStore,
    alive_since: i64,
) -> Result<Vec<RoomId>, crate::store::StoreError> {
    let mut timed = store.live_streams().await?;
    timed.extend(store.open_recording_streams().await?);
    if timed.is_empty() {
        return Ok(timed);
    }
    let alive: std::collections::HashSet<String> = store
        .nodes()
        .await?
        .into_iter()
        .filter(|n| n.seen_at >= alive_since)
        .map(|n| n.node_id)
        .collect();
    let owners: std::collections::HashMap<RoomId, String> = store
        .stream_owners()
        .await?
        .into_iter()
        .map(|o| (o.stream, o.node_id))
        .collect();
    timed.sort();
    timed.dedup();
    timed.retain(|s| owners.get(s).is_none_or(|owner| !alive.contains(owner)));
    Ok(timed)
}

/// What `huddle admin cluster` prints: each node (alive or gone, its address, its last heartbeat)
/// with the rooms it owns, then rooms whose owner is gone or that were given up.
pub async fn describe(
    store: &dyn crate::store::Store,
    now: i64,
) -> Result<String, crate::store::StoreError> {
    use std::fmt::Write;
    let nodes = store.nodes().await?;
    let owners = store.stream_owners().await?;
    let mut out = String::new();
    if nodes.is_empty() {
        out.push_str("no node has joined a cluster on this database\n");
    }
    for node in &nodes {
        let alive = node.seen_at >= now - GONE_AFTER;
        let rooms: Vec<&crate::store::OwnerRow> = owners
            .iter()
            .filter(|o| o.node_id == node.node_id)
            .collect();
        let _ = writeln!(
            out,
            "{}  {}  {}  last heartbeat {:.1} s ago  {} room(s)",
            node.node_id,
            if alive { "alive" } else { "gone" },
            node.address,
            (now - node.seen_at).max(0) as f64 / 1000.0,
            rooms.len()
        );
        for room in rooms {
            let _ = writeln!(
                out,
                "    {}  epoch {}  seq {}",
                room.stream, room.epoch, room.last_seq
            );
        }
    }
    let known: std::collections::HashSet<&str> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    let free: Vec<&crate::store::OwnerRow> = owners
        .iter()
        .filter(|o| !known.contains(o.node_id.as_str()))
        .collect();
    if !free.is_empty() {
        let _ = writeln!(out, "not served by any node ({}):", free.len());
        for room in free {
            let _ = writeln!(
                out,
                "    {}  epoch {}  seq {}",
                room.stream, room.epoch, room.last_seq
            );
        }
    }
    Ok(out)
}
