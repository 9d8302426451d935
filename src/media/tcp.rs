//! ICE over TCP (RFC 6544) on the media port, for networks that block UDP: clients connect to a
//! passive TCP candidate at the same address and port as the UDP one, and each packet (STUN,
//! DTLS, SRTP) travels with a 2-byte length before it (RFC 4571). The SFU sees the same packets
//! as over UDP, from the connection's remote address.
//!
//! A TCP connection costs a descriptor and two tasks, so it gets bounds like HTTP's ([`Limits`]):
//! at most 2,048 at once, of which at most 512 from one IP address (a school behind one NAT
//! address whose network blocks UDP) and at most 16 from one address that have not yet become a
//! peer's; closed when its address has not become a peer's (a STUN check naming a peer's ICE
//! fragment) within 10 s of opening, whatever it sent meanwhile, or when nothing arrives for 30 s
//! (ICE consent checks come every few seconds). Writes never block the media thread: each
//! connection has a bounded queue, and a full queue drops the packet, as a full UDP buffer would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The bounds on TCP media connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    pub per_address: usize,
    /// Most connections from one IP address that have not become a peer's yet.
    pub strangers_per_address: usize,
    /// How long a new connection has to introduce itself with a valid ICE check.
    pub introduce: Duration,
    /// How long a connection may send nothing.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 2048,
            per_address: 512,
            strangers_per_address: 16,
            introduce: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}
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
    /// Its address became a peer's; shared with the reader, whose deadline it lifts.
    known: Arc<AtomicBool>,
}

impl Connection {
    fn known(&self) -> bool {
        self.known.load(Ordering::Relaxed)
    }
}

/// The TCP listener on the media port and its open connections.
pub struct TcpMedia {
    listener: TcpListener,
    /// The listener's own address (the destination of every packet read).
    pub local: SocketAddr,
    reads_tx: mpsc::Sender<Read>,
    reads: mpsc::Receiver<Read>,
    connections: HashMap<SocketAddr, Connection>,
    limits: Limits,
}

impl TcpMedia {
    /// Takes a bound listener (on the media thread's runtime).
    pub fn new(listener: std::net::TcpListener, limits: Limits) -> std::io::Result<TcpMedia> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let (reads_tx, reads) = mpsc::channel(1024);
        Ok(TcpMedia {
            listener: TcpListener::from_std(listener)?,
            local,
            reads_tx,
            reads,
            connections: HashMap::new(),
            limits,
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
        let (mut same, mut strangers) = (0, 0);
        for (addr, c) in &self.connections {
            if addr.ip() == from.ip() {
                same += 1;
                strangers += usize::from(!c.known());
            }
        }
        if self.connections.len() >= self.limits.max_connections
            || same >= self.limits.per_address
            || strangers >= self.limits.strangers_per_address
        {
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
        let Limits {
            introduce, idle, ..
        } = self.limits;
        let opened = Instant::now();
        let known = Arc::new(AtomicBool::new(false));
        let known_here = known.clone();
        let reader = tokio::spawn(async move {
            let mut length = [0u8; 2];
            loop {
                // Until its address is a peer's, the introduction deadline holds whatever the
                // connection sends; after, only silence ends it.
                let wait = if known_here.load(Ordering::Relaxed) {
                    idle
                } else {
                    introduce.saturating_sub(opened.elapsed())
                };
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
            }
            let _ = reads.send(Read::Closed(from)).await;
        });
        self.connections.insert(
            from,
            Connection {
                writer,
                reader,
                opened,
                known,
            },
        );
    }

    /// Notes whether the SFU knows the connection from `from` after handling its packet; one it
    /// still does not know after `limits.introduce` is closed.
    pub fn introduced(&mut self, from: SocketAddr, known: bool, now: Instant) {
        let Some(connection) = self.connections.get_mut(&from) else {
            return;
        };
        if known {
            connection.known.store(true, Ordering::Relaxed);
        }
        if !connection.known() && now.duration_since(connection.opened) > self.limits.introduce {
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
    /// connection or its queue is full. Whether it was queued.
    pub fn send(&self, to: SocketAddr, packet: &[u8]) -> bool {
        let Some(connection) = self.connections.get(&to) else {
            return false;
        };
        let Ok(length) = u16::try_from(packet.len()) else {
            return false;
        };
        let mut frame = Vec::with_capacity(packet.len() + 2);
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(packet);
        connection.writer.try_send(frame).is_ok()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTRODUCE: Duration = Duration::from_millis(200);

    async fn media(max_connections: usize) -> (TcpMedia, SocketAddr) {
        media_introduced_within(max_connections, INTRODUCE).await
    }

    async fn media_introduced_within(
        max_connections: usize,
        introduce: Duration,
    ) -> (TcpMedia, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let limits = Limits {
            max_connections,
            per_address: 3,
            strangers_per_address: 2,
            introduce,
            idle: Duration::from_secs(30),
        };
        let media = TcpMedia::new(listener, limits).unwrap();
        let at = media.local;
        (media, at)
    }

    fn framed(packet: &[u8]) -> Vec<u8> {
        let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(packet);
        frame
    }

    /// Reads until the server closes the connection (a reset too, when it left bytes unread);
    /// true when it did within 5 s.
    async fn closed(client: &mut TcpStream) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn packets_arrive_whole_and_go_back_framed() {
        let (mut media, at) = media(4).await;
        let mut client = TcpStream::connect(at).await.unwrap();
        let me = client.local_addr().unwrap();
        // Two packets in one write, and one split across two writes.
        let mut bytes = framed(b"first");
        bytes.extend(framed(b"second"));
        client.write_all(&bytes).await.unwrap();
        assert_eq!(media.next().await, (me, b"first".to_vec()));
        assert_eq!(media.next().await, (me, b"second".to_vec()));
        let third = framed(&[7u8; 1500]);
        client.write_all(&third[..700]).await.unwrap();
        let (next, ()) = tokio::join!(media.next(), async {
            client.write_all(&third[700..]).await.unwrap();
        });
        assert_eq!(next, (me, vec![7u8; 1500]));

        assert!(media.send(me, b"answer"));
        let mut back = [0u8; 8];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"\0\x06answer");
        assert_eq!(media.open_connections(), 1);
        // To an address with no connection: not sent, and said so (the caller counts it).
        assert!(!media.send("127.0.0.1:9".parse().unwrap(), b"lost"));
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_introduction_deadline() {
        let (mut media, at) = media(4).await;
        let mut client = TcpStream::connect(at).await.unwrap();
        // The media thread keeps waiting for packets meanwhile (a 200 ms deadline here).
        let serve = tokio::spawn(async move {
            media.next().await;
        });
        assert!(closed(&mut client).await);
        serve.abort();
    }

    #[tokio::test]
    async fn a_connection_never_introduced_is_closed_and_the_cap_holds() {
        // A long deadline, so that no reader closes its connection by itself meanwhile.
        let (mut media, at) = media_introduced_within(2, Duration::from_secs(30)).await;
        let mut first = TcpStream::connect(at).await.unwrap();
        let me = first.local_addr().unwrap();
        first
            .write_all(&framed(b"not a valid ICE check"))
            .await
            .unwrap();
        let (from, _) = media.next().await;
        assert_eq!(from, me);
        let now = Instant::now();
        media.introduced(from, false, now);
        assert_eq!(
            media.open_connections(),
            1,
            "it has a while to introduce itself"
        );

        // A second fills the cap; a third is closed on arrival.
        let mut second = TcpStream::connect(at).await.unwrap();
        second.write_all(&framed(b"hello")).await.unwrap();
        media.next().await;
        let mut third = TcpStream::connect(at).await.unwrap();
        third.write_all(&framed(b"hello")).await.unwrap();
        let serve = async {
            tokio::time::timeout(Duration::from_millis(500), media.next())
                .await
                .ok()
        };
        let (next, third_closed) = tokio::join!(serve, closed(&mut third));
        assert!(
            third_closed && next.is_none(),
            "over the cap: closed, nothing read"
        );
        assert_eq!(media.open_connections(), 2);

        // Still a stranger after the deadline: closed. A known one stays.
        let later = now + Duration::from_secs(31);
        media.introduced(second.local_addr().unwrap(), true, later);
        media.introduced(me, false, later);
        assert!(closed(&mut first).await);
        assert_eq!(media.open_connections(), 1);
    }

    #[tokio::test]
    async fn a_junk_frame_does_not_buy_time_past_the_introduction_deadline() {
        let (mut media, at) = media(8).await;
        let mut client = TcpStream::connect(at).await.unwrap();
        client.write_all(&framed(b"junk")).await.unwrap();
        let (from, _) = media.next().await;
        media.introduced(from, false, Instant::now());
        // Silent after the junk: closed at the introduction deadline (200 ms here), not after
        // the idle time (30 s).
        let serve = tokio::spawn(async move {
            loop {
                media.next().await;
            }
        });
        assert!(closed(&mut client).await);
        serve.abort();
    }

    #[tokio::test]
    async fn one_address_holds_a_bounded_share_of_the_slots() {
        // A long deadline, so that no stranger is closed by it meanwhile.
        let (mut media, at) = media_introduced_within(8, Duration::from_secs(30)).await;
        // Two strangers from 127.0.0.1 are all it may hold; a third is closed on arrival.
        let mut strangers = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(at).await.unwrap();
            s.write_all(&framed(b"hello")).await.unwrap();
            media.next().await;
            strangers.push(s);
        }
        let mut third = TcpStream::connect(at).await.unwrap();
        let serve = async {
            tokio::time::timeout(Duration::from_millis(300), media.next())
                .await
                .ok()
        };
        let (_, third_closed) = tokio::join!(serve, closed(&mut third));
        assert!(third_closed, "a third stranger from one address");
        // Once they became peers, one more may come (three from one address), then no more.
        let now = Instant::now();
        for s in &strangers {
            media.introduced(s.local_addr().unwrap(), true, now);
        }
        let mut peer = TcpStream::connect(at).await.unwrap();
        peer.write_all(&framed(b"hello")).await.unwrap();
        media.next().await;
        assert_eq!(media.open_connections(), 3);
        let mut fourth = TcpStream::connect(at).await.unwrap();
        let serve = async {
            tokio::time::timeout(Duration::from_millis(300), media.next())
                .await
                .ok()
        };
        let (_, fourth_closed) = tokio::join!(serve, closed(&mut fourth));
        assert!(fourth_closed, "over the per-address cap");
        // Another address is still served.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = socket.connect(at).await.unwrap();
        other.write_all(&framed(b"hello")).await.unwrap();
        let (from, _) = media.next().await;
        assert_eq!(from.ip().to_string(), "127.0.0.2");
        drop(peer);
    }
}
