//! ICE over TCP (RFC 6544) on the media port, for networks that block UDP: clients connect to a
//! passive TCP candidate at the same address and port as the UDP one, and each packet (STUN,
//! DTLS, SRTP) travels with a 2-byte length before it (RFC 4571). The SFU sees the same packets
//! as over UDP, from the connection's remote address.
//!
//! A TCP connection costs a descriptor and two tasks, so it gets the bounds HTTP has: at most
//! `MAX_CONNECTIONS` at once, closed when its address has not become a peer's (a STUN check
//! naming a peer's ICE fragment) within `INTRODUCE`, or when nothing arrives for `IDLE` (ICE
//! consent checks come every few seconds). Writes never block the media thread: each connection
//! has a bounded queue, and a full queue drops the packet, as a full UDP buffer would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most TCP media connections open at once.
pub const MAX_CONNECTIONS: usize = 2048;
/// How long a new connection has to introduce itself with a valid ICE check.
pub const INTRODUCE: Duration = Duration::from_secs(10);
/// How long a connection may send nothing.
pub const IDLE: Duration = Duration::from_secs(30);
/// Packets queued for one connection before more are dropped.
const QUEUE: usize = 256;

/// What the reader tasks hand the media thread.
enum Read {
    Packet(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

struct Connection {
    writer: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
    opened: Instant,
    known: bool,
}

/// The TCP listener on the media port and its open connections.
pub struct TcpMedia {
    listener: TcpListener,
    /// The listener's own address (the destination of every packet read).
    pub local: SocketAddr,
    reads_tx: mpsc::Sender<Read>,
    reads: mpsc::Receiver<Read>,
    connections: HashMap<SocketAddr, Connection>,
}

impl TcpMedia {
    /// Takes a bound listener (on the media thread's runtime).
    pub fn new(listener: std::net::TcpListener) -> std::io::Result<TcpMedia> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let (reads_tx, reads) = mpsc::channel(1024);
        Ok(TcpMedia {
            listener: TcpListener::from_std(listener)?,
            local,
            reads_tx,
            reads,
            connections: HashMap::new(),
        })
    }

    /// Waits for the next packet from any connection, accepting new connections meanwhile;
    /// returns its sender and bytes.
    pub async fn next(&mut self) -> (SocketAddr, Vec<u8>) {
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    if let Ok((stream, from)) = accepted {
                        self.open(stream, from);
                    }
                }
                read = self.reads.recv() => match read {
                    Some(Read::Packet(from, bytes)) => return (from, bytes),
                    Some(Read::Closed(from)) => self.close(from),
                    None => std::future::pending::<()>().await,
                },
            }
        }
    }

    fn open(&mut self, stream: TcpStream, from: SocketAddr) {
        if self.connections.len() >= MAX_CONNECTIONS {
            return; // dropping the stream closes it
        }
        let _ = stream.set_nodelay(true);
        let (mut read_half, mut write_half) = stream.into_split();
        let (writer, mut queue) = mpsc::channel::<Vec<u8>>(QUEUE);
        tokio::spawn(async move {
            while let Some(frame) = queue.recv().await {
                if write_half.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let reads = self.reads_tx.clone();
        let reader = tokio::spawn(async move {
            let mut length = [0u8; 2];
            let mut wait = INTRODUCE;
            loop {
                let packet = tokio::time::timeout(wait, async {
                    read_half.read_exact(&mut length).await?;
                    let mut packet = vec![0u8; u16::from_be_bytes(length) as usize];
                    read_half.read_exact(&mut packet).await?;
                    Ok::<_, std::io::Error>(packet)
                })
                .await;
                match packet {
                    Ok(Ok(packet)) => {
                        if reads.send(Read::Packet(from, packet)).await.is_err() {
                            return;
                        }
                    }
                    _ => break,
                }
                wait = IDLE;
            }
            let _ = reads.send(Read::Closed(from)).await;
        });
        let opened = Instant::now();
        self.connections.insert(
            from,
            Connection {
                writer,
                reader,
                opened,
                known: false,
            },
        );
    }

    /// Notes whether the SFU knows the connection from `from` after handling its packet; one it
    /// still does not know after `INTRODUCE` is closed.
    pub fn introduced(&mut self, from: SocketAddr, known: bool, now: Instant) {
        let Some(connection) = self.connections.get_mut(&from) else {
            return;
        };
        connection.known |= known;
        if !connection.known && now.duration_since(connection.opened) > INTRODUCE {
            self.close(from);
        }
    }

    fn close(&mut self, from: SocketAddr) {
        if let Some(connection) = self.connections.remove(&from) {
            // Dropping the writer's queue ends the writer, which drops its half.
            connection.reader.abort();
        }
    }

    /// Queues `packet` for the connection to `to`, framed; dropped when there is no such
    /// connection or its queue is full.
    pub fn send(&self, to: SocketAddr, packet: &[u8]) {
        let Some(connection) = self.connections.get(&to) else {
            return;
        };
        let Ok(length) = u16::try_from(packet.len()) else {
            return;
        };
        let mut frame = Vec::with_capacity(packet.len() + 2);
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(packet);
        let _ = connection.writer.try_send(frame);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }
}
