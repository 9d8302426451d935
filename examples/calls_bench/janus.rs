//! The peers' way, for comparison: Janus's VideoRoom plugin over its HTTP API (see
//! `bench/janus/README.md`), driven by the same synthetic participants. A person publishes on one
//! PeerConnection and subscribes to the others' feeds on another; moving to another room means
//! leaving the old subscription and subscribing again — a new PeerConnection, with ICE and DTLS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle::media::synthetic::{Synthetic, drive};
use serde_json::{Value, json};
use str0m::config::DtlsCert;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::{AUDIO_BYTES, Participant, VIDEO_BYTES};

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// A Janus server's HTTP API.
#[derive(Clone)]
pub struct Janus {
    http: reqwest::Client,
    url: String,
    next: Arc<AtomicU64>,
}

/// One Janus session, with its long-poll task handing each asynchronous reply to its waiter.
pub struct Session {
    id: u64,
    waiters: Waiters,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Janus {
    pub fn new(url: &str) -> Janus {
        Janus {
            http: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_owned(),
            next: Arc::default(),
        }
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    async fn post(&self, path: &str, mut body: Value) -> Value {
        body["transaction"] = json!(self.transaction());
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("Janus answers");
        response.json().await.expect("JSON from Janus")
    }

    /// A new session and its event long-poll (which also keeps it alive).
    pub async fn session(&self) -> Session {
        let created = self.post("", json!({"janus": "create"})).await;
        let id = created["data"]["id"].as_u64().expect("a session id");
        let waiters: Waiters = Arc::default();
        let poll_url = format!("{}/{id}?maxev=20", self.url);
        let (http, to) = (self.http.clone(), waiters.clone());
        let poller = tokio::spawn(async move {
            loop {
                let Ok(response) = http.get(&poll_url).send().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(events) = response.json::<Value>().await else {
                    continue;
                };
                let events = match events {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                for event in events {
                    let Some(t) = event["transaction"].as_str() else {
                        continue;
                    };
                    if let Some(waiter) = to.lock().unwrap().remove(t) {
                        let _ = waiter.send(event);
                    }
                }
            }
        });
        Session {
            id,
            waiters,
            poller,
        }
    }

    pub async fn attach(&self, s: &Session) -> u64 {
        let attached = self
            .post(
                &format!("/{}", s.id),
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await;
        attached["data"]["id"].as_u64().expect("a handle id")
    }

    pub async fn detach(&self, s: &Session, handle: u64) {
        self.post(&format!("/{}/{handle}", s.id), json!({"janus": "detach"}))
            .await;
    }

    /// A plugin request; waits for the asynchronous reply when Janus only acknowledges it.
    pub async fn message(
        &self,
        s: &Session,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Value {
        let transaction = self.transaction();
        let (tx, rx) = oneshot::channel();
        s.waiters.lock().unwrap().insert(transaction.clone(), tx);
        let mut request = json!({"janus": "message", "body": body, "transaction": transaction});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let response: Value = self
            .http
            .post(format!("{}/{}/{handle}", self.url, s.id))
            .json(&request)
            .send()
            .await
            .expect("Janus answers")
            .json()
            .await
            .expect("JSON from Janus");
        if response["janus"] == "ack" {
            tokio::time::timeout(Duration::from_secs(10), rx)
                .await
                .expect("Janus replies within 10 s")
                .expect("the poller is alive")
        } else {
            s.waiters.lock().unwrap().remove(&transaction);
            response
        }
    }

    /// Creates a room for `publishers` people; returns its id. With `rec_dir`, the room's
    /// recordings (off until [`Janus::record`]) go there.
    pub async fn room(
        &self,
        s: &Session,
        handle: u64,
        publishers: usize,
        rec_dir: Option<&str>,
    ) -> u64 {
        let mut body = json!({"request": "create", "publishers": publishers, "bitrate": 2_000_000,
            "audiocodec": "opus", "videocodec": "vp8", "fir_freq": 10, "is_private": false});
        if let Some(dir) = rec_dir {
            body["rec_dir"] = json!(dir);
        }
        let created = self.message(s, handle, body, None).await;
        created["plugindata"]["data"]["room"]
            .as_u64()
            .expect("a room id")
    }

    /// Turns recording of every publisher of a room on or off (VideoRoom's `enable_recording`:
    /// each stream's RTP written to its own `.mjr` file, to be processed afterwards, as Huddle's
    /// raw files are). Returns the answer.
    pub async fn record(&self, s: &Session, handle: u64, room: u64, on: bool) -> Value {
        let body = json!({"request": "enable_recording", "room": room, "record": on});
        self.message(s, handle, body, None).await
    }
}

/// A publisher in a room: its session, and its feed id.
pub struct Publisher {
    pub feed: u64,
    /// Kept alive: its tasks send the media.
    _participant: Participant,
    _session: Session,
}

/// Publishes a synthetic participant's microphone and camera in `room`.
pub async fn publish(janus: &Janus, room: u64, index: u8, cert: &DtlsCert) -> Publisher {
    let session = janus.session().await;
    let handle = janus.attach(&session).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (mut media, offer) = Synthetic::publisher(
        index,
        socket.local_addr().unwrap(),
        Instant::now(),
        cert.clone(),
    );
    media.set_payload_sizes(AUDIO_BYTES, VIDEO_BYTES);
    let body = json!({"request": "joinandconfigure", "ptype": "publisher", "room": room, "display": format!("P{index}")});
    let jsep = json!({"type": "offer", "sdp": offer, "trickle": false});
    let joined = janus.message(&session, handle, body, Some(jsep)).await;
    let answer = joined["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no answer: {joined}"));
    media.answer(answer).unwrap();
    let feed = joined["plugindata"]["data"]["id"]
        .as_u64()
        .expect("a feed id");
    let media = Arc::new(Mutex::new(media));
    let participant = Participant {
        tasks: vec![tokio::spawn(drive(socket, media.clone()))],
        media,
    };
    // Janus knows a feed only once its PeerConnection is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while participant.media.lock().unwrap().connected == 0 {
        assert!(
            Instant::now() < deadline,
            "a Janus publisher never connected"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Publisher {
        feed,
        _participant: participant,
        _session: session,
    }
}

/// A subscription to some feeds of a room: a PeerConnection that Janus offers.
pub struct Subscription {
    pub participant: Participant,
    handle: u64,
}

/// Subscribes to `feeds` of `room` on a new handle of `session`.
pub async fn subscribe(
    janus: &Janus,
    session: &Session,
    room: u64,
    feeds: &[u64],
    index: u8,
    cert: &DtlsCert,
) -> Subscription {
    let handle = janus.attach(session).await;
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let body = json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams});
    let mut attached = janus.message(session, handle, body.clone(), None).await;
    // A feed whose media has just come up may not be announced yet (error 428): ask again.
    for _ in 0..50 {
        if attached["plugindata"]["data"]["error_code"] != 428 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        attached = janus.message(session, handle, body.clone(), None).await;
    }
    let offer = attached["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no offer: {attached}"));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (media, answer) = Synthetic::subscriber(
        index,
        socket.local_addr().unwrap(),
        Instant::now(),
        cert.clone(),
        offer,
    )
    .expect("Janus's offer is acceptable");
    let media = Arc::new(Mutex::new(media));
    let participant = Participant {
        tasks: vec![tokio::spawn(drive(socket, media.clone()))],
        media,
    };
    let jsep = json!({"type": "answer", "sdp": answer, "trickle": false});
    janus
        .message(session, handle, json!({"request": "start"}), Some(jsep))
        .await;
    Subscription {
        participant,
        handle,
    }
}

/// Leaves a subscription the way a client moving rooms does: leave, then detach.
pub async fn unsubscribe(janus: &Janus, session: &Session, sub: Subscription) {
    janus
        .message(session, sub.handle, json!({"request": "leave"}), None)
        .await;
    janus.detach(session, sub.handle).await;
}
