//! Prometheus metrics, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The route template (`/api/v1/rooms/{room}`), never the raw path, so cardinality stays bounded.
    pub route: String,
    /// Status code.
    pub status: String,
}

/// Every metric Huddle exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Open WebSocket connections.
    pub ws_connections: Gauge,
    /// Connections closed on arrival: their address, or the server, had as many open as allowed.
    pub connections_refused: Counter,
    /// Live asynchronous tasks of the runtime (set when the metrics are read).
    pub tasks: Gauge,
    /// Event frames written to WebSockets.
    pub events_sent: Counter,
    /// Subscriptions dropped into a `resync` because a client's queue was full.
    pub resyncs: Counter,
    /// Live room actors.
    pub room_actors: Gauge,
    /// Commands applied by room actors.
    pub commands: Counter,
    /// People in calls (media peers).
    pub call_peers: Gauge,
    /// Peers the media server dropped (never connected, went silent, failed, lost access).
    pub call_peers_dropped: Counter,
    /// RTP packets forwarded to receivers.
    pub media_packets_forwarded: Counter,
    /// RTP payload bytes forwarded to receivers.
    pub media_bytes_forwarded: Counter,
    /// Datagrams (or ICE-TCP frames) the media server dropped because the socket's send buffer
    /// or the connection's queue was full, or the connection was gone.
    pub media_sends_dropped: Counter,
    /// Keyframe requests (PLI) sent to sources.
    pub keyframe_requests: Counter,
    /// Receive slots that changed source.
    pub slot_switches: Counter,
    /// Datagrams dropped: from unknown addresses, or unreadable.
    pub media_dropped_datagrams: Counter,
    /// Tapped packets the recorder could not take in time (its queue was full).
    pub recording_packets_dropped: Counter,
    /// Calls being recorded now.
    pub recordings_active: Gauge,
    /// Recordings composed into a playable file.
    pub recordings_composed: Counter,
    /// Cluster mode: main rooms this node serves (set when the metrics are read).
    pub cluster_rooms_owned: Gauge,
    /// Cluster mode: main rooms this node follows for its clients (set when read).
    pub cluster_rooms_followed: Gauge,
    /// Cluster mode: 1 while this node's heartbeat is current (set when read).
    pub cluster_healthy: Gauge,
    /// Cluster mode: 1 while NATS is connected (set when read).
    pub cluster_nats_connected: Gauge,
    /// Cluster mode: commands sent to the node serving their room.
    pub cluster_commands_forwarded: Counter,
    /// Cluster mode: rooms this node followed and took over when their node was gone.
    pub cluster_takeovers: Counter,
    /// Messages for other nodes dropped by a full NATS outbox.
    pub cluster_nats_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("huddle");
        let requests = Family::<RequestLabels, Counter>::default();
        let ws_connections = Gauge::default();
        let connections_refused = Counter::default();
        let tasks = Gauge::default();
        registry.register("tasks", "Live asynchronous tasks", tasks.clone());
        registry.register(
            "connections_refused",
            "Connections closed on arrival: over the per-address or total cap",
            connections_refused.clone(),
        );
        let events_sent = Counter::default();
        let resyncs = Counter::default();
        let room_actors = Gauge::default();
        let commands = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "ws_connections",
            "Open WebSocket connections",
            ws_connections.clone(),
        );
        registry.register(
            "events_sent",
            "Event frames written to WebSockets",
            events_sent.clone(),
        );
        registry.register(
            "resyncs",
            "Subscriptions that overflowed into a resync",
            resyncs.clone(),
        );
        registry.register("room_actors", "Live room actors", room_actors.clone());
        registry.register(
            "commands",
            "Commands applied by room actors",
            commands.clone(),
        );
        let call_peers = Gauge::default();
        registry.register(
            "call_peers",
            "People in calls (media peers)",
            call_peers.clone(),
        );
        let call_peers_dropped = Counter::default();
        registry.register(
            "call_peers_dropped",
            "Media peers dropped (no connection, silence, failure, lost access)",
            call_peers_dropped.clone(),
        );
        let media_packets_forwarded = Counter::default();
        registry.register(
            "media_packets_forwarded",
            "RTP packets forwarded to receivers",
            media_packets_forwarded.clone(),
        );
        let media_sends_dropped = Counter::default();
        registry.register(
            "media_sends_dropped",
            "Media datagrams or ICE-TCP frames dropped: send buffer or queue full, or connection gone",
            media_sends_dropped.clone(),
        );
        let media_bytes_forwarded = Counter::default();
        registry.register(
            "media_bytes_forwarded",
            "RTP payload bytes forwarded to receivers",
            media_bytes_forwarded.clone(),
        );
        let keyframe_requests = Counter::default();
        registry.register(
            "keyframe_requests",
            "Keyframe requests sent to sources",
            keyframe_requests.clone(),
        );
        let slot_switches = Counter::default();
        registry.register(
            "slot_switches",
            "Receive slots that changed source",
            slot_switches.clone(),
        );
        let media_dropped_datagrams = Counter::default();
        registry.register(
            "media_dropped_datagrams",
            "Media datagrams dropped (unknown address or unreadable)",
            media_dropped_datagrams.clone(),
        );
        let recording_packets_dropped = Counter::default();
        registry.register(
            "recording_packets_dropped",
            "Tapped packets dropped because the recorder was behind",
            recording_packets_dropped.clone(),
        );
        let recordings_active = Gauge::default();
        registry.register(
            "recordings_active",
            "Calls being recorded now",
            recordings_active.clone(),
        );
        let recordings_composed = Counter::default();
        registry.register(
            "recordings_composed",
            "Recordings composed into a playable file",
            recordings_composed.clone(),
        );
        let cluster_rooms_owned = Gauge::default();
        registry.register(
            "cluster_rooms_owned",
            "Main rooms this node serves (cluster mode)",
            cluster_rooms_owned.clone(),
        );
        let cluster_rooms_followed = Gauge::default();
        registry.register(
            "cluster_rooms_followed",
            "Main rooms this node follows for its clients (cluster mode)",
            cluster_rooms_followed.clone(),
        );
        let cluster_healthy = Gauge::default();
        registry.register(
            "cluster_healthy",
            "1 while this node's heartbeat is current (cluster mode)",
            cluster_healthy.clone(),
        );
        let cluster_nats_connected = Gauge::default();
        registry.register(
            "cluster_nats_connected",
            "1 while NATS is connected (cluster mode)",
            cluster_nats_connected.clone(),
        );
        let cluster_commands_forwarded = Counter::default();
        registry.register(
            "cluster_commands_forwarded",
            "Commands sent to the node serving their room (cluster mode)",
            cluster_commands_forwarded.clone(),
        );
        let cluster_nats_dropped = Counter::default();
        registry.register(
            "cluster_nats_dropped",
            "Messages for other nodes dropped because NATS was out of reach too long (cluster mode)",
            cluster_nats_dropped.clone(),
        );
        let cluster_takeovers = Counter::default();
        registry.register(
            "cluster_takeovers",
            "Followed rooms this node took over when their node was gone (cluster mode)",
            cluster_takeovers.clone(),
        );
        Metrics {
            registry,
            cluster_rooms_owned,
            cluster_rooms_followed,
            cluster_healthy,
            cluster_nats_connected,
            cluster_commands_forwarded,
            cluster_takeovers,
            cluster_nats_dropped,
            recording_packets_dropped,
            recordings_active,
            recordings_composed,
            call_peers,
            call_peers_dropped,
            media_packets_forwarded,
            media_sends_dropped,
            media_bytes_forwarded,
            keyframe_requests,
            slot_switches,
            media_dropped_datagrams,
            requests,
            ws_connections,
            connections_refused,
            tasks,
            events_sent,
            resyncs,
            room_actors,
            commands,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
