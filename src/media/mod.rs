//! Calls: a selective forwarding unit (SFU) inside the Huddle process, on str0m.
//!
//! Each person keeps **one PeerConnection per main room** for the whole meeting. It carries their
//! microphone, camera and screen, and a fixed pool of receive slots negotiated once. When people
//! move between rooms, the server only changes which source feeds which slot (and tells the client
//! in a `call_state` frame): no renegotiation, no new ICE or DTLS. Who may receive whom is the pure
//! rule of [`crate::domain::call::table`]; the SFU forwards by it and nothing else.
//!
//! Layout: [`sfu`] is the whole server without I/O (datagrams, commands and time in; datagrams
//! and signalling frames out); [`udp`] runs it on one UDP socket on its own thread; [`peer`],
//! [`call`] and [`slots`] are its parts, [`layers`] picks each receiver's simulcast layers under
//! the ceiling [`congestion`] learns from its loss, and [`stats`] is what moderators see of it; [`record`] taps the packets of recorded rooms and writes them to disk; [`tcp`] carries ICE over TCP on the same port; [`offer`]
//! checks a client's SDP offer; [`turn`] makes each client's TURN credentials. [`synthetic`] is
//! a participant made of a str0m peer, for the routing tests, the end-to-end tests and the
//! benchmark.
//!
//! The room actors send [`sfu::Command`]s through a [`Media`] handle and never wait, into the
//! [`queue`]: the main rooms take turns on the media thread, what clients ask is bounded per room
//! and a person's superseded requests are dropped, while what the actors decide is never dropped
//! (a lost location update would forward media to the wrong room). The media thread never waits
//! on an actor, the store or a WebSocket: frames for people go to their connections' bounded
//! queues with `try_send`.

pub mod call;
pub mod congestion;
pub mod layers;
pub mod offer;
pub mod peer;
pub mod queue;
pub mod record;
pub mod sfu;
pub mod slots;
pub mod stats;
pub mod synthetic;
pub mod tcp;
pub mod turn;
pub mod udp;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use sfu::Command;

use crate::ids::PersonId;
use crate::metrics::Metrics;
use crate::realtime::Connections;

/// Publishes a call frame for people connected to other nodes of a cluster (never waits).
pub type SignalRelay = Box<dyn Fn(&sfu::Signal) + Send>;

/// Where the media server's frames for people go: their connections to this node and, in a
/// cluster, the nodes that follow the room (whose clients may be in this node's calls).
pub struct Signals {
    /// This node's connections.
    pub connections: Arc<Connections>,
    /// The other nodes, in a cluster.
    pub relay: Option<SignalRelay>,
    /// The room actors, told who is in each call sending what (for the session report).
    pub presence: Option<mpsc::UnboundedSender<sfu::CallPresence>>,
}

impl Signals {
    fn deliver(&self, signal: sfu::Signal) {
        if let Some(relay) = &self.relay {
            relay(&signal);
        }
        let frame = axum::extract::ws::Utf8Bytes::from(signal.frame);
        for conn in self.connections.of(signal.person) {
            let _ = conn.offer(&frame);
        }
    }

    fn presence(&self, presence: sfu::CallPresence) {
        if let Some(tx) = &self.presence {
            let _ = tx.send(presence);
        }
    }
}

/// What the media server needs to start.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP address to bind (one port for every call).
    pub bind: SocketAddr,
    /// The address to advertise to clients, if not the bound one (a server behind 1:1 NAT).
    pub public_ip: Option<std::net::IpAddr>,
    /// Most audio receive slots per client.
    pub audio_slots: usize,
    /// Most video receive slots per client.
    pub video_slots: usize,
    /// ICE servers handed to clients (`[{"urls": …}]`, as `RTCPeerConnection` takes them).
    pub ice_servers: serde_json::Value,
    /// TURN servers each client gets its own credentials for.
    pub turn: Option<turn::TurnConfig>,
    /// Whether to accept ICE over TCP on the media port too.
    pub tcp: bool,
    /// Whether receivers' layers are fitted under the ceiling their loss sets.
    pub congestion: bool,
    /// A peer must connect within this time.
    pub connect_timeout: Duration,
    /// A connected peer not heard from for this long is dropped.
    pub idle_timeout: Duration,
}

/// The handle through which room actors reach the media server.
#[derive(Debug, Clone)]
pub struct Media {
    tx: queue::Sender,
    /// The advertised UDP address.
    pub address: SocketAddr,
    /// Pool sizes and ICE servers, for clients.
    pub client_config: Arc<ClientConfig>,
}

/// What a client needs to set up its PeerConnection: the receive pools and the ICE servers, the
/// TURN servers with credentials of its own.
#[derive(Debug)]
pub struct ClientConfig {
    audio_slots: usize,
    video_slots: usize,
    ice_servers: serde_json::Value,
    turn: Option<turn::TurnConfig>,
}

impl ClientConfig {
    /// From the media settings.
    pub fn new(config: &MediaConfig) -> ClientConfig {
        ClientConfig {
            audio_slots: config.audio_slots,
            video_slots: config.video_slots,
            ice_servers: config.ice_servers.clone(),
            turn: config.turn.clone(),
        }
    }

    /// The configuration handed to `person` now (in `hello`).
    pub fn for_person(&self, person: PersonId, now: time::OffsetDateTime) -> serde_json::Value {
        let mut ice_servers = self.ice_servers.as_array().cloned().unwrap_or_default();
        if let Some(turn) = &self.turn {
            ice_servers.push(turn.ice_server(person, now));
        }
        serde_json::json!({
            "audio_slots": self.audio_slots,
            "video_slots": self.video_slots,
            "ice_servers": ice_servers,
        })
    }
}

/// Why the media server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The UDP socket could not be bound.
    #[error("media_bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// No address can be advertised.
    #[error(
        "media_bind {0} listens on every address: set media_public_ip to the address clients reach"
    )]
    NoAddress(SocketAddr),
    /// The TCP listener for ICE-TCP could not be bound.
    #[error("media_bind {0} (TCP, for ICE-TCP): {1}; free the TCP port or set media_tcp = false")]
    BindTcp(SocketAddr, std::io::Error),
    /// The DTLS certificate could not be made.
    #[error("could not generate the DTLS certificate")]
    Certificate,
}

/// Binds the UDP socket and, with `tcp`, a TCP listener on the same port. A free port (port 0)
/// is tried again until both halves get the same number.
fn bind(
    address: SocketAddr,
    tcp: bool,
) -> Result<(std::net::UdpSocket, Option<std::net::TcpListener>), MediaError> {
    let mut tries = 0;
    loop {
        let socket =
            std::net::UdpSocket::bind(address).map_err(|e| MediaError::Bind(address, e))?;
        if !tcp {
            return Ok((socket, None));
        }
        let bound = socket
            .local_addr()
            .map_err(|e| MediaError::Bind(address, e))?;
        match std::net::TcpListener::bind(bound) {
            Ok(listener) => return Ok((socket, Some(listener))),
            Err(_) if address.port() == 0 && tries < 20 => tries += 1,
            Err(e) => return Err(MediaError::BindTcp(bound, e)),
        }
    }
}

impl Media {
    /// Binds the UDP socket and starts the media thread, whose frames for people go to
    /// `signals`; `node` labels this node in a cluster (`cluster::call_label`). It stops when
    /// every handle is dropped.
    pub fn start(
        config: &MediaConfig,
        metrics: Arc<Metrics>,
        signals: Signals,
        node: Option<String>,
    ) -> Result<Media, MediaError> {
        let (socket, tcp) = bind(config.bind, config.tcp)?;
        let bound = socket
            .local_addr()
            .map_err(|e| MediaError::Bind(config.bind, e))?;
        let ip = config.public_ip.unwrap_or(bound.ip());
        if ip.is_unspecified() {
            return Err(MediaError::NoAddress(config.bind));
        }
        let address = SocketAddr::new(ip, bound.port());
        let cert = udp::certificate().ok_or(MediaError::Certificate)?;
        let metrics_for_recorder = metrics.clone();
        let sfu = sfu::Sfu::new(
            sfu::SfuConfig {
                candidate: address,
                tcp: tcp.is_some(),
                audio_slots: config.audio_slots,
                video_slots: config.video_slots,
                connect_timeout: config.connect_timeout,
                idle_timeout: config.idle_timeout,
                congestion: config.congestion,
                node,
            },
            cert,
            metrics,
        );
        let mut sfu = sfu;
        sfu.set_recorder(
            record::Recorder::start(metrics_for_recorder)
                .map_err(|e| MediaError::Bind(config.bind, e))?,
        );
        let (tx, rx) = queue::queue();
        let with_tcp = tcp.is_some();
        udp::spawn(socket, tcp, sfu, rx, signals).map_err(|e| MediaError::Bind(config.bind, e))?;
        if with_tcp {
            tracing::info!(%address, "media server listening (UDP, and TCP for ICE-TCP)");
        } else {
            tracing::info!(%address, "media server listening (UDP)");
        }
        Ok(Media {
            tx,
            address,
            client_config: Arc::new(ClientConfig::new(config)),
        })
    }

    /// Hands a command the room's actor decided to the media thread without waiting.
    pub fn send(&self, command: Command) {
        self.tx.send(command);
    }

    /// Hands a client's request to the media thread without waiting, or refuses it when the
    /// room's share of the queue is full (see [`queue`]).
    pub fn ask(&self, command: Command) -> Result<(), queue::Busy> {
        self.tx.ask(command)
    }
}

#[cfg(test)]
mod start_tests {
    use super::*;

    fn config(bind: &str, public_ip: Option<&str>) -> MediaConfig {
        MediaConfig {
            bind: bind.parse().unwrap(),
            public_ip: public_ip.map(|ip| ip.parse().unwrap()),
            audio_slots: 8,
            video_slots: 9,
            ice_servers: serde_json::json!([]),
            turn: None,
            tcp: true,
            congestion: true,
            connect_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn advertises_the_public_ip_and_refuses_an_unreachable_one() {
        let metrics = Arc::new(Metrics::default());
        let signals = || Signals {
            connections: Arc::new(Connections::default()),
            relay: None,
            presence: None,
        };
        let err =
            Media::start(&config("0.0.0.0:0", None), metrics.clone(), signals(), None).unwrap_err();
        assert!(err.to_string().contains("media_public_ip"), "{err}");
        let media = Media::start(
            &config("127.0.0.1:0", Some("203.0.113.7")),
            metrics,
            signals(),
            None,
        )
        .unwrap();
        assert_eq!(media.address.ip().to_string(), "203.0.113.7");
        assert_ne!(media.address.port(), 0);
    }
}
