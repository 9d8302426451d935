//! The media thread: one UDP socket (and, for ICE-TCP, a TCP listener on the same port:
//! [`super::tcp`]), the [`Sfu`], and a current-thread tokio runtime that wakes for a datagram, a
//! TCP packet, a command or the SFU's next timer — never on a fixed poll.
//!
//! It runs on its own OS thread so that forwarding never competes with HTTP work for a runtime
//! worker, and so that nothing on it can wait on the room actors, the store or a WebSocket:
//! frames for people are offered to their connections' bounded queues and dropped if full (the
//! next `call_state` carries the whole view again), and, in a cluster, handed to NATS's outbox
//! for their connections on other nodes.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::config::DtlsCert;
use tokio::net::UdpSocket;

use str0m::net::Protocol;

use super::Signals;
use super::queue::Receiver;
use super::sfu::Sfu;
use super::tcp::TcpMedia;

/// Datagrams read in one go before the SFU settles and writes.
const BATCH: usize = 64;
/// Commands taken in one go: enough for a room's whole move, few enough that a flood of joins
/// (each sets up a peer) does not hold the packets of every call for long.
const COMMANDS: usize = 32;

/// Makes the DTLS certificate every peer presents (one per process: generating one per peer
/// would cost a key generation per join).
pub fn certificate() -> Option<DtlsCert> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
}

/// Starts the media thread on a bound socket (and a bound TCP listener for ICE-TCP).
pub fn spawn(
    socket: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    sfu: Sfu,
    commands: Receiver,
    signals: Signals,
) -> std::io::Result<()> {
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    std::thread::Builder::new()
        .name("huddle-media".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "the media thread could not start");
                    return;
                }
            };
            runtime.block_on(run(socket, tcp, local, sfu, commands, signals));
        })?;
    Ok(())
}

async fn run(
    socket: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    local: SocketAddr,
    mut sfu: Sfu,
    commands: Receiver,
    signals: Signals,
) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the media socket could not be registered");
            return;
        }
    };
    let mut tcp = match tcp
        .map(|l| TcpMedia::new(l, super::tcp::Limits::default()))
        .transpose()
    {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::error!(error = %e, "the media TCP listener could not be registered");
            return;
        }
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = sfu.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = received {
                    sfu.handle_datagram(Instant::now(), Protocol::Udp, from, local, &buf[..n]);
                }
                for _ in 1..BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, from)) => sfu.handle_datagram(Instant::now(), Protocol::Udp, from, local, &buf[..n]),
                        Err(_) => break,
                    }
                }
            }
            (from, packet) = async {
                match tcp.as_mut() {
                    Some(tcp) => tcp.next().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(tcp) = tcp.as_mut() {
                    let now = Instant::now();
                    sfu.handle_datagram(now, Protocol::Tcp, from, tcp.local, &packet);
                    tcp.introduced(from, sfu.knows(from), now);
                }
            }
            () = commands.ready() => {
                // A bounded batch, the rooms in turn; the rest after the sockets had a look.
                let taken = commands.take(COMMANDS);
                for command in taken.commands {
                    sfu.handle_command(Instant::now(), command);
                }
                if taken.closed {
                    break;
                }
            }
            () = sleep => sfu.handle_timeout(Instant::now()),
        }
        while let Some(t) = sfu.poll_transmit() {
            // A full send buffer or queue drops the packet, as the network would; counted.
            let sent = match (t.proto, tcp.as_ref()) {
                (Protocol::Tcp, Some(tcp)) => tcp.send(t.destination, &t.contents),
                (Protocol::Tcp, None) => false,
                _ => socket.try_send_to(&t.contents, t.destination).is_ok(),
            };
            if !sent {
                sfu.metrics().media_sends_dropped.inc();
            }
        }
        while let Some(signal) = sfu.poll_signal() {
            signals.deliver(signal);
        }
        while let Some(presence) = sfu.poll_presence() {
            signals.presence(presence);
        }
    }
}
