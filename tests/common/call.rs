//! Calls for the tests: a person in a call is a WebSocket and a synthetic str0m peer driven over
//! real UDP (or TCP) on 127.0.0.1, standing in for a browser.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use huddle::media::synthetic::{Synthetic, drive, drive_tcp};
use serde_json::{Value, json};
use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;

use reqwest::{Method, StatusCode};

use super::{Client, Events, TestServer};

pub const AUDIO_SLOTS: usize = 3;
pub const VIDEO_SLOTS: usize = 3;

/// One person in the call: their WebSocket and their synthetic media, driven over UDP by a task.
pub struct Person {
    pub name: &'static str,
    pub id: String,
    /// The server's UDP address, from the answer's candidate.
    pub server_udp: std::net::SocketAddr,
    /// The server's number for this connection.
    pub call_id: u64,
    /// In a cluster, the node serving the call (the answer's `node`).
    pub node: Option<String>,
    pub events: Events,
    pub media: Arc<Mutex<Synthetic>>,
    pub driver: tokio::task::JoinHandle<()>,
}

impl Person {
    /// Connects the WebSocket and joins the call of `room` with fresh media.
    pub async fn join(client: &Client, name: &'static str, index: u8, room: &str) -> Person {
        Self::join_over(Protocol::Udp, client, name, index, room).await
    }

    /// [`Person::join`] over UDP, or over TCP only (ICE-TCP to the media port).
    pub async fn join_over(
        proto: Protocol,
        client: &Client,
        name: &'static str,
        index: u8,
        room: &str,
    ) -> Person {
        Self::join_with(proto, client, name, index, room, 1).await
    }

    /// [`Person::join_over`] with the camera in `layers` simulcast layers.
    pub async fn join_with(
        proto: Protocol,
        client: &Client,
        name: &'static str,
        index: u8,
        room: &str,
        layers: usize,
    ) -> Person {
        let id = client.person_id().await;
        let events = client.events(None).await;
        let call = events.hello.as_ref().unwrap()["call"].clone();
        assert!(
            call["audio_slots"].as_u64().unwrap() >= AUDIO_SLOTS as u64,
            "{call}"
        );
        Self::join_on(events, id, proto, name, index, room, layers).await
    }

    /// Joins the call again on the same WebSocket, with fresh media (a new PeerConnection), as a
    /// browser does when its call ended or moved.
    pub async fn rejoin(self, room: &str) -> Person {
        self.driver.abort();
        let index = self.media.lock().unwrap().index;
        Self::join_on(
            self.events,
            self.id,
            Protocol::Udp,
            self.name,
            index,
            room,
            1,
        )
        .await
    }

    async fn join_on(
        mut events: Events,
        id: String,
        proto: Protocol,
        name: &'static str,
        index: u8,
        room: &str,
        layers: usize,
    ) -> Person {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = match proto {
            // An active TCP candidate's port is never used (RFC 6544 says 9).
            Protocol::Tcp => "127.0.0.1:9".parse().unwrap(),
            _ => socket.local_addr().unwrap(),
        };
        let cert = huddle::media::udp::certificate().unwrap();
        let (media, offer) = if layers > 1 {
            let slots = (AUDIO_SLOTS, VIDEO_SLOTS);
            Synthetic::new_simulcast(index, addr, Instant::now(), slots, layers, cert)
        } else {
            Synthetic::new_over(
                proto,
                index,
                addr,
                Instant::now(),
                AUDIO_SLOTS,
                VIDEO_SLOTS,
                cert,
            )
        };
        send(
            &mut events,
            json!({"type": "call_join", "room": room, "sdp": offer, "mic": true, "camera": true}),
        )
        .await;
        let answer = events.next_of("call_answer").await;
        let sdp = answer["sdp"].as_str().unwrap();
        let server_udp: std::net::SocketAddr = sdp
            .lines()
            .find(|l| l.starts_with("a=candidate:"))
            .and_then(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                format!("{}:{}", f.get(4)?, f.get(5)?).parse().ok()
            })
            .expect("a host candidate in the answer");
        let media = Arc::new(Mutex::new(media));
        media
            .lock()
            .unwrap()
            .answer(answer["sdp"].as_str().unwrap())
            .unwrap();
        let driver = match proto {
            Protocol::Tcp => {
                let passive = format!(
                    "{} {} typ host tcptype passive",
                    server_udp.ip(),
                    server_udp.port()
                );
                assert!(
                    sdp.lines().any(|l| l.starts_with("a=candidate:")
                        && l.contains(" tcp ")
                        && l.contains(&passive)),
                    "{sdp}"
                );
                tokio::spawn(drive_tcp(server_udp, media.clone()))
            }
            _ => tokio::spawn(drive(socket, media.clone())),
        };
        Person {
            name,
            id,
            server_udp,
            call_id: answer["call_id"].as_u64().unwrap(),
            node: answer["node"].as_str().map(str::to_owned),
            events,
            media,
            driver,
        }
    }

    pub fn connections(&self) -> u32 {
        self.media.lock().unwrap().connected
    }
}

pub async fn send(events: &mut Events, message: Value) {
    events
        .ws
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// Waits until, over a window of 600 ms, each person hears (audio) and sees (video) exactly the
/// given senders; panics with what they did receive after 15 s.
pub async fn expect_senders(people: &[Watched], expected: &[&[u8]], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got: Vec<(BTreeSet<u8>, BTreeSet<u8>)> = people
            .iter()
            .map(|(_, media)| {
                let m = media.lock().unwrap();
                (m.senders_since(since, false), m.senders_since(since, true))
            })
            .collect();
        let want: Vec<BTreeSet<u8>> = expected
            .iter()
            .map(|e| e.iter().copied().collect())
            .collect();
        if got.iter().zip(&want).all(|((a, v), w)| a == w && v == w) {
            return;
        }
        if Instant::now() > deadline {
            let report: Vec<String> = people
                .iter()
                .zip(&got)
                .zip(&want)
                .map(|(((name, _), (a, v)), w)| {
                    format!("{name}: heard {a:?}, saw {v:?}, expected {w:?}")
                })
                .collect();
            panic!("{what}: {}", report.join("; "));
        }
    }
}

/// A person's name and media, watched while their WebSocket is used elsewhere.
pub type Watched = (&'static str, Arc<Mutex<Synthetic>>);

pub fn watch(people: &[&Person]) -> Vec<Watched> {
    people.iter().map(|p| (p.name, p.media.clone())).collect()
}

/// Frames that arrive within 300 ms.
pub async fn drain(events: &mut Events) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(
        Duration::from_millis(300),
        futures_util::StreamExt::next(&mut events.ws),
    )
    .await
    {
        // The server's keep-alive pings may come at any moment: only text frames are events.
        if let Message::Text(text) = message {
            frames.push(serde_json::from_str(&text).unwrap());
        }
    }
    frames
}

/// The path of a main room's breakout resource, with `tail` (`"/start"`, ...).
pub fn breakout(room: &str, tail: &str) -> String {
    format!("/api/v1/rooms/{room}/breakout{tail}")
}

/// An owner and two participants (Pia and Pavel) in a main room "Class"; returns their clients
/// and the room.
pub async fn class(server: &TestServer) -> (Client, Client, Client, String) {
    let owner = server.admin().await;
    let p1 = server.user(&owner, "Pia").await;
    let p2 = server.user(&owner, "Pavel").await;
    let main = owner.create_room("Class").await;
    for email in ["pia@example.org", "pavel@example.org"] {
        owner.add_member(&main, email, "participant").await;
    }
    (owner, p1, p2, main)
}

/// Sends a command that must answer 200.
pub async fn command(client: &Client, path: String, body: Option<Value>) {
    client
        .expect(Method::POST, &path, body, StatusCode::OK)
        .await;
}
