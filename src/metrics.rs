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
    /// Event frames written to WebSockets.
    pub events_sent: Counter,
    /// Subscriptions dropped into a `resync` because a client's queue was full.
    pub resyncs: Counter,
    /// Live room actors.
    pub room_actors: Gauge,
    /// Commands applied by room actors.
    pub commands: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("huddle");
        let requests = Family::<RequestLabels, Counter>::default();
        let ws_connections = Gauge::default();
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
        Metrics {
            registry,
            requests,
            ws_connections,
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
