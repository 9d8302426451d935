//! Huddle: a self-hosted meetings server built around breakout rooms.
//!
//! The binary is a thin shell over this library. [`Server::bind`] opens the store and prepares
//! the app on an already-bound listener, so tests start a real server on `127.0.0.1:0`;
//! [`Server::run`] serves until the shutdown future completes.
//!
//! Layers, top first (each uses only those below it; `docs/architecture.md` has every module):
//! `http` (handlers, the WebSocket) → `rooms` (one actor per main room) → `recording`,
//! `cluster` (NATS between nodes) → `contract` (what the rooms are asked and answer) → `media`
//! (the SFU), `realtime` (connections and their queues) → `store` (SQLite or PostgreSQL) →
//! `domain` (pure rules). `config` builds their settings; `web` serves the browser UI.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod domain;
pub mod http;
pub mod ids;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod realtime;
pub mod recording;
pub mod rooms;
pub mod store;
pub mod turns;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::realtime::Connections;
use crate::rooms::{ActorSettings, Rooms};
use crate::store::blobs::Blobs;
use crate::store::{SharedStore, StoreError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory or the socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The mail settings cannot be used.
    #[error(transparent)]
    Mail(#[from] mail::MailSetupError),
    /// The media server could not start.
    #[error(transparent)]
    Media(#[from] media::MediaError),
    /// The node could not join its cluster.
    #[error("cluster: {0}")]
    Cluster(String),
}

/// Everything a request handler may need, shared behind an `Arc`.
pub struct AppState {
    /// The resolved configuration.
    pub config: Config,
    /// The public base URL (configured, or derived from the bound address).
    pub public_url: String,
    /// Durable storage.
    pub store: SharedStore,
    /// Room actors.
    pub rooms: Arc<Rooms>,
    /// Live WebSocket connections.
    pub connections: Arc<Connections>,
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// The time source.
    pub clock: SharedClock,
    /// Login rate limits.
    pub login_limits: auth::LoginLimits,
    /// Hourly quotas of invitation emails.
    pub send_quota: mail::SendQuota,
    /// Account imports running in the background.
    pub imports: http::account_import::Jobs,
    /// Becomes `true` on shutdown; WebSocket tasks watch it.
    pub shutdown: watch::Receiver<bool>,
    /// The bytes of uploaded files.
    pub blobs: Blobs,
    /// Recordings being composed.
    pub recordings: Arc<recording::Recordings>,
    /// Sends invitation emails.
    pub mailer: Arc<Mailer>,
    /// The media server (calls).
    pub media: media::Media,
    /// This node, in cluster mode.
    pub node: Option<Arc<cluster::Node>>,
    /// Whether a sweep of unused files runs, and whether another was asked for meanwhile: sweeps
    /// never overlap, and none asked for is lost.
    sweeping: Arc<std::sync::Mutex<Sweeping>>,
}

/// See [`AppState::sweep_blobs`].
#[derive(Default)]
struct Sweeping {
    running: bool,
    again: bool,
}

/// Files younger than this are never swept: an upload renames its file into place just before its
/// item is committed.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(600);

impl AppState {
    /// Every minute until shutdown, the rate limiters forget whoever has their whole quota back,
    /// so that a flood from many addresses or accounts leaves no memory behind.
    pub fn prune_limits(self: &Arc<Self>) {
        let app = Arc::downgrade(self);
        let mut stop = self.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let Some(app) = app.upgrade() else { return };
                app.login_limits.prune();
                app.send_quota.prune();
            }
        });
    }

    /// Removes, in the background, stored files that no content item uses any more.
    pub fn sweep_blobs(&self) {
        // Poisoning only means a panic while flipping two booleans; they are still usable.
        {
            let mut state = self.sweeping.lock().unwrap_or_else(|p| p.into_inner());
            if state.running {
                state.again = true;
                return;
            }
            state.running = true;
        }
        let (store, blobs, flag) = (
            self.store.clone(),
            self.blobs.clone(),
            self.sweeping.clone(),
        );
        tokio::spawn(async move {
            loop {
                match store.referenced_blobs().await {
                    Ok(used) => match blobs.sweep(&used, SWEEP_MIN_AGE).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "unused files removed"),
                        Err(e) => tracing::warn!(error = %e, "sweeping unused files failed"),
                    },
                    Err(e) => tracing::warn!(error = %e, "sweeping unused files failed"),
                }
                let mut state = flag.lock().unwrap_or_else(|p| p.into_inner());
                if state.again {
                    state.again = false;
                } else {
                    state.running = false;
                    break;
                }
            }
        });
    }
}

/// The shared state handle.
pub type App = Arc<AppState>;

/// A server ready to serve on a bound listener.
pub struct Server {
    listener: TcpListener,
    app: App,
    shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Creates the data directory, opens and migrates the store, and prepares the app.
    pub async fn bind(config: Config, listener: TcpListener) -> Result<Server, ServeError> {
        Self::bind_with_clock(config, listener, Arc::new(SystemClock)).await
    }

    /// As [`Server::bind`], with a chosen clock (tests drive time through it).
    pub async fn bind_with_clock(
        config: Config,
        listener: TcpListener,
        clock: SharedClock,
    ) -> Result<Server, ServeError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = store::open(&config.database_url).await?;
        let local = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let metrics = Arc::new(Metrics::default());
        let connections = Arc::new(Connections::new(config.limits.max_websockets_per_person));
        let recordings = recording::Recordings::new(&config.data_dir, config.recording.clone());
        let (shutdown_tx, shutdown) = watch::channel(false);
        tokio::spawn({
            let (connections, ping, shutdown) =
                (connections.clone(), config.limits.ws_ping, shutdown.clone());
            async move { connections.keep_alive(ping, shutdown).await }
        });
        let node = match &config.cluster {
            Some(cluster) => {
                let dropped = metrics.cluster_nats_dropped.clone();
                let bus = cluster::bus::Bus::connect(&cluster.nats_url, &cluster.node_id, dropped)
                    .await
                    .map_err(|e| {
                        ServeError::Cluster(format!(
                            "cannot reach NATS at {}: {e}",
                            cluster.nats_url
                        ))
                    })?;
                Some(cluster::Node::new(
                    cluster.node_id.clone(),
                    public_url.clone(),
                    clock.clone(),
                    bus,
                ))
            }
            None => None,
        };
        // The media server's frames reach people on this node and, in a cluster, on the others.
        let relay = node.as_ref().map(|node| {
            let relay = node.bus.signal_relay();
            let relay: media::SignalRelay = Box::new(move |signal: &media::sfu::Signal| {
                relay.send(signal.stream, Some(signal.person), &signal.frame)
            });
            relay
        });
        let (presence_tx, mut presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let signals = media::Signals {
            connections: connections.clone(),
            relay,
            presence: Some(presence_tx),
        };
        let label = node.as_ref().map(|n| cluster::call_label(&n.id));
        let media = media::Media::start(&config.media, metrics.clone(), signals, label)?;
        let rooms = Rooms::new(
            store.clone(),
            clock.clone(),
            connections.clone(),
            metrics.clone(),
            media.clone(),
            recordings.clone(),
            ActorSettings {
                replay: config.limits.event_replay,
                max_breakout_rooms: config.limits.max_breakout_rooms,
                guests_with_breakouts: config.policy.guests_with_breakouts,
                invitation_ttl_ms: config.policy.invitation_ttl.as_millis() as i64,
                max_recordings: config.recording.per_room,
                report_retention_ms: config.policy.report_retention.as_millis() as i64,
                report_checkpoint: config.policy.report_checkpoint,
                idle: config.limits.room_idle,
                node: node.clone(),
            },
        );
        // Who is in each call, sending what, goes to the room's actor for the session report (the
        // media thread never waits for an actor: this task does). It ends with the media server.
        {
            let rooms = rooms.clone();
            tokio::spawn(async move {
                while let Some(presence) = presence_rx.recv().await {
                    rooms.call_presence(presence).await;
                }
            });
        }
        // A node of a cluster answers for itself on NATS, then lets the others see it (its first
        // heartbeat), before it serves anything.
        if let Some(node) = &node {
            node.bus
                .serve(&node.id, rooms.clone(), shutdown.clone())
                .await
                .map_err(|e| ServeError::Cluster(format!("cannot subscribe on NATS: {e}")))?;
            node.start(store.clone(), shutdown.clone()).await?;
            cluster::adopt_orphans(node.clone(), store.clone(), rooms.clone(), shutdown.clone());
            cluster::watch_peers(node.clone(), shutdown.clone());
        }
        // Rounds that were running when Huddle stopped: their timers run (and a deadline that
        // passed while Huddle was down closes the rooms now).
        // Recordings that were running when Huddle stopped: their rooms end them now, and they
        // are composed from what was written. (In a cluster, `adopt_orphans` does this for the
        // rooms whose node is gone.)
        if node.is_none() {
            let mut timed = store.live_streams().await?;
            timed.extend(store.open_recording_streams().await?);
            for stream in timed {
                rooms.wake(stream);
            }
        }
        let login_limits = auth::LoginLimits::new(&config.limits);
        let send_quota = mail::SendQuota::new(
            config.limits.invitations_per_person_per_hour,
            config.limits.invitations_per_room_per_hour,
        );
        let blobs = Blobs::new(&config.data_dir);
        recordings.start(
            rooms.clone(),
            store.clone(),
            blobs.clone(),
            metrics.clone(),
            node.clone(),
        );
        let mailer = Mailer::start(
            &config,
            &public_url,
            store.clone(),
            rooms.clone(),
            clock.clone(),
            shutdown.clone(),
        )?;
        let app = Arc::new(AppState {
            config,
            public_url,
            store,
            rooms,
            connections,
            metrics,
            clock,
            login_limits,
            send_quota,
            imports: Default::default(),
            shutdown,
            blobs,
            recordings,
            mailer,
            media,
            node,
            sweeping: Default::default(),
        });
        app.sweep_blobs();
        app.prune_limits();
        Ok(Server {
            listener,
            app,
            shutdown_tx,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state, for callers that want to inspect it.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` completes, then closes WebSockets and finishes open requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let router = http::router(self.app.clone());
        let shutdown_tx = self.shutdown_tx;
        let limits = &self.app.config.limits;
        let total = limits.max_connections.unwrap_or_else(|| {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            http::accept::ConnectionLimits::total_for(soft)
        });
        http::accept::serve(
            self.listener,
            router,
            http::accept::ConnectionLimits::new(limits.max_connections_per_address, total),
            http::accept::Timeouts {
                header: limits.header_timeout,
                shutdown_grace: limits.shutdown_grace,
            },
            self.app.metrics.clone(),
            async move {
                shutdown.await;
                let _ = shutdown_tx.send(true);
            },
        )
        .await;
        // The requests are answered; now the rooms stop, so that nothing commits after this.
        self.app.rooms.shutdown().await;
        Ok(())
    }
}
