//! Calls benchmark (see docs/benchmarks.md), with synthetic str0m participants over real UDP on
//! 127.0.0.1 against the `huddle` binary built beside it:
//!
//! 1. **Move → first frame**: a mover and two breakout rooms of three senders; the moderator moves
//!    the mover back and forth `--moves` times; for each move, the time from the `move` request to
//!    the first video keyframe and the first audio packet from the new room at the mover.
//! 2. **Forwarding**: `--rooms` rooms of six people, each sending Opus-sized audio (50 packets/s)
//!    and VP8-sized video (30 packets/s) for `--seconds`; packets forwarded per second of the
//!    server's CPU time (`/proc/PID/stat`), and the server's memory per person in a call. With
//!    `--layers 3` every camera goes in three simulcast layers (three times the video packets in,
//!    the same forwarded: nobody reports a tile size, so everyone gets the top layer).
//!
//!    With `--record`, then every room's call is recorded for `--seconds` more: the server's CPU
//!    while recording against the same rooms just before (forwarding alone), per recorded room,
//!    and the raw bytes written per room and minute.
//!
//! 3. **Reconnects that are not moves**: a listener among three senders (a) changes network
//!    `--moves` times: its UDP socket is gone and it restarts ICE from a new one on the same
//!    PeerConnection (`call_restart`); the time from the change to the first video keyframe and
//!    audio packet again; (b) loses and reopens its WebSocket `--moves` times while its media
//!    runs: the longest pause in the audio it receives across each reconnect.
//!
//! `cargo run --release --example calls_bench -- --moves 100 --rooms 10 --seconds 60`
//! (smoke: `cargo run --example calls_bench -- --moves 5 --rooms 2 --seconds 3`).
//!
//! With `--janus URL --janus-pid PID` (a Janus started by `bench/janus/start.sh`; `bench/calls.sh`
//! does it all) it measures Janus's VideoRoom in the same run with the same participants, moving
//! people the way the peers do (leave, subscribe again: a new PeerConnection), and prints the
//! ratios.

#[path = "../common/mod.rs"]
mod common;
mod janus;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    arg, call, cpu_seconds, huddle_binary, moderator_token, rss_kib, serve_command, spawn,
};
use futures_util::{SinkExt, StreamExt};
use huddle::media::synthetic::{Synthetic, drive};
use reqwest::Method;
use serde_json::{Value, json};
use str0m::config::DtlsCert;
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Payload bytes of a synthetic audio and video packet: about an Opus frame and a full video
/// packet.
const AUDIO_BYTES: usize = 120;
const VIDEO_BYTES: usize = 1000;
/// Receive slots each synthetic participant offers.
const SLOTS: usize = 6;

/// A synthetic participant driven over UDP by its own task.
struct Participant {
    media: Arc<Mutex<Synthetic>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Participant {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A participant and its socket, with the offer to send; its camera goes in `layers` simulcast
/// layers (the top one `VIDEO_BYTES` a packet, each lower one a quarter of the one above).
async fn participant(
    index: u8,
    cert: &DtlsCert,
    layers: usize,
) -> (Participant, String, UdpSocket) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (mut media, offer) = Synthetic::new_simulcast(
        index,
        addr,
        Instant::now(),
        (SLOTS, SLOTS),
        layers,
        cert.clone(),
    );
    media.set_payload_sizes(AUDIO_BYTES, VIDEO_BYTES);
    let p = Participant {
        media: Arc::new(Mutex::new(media)),
        tasks: Vec::new(),
    };
    (p, offer, socket)
}

/// Huddle: joins the call of `main` over the event WebSocket.
async fn huddle_join(
    ws_url: &str,
    token: &str,
    main: &str,
    (index, layers): (u8, usize),
    cert: &DtlsCert,
) -> Participant {
    let mut ws = websocket(ws_url, token).await;
    let (mut p, offer, socket) = participant(index, cert, layers).await;
    let join =
        json!({"type": "call_join", "room": main, "sdp": offer, "mic": true, "camera": true});
    // `answer` skips the server's pings, which may come at any moment after the connect.
    let sdp = answer(&mut ws, join).await;
    p.media.lock().unwrap().answer(&sdp).unwrap();
    // Keep reading the WebSocket (call_state frames), so the server never has to resync it.
    p.tasks.push(tokio::spawn(async move {
        while let Some(Ok(_)) = ws.next().await {}
    }));
    p.tasks.push(tokio::spawn(drive(socket, p.media.clone())));
    p
}

/// Waits until every participant receives exactly its expected senders (audio and video) over
/// half a second; false after `limit`.
async fn settled(people: &[&Participant], expected: &[BTreeSet<u8>], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ok = people.iter().zip(expected).all(|(p, want)| {
            let m = p.media.lock().unwrap();
            &m.senders_since(since, false) == want && &m.senders_since(since, true) == want
        });
        if ok {
            return true;
        }
        if Instant::now() >= deadline {
            for (i, (p, want)) in people.iter().zip(expected).enumerate() {
                let m = p.media.lock().unwrap();
                let (a, v) = (m.senders_since(since, false), m.senders_since(since, true));
                if &a != want || &v != want {
                    eprintln!("participant {i}: heard {a:?}, saw {v:?}, expected {want:?}");
                }
            }
        }
    }
    false
}

/// The first packet from one of `senders` on a video (or audio) slot at or after `t0`.
fn first_from(
    p: &Participant,
    senders: &BTreeSet<u8>,
    video: bool,
    t0: Instant,
) -> Option<Duration> {
    let m = p.media.lock().unwrap();
    m.slots_of(video)
        .filter_map(|mid| m.got.get(mid))
        .flatten()
        .filter(|g| g.at >= t0 && senders.contains(&g.sender) && (!video || g.keyframe))
        .map(|g| g.at - t0)
        .min()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/api/v1{path}", self.base);
        call(&self.http, Some(&self.token), method, url, body).await
    }
}

/// Sets up the administrator and `n` accounts with API tokens; returns the API and (id, token)s.
async fn provision(base: &str, n: usize) -> (Api, Vec<(String, String)>) {
    let http = reqwest::Client::new();
    let token = moderator_token(&http, base).await;
    let api = Api {
        http,
        base: base.to_owned(),
        token,
    };
    let accounts: Vec<Value> = (0..n)
        .map(|i| json!({"email": format!("p{i}@bench.example"), "display_name": format!("P{i}")}))
        .collect();
    let imported = api
        .call(
            Method::POST,
            "/accounts/import",
            Some(json!({"accounts": accounts, "issue_tokens": true})),
        )
        .await;
    let people = imported["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (api, people)
}

/// A main room with these members; returns its id.
async fn room(api: &Api, name: &str, members: &[(String, String)]) -> String {
    let room = api
        .call(Method::POST, "/rooms", Some(json!({"name": name})))
        .await;
    let id = room["id"].as_str().unwrap().to_owned();
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    api.call(
        Method::POST,
        &format!("/rooms/{id}/members"),
        Some(json!({"person_ids": ids})),
    )
    .await;
    id
}

/// Waits (up to 20 s) until the mover receives exactly `senders`.
async fn expect_senders(p: &Participant, senders: &BTreeSet<u8>, what: &str) {
    let ok = settled(&[p], std::slice::from_ref(senders), Duration::from_secs(20)).await;
    assert!(ok, "{what} never received its first room");
}

/// The time from `t0` to the first video keyframe and the first audio packet from one of
/// `senders` at `p`, in milliseconds; `None` if either took over 5 s.
async fn first_frames(p: &Participant, senders: &BTreeSet<u8>, t0: Instant) -> Option<(f64, f64)> {
    let deadline = t0 + Duration::from_secs(5);
    let (mut video, mut audio) = (None, None);
    while (video.is_none() || audio.is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
        video = video.or_else(|| first_from(p, senders, true, t0));
        audio = audio.or_else(|| first_from(p, senders, false, t0));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Some((ms(video?), ms(audio?)))
}

/// Counts (and forgets) what the receivers get during `seconds`; returns the count and the
/// time it took.
async fn count_received(receivers: &[&Participant], seconds: u64) -> (u64, Duration) {
    for p in receivers {
        p.media.lock().unwrap().got.clear();
    }
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(seconds);
    let mut received = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500).min(end - Instant::now())).await;
        for p in receivers {
            let mut m = p.media.lock().unwrap();
            received += m.got.values().map(|v| v.len() as u64).sum::<u64>();
            m.got.clear();
        }
    }
    (received, t0.elapsed())
}

#[derive(Default)]
struct MoveFigures {
    video: Vec<f64>,
    audio: Vec<f64>,
    missed: usize,
}

impl MoveFigures {
    fn add(&mut self, frames: Option<(f64, f64)>) {
        match frames {
            Some((video, audio)) => {
                self.video.push(video);
                self.audio.push(audio);
            }
            None => self.missed += 1,
        }
    }
}

/// Part 1 on Huddle: the mover (index 0) between Red (1, 2, 3) and Blue (4, 5, 6).
async fn huddle_moves(
    api: &Api,
    people: &[(String, String)],
    ws_url: &str,
    moves: usize,
    cert: &DtlsCert,
) -> MoveFigures {
    let main = room(api, "Moves", people).await;
    let b = |tail: &str| format!("/rooms/{main}/breakout{tail}");
    api.call(
        Method::PUT,
        &b(""),
        Some(json!({"enabled": true, "mode": "manual"})),
    )
    .await;
    let rooms = api
        .call(
            Method::POST,
            &b("/rooms"),
            Some(json!({"names": ["Red", "Blue"]})),
        )
        .await;
    let red = rooms["rooms"][0]["id"].as_str().unwrap().to_owned();
    let blue = rooms["rooms"][1]["id"].as_str().unwrap().to_owned();
    for (i, (id, _)) in people.iter().enumerate() {
        let to = if i <= 3 { &red } else { &blue };
        api.call(
            Method::PUT,
            &b(&format!("/assignments/{id}")),
            Some(json!({"breakout": to})),
        )
        .await;
    }
    api.call(Method::POST, &b("/start"), None).await;
    let mut joined = Vec::new();
    for (i, (_, token)) in people.iter().enumerate() {
        joined.push(huddle_join(ws_url, token, &main, (i as u8, 1), cert).await);
    }
    let red_senders: BTreeSet<u8> = [1, 2, 3].into();
    let blue_senders: BTreeSet<u8> = [4, 5, 6].into();
    let mover = &joined[0];
    expect_senders(mover, &red_senders, "the mover").await;
    let mut figures = MoveFigures::default();
    for i in 0..moves {
        let (to, senders) = if i % 2 == 0 {
            (&blue, &blue_senders)
        } else {
            (&red, &red_senders)
        };
        let t0 = Instant::now();
        api.call(
            Method::POST,
            &b("/move"),
            Some(json!({"person_id": people[0].0, "breakout": to})),
        )
        .await;
        figures.add(first_frames(mover, senders, t0).await);
        mover.media.lock().unwrap().got.clear();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    figures
}

struct ForwardFigures {
    people: usize,
    seconds: f64,
    forwarded: f64,
    cpu: f64,
    received: u64,
    rss_per_peer_kib: f64,
    /// With `--record`: the same rooms recorded.
    recorded: Option<RecordFigures>,
}

/// Recording every room of the forwarding measurement.
struct RecordFigures {
    rooms: usize,
    seconds: f64,
    cpu: f64,
    bytes: u64,
}

/// Bytes of the files under `dir`, recursively.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends a call message and returns the SDP of the `call_answer` that follows.
async fn answer(ws: &mut Ws, message: Value) -> String {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("the WebSocket ended before the answer: {other:?}"),
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(frame["type"], "call_error", "{frame}");
        if frame["type"] == "call_answer" {
            return frame["sdp"].as_str().unwrap().to_owned();
        }
    }
}

/// Opens the event WebSocket with `token`.
async fn websocket(ws_url: &str, token: &str) -> Ws {
    let mut request = ws_url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Part 3 on Huddle: a listener (index 0) in a room with senders 1, 2 and 3; returns the network
/// changes (first keyframe and audio after each) and the longest audio pause across each
/// WebSocket reconnect, in milliseconds.
async fn huddle_reconnects(
    api: &Api,
    people: &[(String, String)],
    ws_url: &str,
    times: usize,
    cert: &DtlsCert,
) -> (MoveFigures, Vec<f64>) {
    let main = room(api, "Reconnects", people).await;
    let mut senders = Vec::new();
    for (i, (_, token)) in people.iter().enumerate().skip(1) {
        senders.push(huddle_join(ws_url, token, &main, (i as u8, 1), cert).await);
    }
    // The listener keeps its WebSocket in hand: it sends the restarts.
    let mut ws = websocket(ws_url, &people[0].1).await;
    let (listener, offer, socket) = participant(0, cert, 1).await;
    let join =
        json!({"type": "call_join", "room": main, "sdp": offer, "mic": true, "camera": true});
    let sdp = answer(&mut ws, join).await;
    listener.media.lock().unwrap().answer(&sdp).unwrap();
    let mut driver = tokio::spawn(drive(socket, listener.media.clone()));
    let everyone: BTreeSet<u8> = [1, 2, 3].into();
    expect_senders(&listener, &everyone, "the listener").await;

    let mut changes = MoveFigures::default();
    for _ in 0..times {
        // The network changes: the old socket is gone at t0.
        driver.abort();
        let t0 = Instant::now();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let offer = listener
            .media
            .lock()
            .unwrap()
            .restart(socket.local_addr().unwrap());
        let restart = json!({"type": "call_restart", "room": main, "sdp": offer});
        let sdp = answer(&mut ws, restart).await;
        listener.media.lock().unwrap().answer(&sdp).unwrap();
        driver = tokio::spawn(drive(socket, listener.media.clone()));
        changes.add(first_frames(&listener, &everyone, t0).await);
        listener.media.lock().unwrap().got.clear();
        // Apart by more than the server's keyframe-request throttle (300 ms per source), which
        // would otherwise make a restart wait for the next periodic keyframe.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    // The WebSocket drops and comes back; the media must not notice.
    let mut pauses = Vec::new();
    for _ in 0..times {
        listener.media.lock().unwrap().got.clear();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(ws);
        ws = websocket(ws_url, &people[0].1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let m = listener.media.lock().unwrap();
        let mut arrivals: Vec<Instant> = m
            .slots_of(false)
            .filter_map(|mid| m.got.get(mid))
            .flatten()
            .map(|g| g.at)
            .collect();
        arrivals.sort();
        let longest = arrivals
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(Duration::from_secs(1));
        pauses.push(longest.as_secs_f64() * 1000.0);
    }
    driver.abort();
    drop(senders);
    (changes, pauses)
}

/// Part 2 on Huddle: `rooms` main rooms of six, everyone sending.
async fn huddle_forwarding(
    api: &Api,
    people: &[(String, String)],
    ws_url: &str,
    (rooms, seconds, layers): (usize, u64, usize),
    pid: u32,
    cert: &DtlsCert,
    record: Option<&std::path::Path>,
) -> ForwardFigures {
    let rss_before = rss_kib(pid);
    let mut joined = Vec::new();
    let mut expected = Vec::new();
    let mut mains = Vec::new();
    for r in 0..rooms {
        let group = &people[r * 6..r * 6 + 6];
        let main = room(api, &format!("Room {r}"), group).await;
        mains.push(main.clone());
        for (i, (_, token)) in group.iter().enumerate() {
            joined.push(huddle_join(ws_url, token, &main, (i as u8, layers), cert).await);
            expected.push((0..6u8).filter(|j| *j != i as u8).collect::<BTreeSet<u8>>());
        }
    }
    let refs: Vec<&Participant> = joined.iter().collect();
    let ok = settled(&refs, &expected, Duration::from_secs(30)).await;
    assert!(
        ok,
        "not everyone received their room before the measurement"
    );
    let rss_after = rss_kib(pid);
    let metrics = |api: &Api| {
        let url = format!("{}/metrics", api.base);
        let http = api.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (f0, c0) = (
        metric(&metrics(api).await, "huddle_media_packets_forwarded_total"),
        cpu_seconds(pid),
    );
    let (received, took) = count_received(&refs, seconds).await;
    let (f1, c1) = (
        metric(&metrics(api).await, "huddle_media_packets_forwarded_total"),
        cpu_seconds(pid),
    );
    let recorded = match record {
        Some(data_dir) => {
            for main in &mains {
                api.call(Method::POST, &format!("/rooms/{main}/recording"), None)
                    .await;
            }
            // Every file open (the cameras' first keyframes) before measuring.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let dir = data_dir.join("recordings");
            let (b0, r0) = (tree_bytes(&dir), cpu_seconds(pid));
            let (_, took) = count_received(&refs, seconds).await;
            let (b1, r1) = (tree_bytes(&dir), cpu_seconds(pid));
            for main in &mains {
                api.call(Method::DELETE, &format!("/rooms/{main}/recording"), None)
                    .await;
            }
            Some(RecordFigures {
                rooms: mains.len(),
                seconds: took.as_secs_f64(),
                cpu: r1 - r0,
                bytes: b1.saturating_sub(b0),
            })
        }
        None => None,
    };
    ForwardFigures {
        people: joined.len(),
        seconds: took.as_secs_f64(),
        forwarded: f1 - f0,
        cpu: c1 - c0,
        received,
        rss_per_peer_kib: rss_after.saturating_sub(rss_before) as f64 / joined.len() as f64,
        recorded,
    }
}

/// Part 1 on Janus: the mover subscribes to Red's three feeds, then Blue's, and so on.
async fn janus_moves(janus: &janus::Janus, moves: usize, cert: &DtlsCert) -> MoveFigures {
    let admin = janus.session().await;
    let handle = janus.attach(&admin).await;
    let red = janus.room(&admin, handle, 10, None).await;
    let blue = janus.room(&admin, handle, 10, None).await;
    let mut publishers = Vec::new();
    for i in 1..=6u8 {
        publishers.push(janus::publish(janus, if i <= 3 { red } else { blue }, i, cert).await);
    }
    let red_feeds: Vec<u64> = publishers[..3].iter().map(|p| p.feed).collect();
    let blue_feeds: Vec<u64> = publishers[3..].iter().map(|p| p.feed).collect();
    let red_senders: BTreeSet<u8> = [1, 2, 3].into();
    let blue_senders: BTreeSet<u8> = [4, 5, 6].into();
    let session = janus.session().await;
    let mut sub = janus::subscribe(janus, &session, red, &red_feeds, 0, cert).await;
    expect_senders(&sub.participant, &red_senders, "the Janus subscriber").await;
    let mut figures = MoveFigures::default();
    for i in 0..moves {
        let (room, feeds, senders) = if i % 2 == 0 {
            (blue, &blue_feeds, &blue_senders)
        } else {
            (red, &red_feeds, &red_senders)
        };
        let t0 = Instant::now();
        janus::unsubscribe(janus, &session, sub).await;
        sub = janus::subscribe(janus, &session, room, feeds, 0, cert).await;
        figures.add(first_frames(&sub.participant, senders, t0).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    janus::unsubscribe(janus, &session, sub).await;
    figures
}

/// Part 2 on Janus: `rooms` rooms of six, each person publishing and subscribing to the other
/// five feeds; what Janus forwards is what the subscribers receive.
async fn janus_forwarding(
    janus: &janus::Janus,
    rooms: usize,
    seconds: u64,
    pid: u32,
    cert: &DtlsCert,
    record: Option<&std::path::Path>,
) -> ForwardFigures {
    let rss_before = rss_kib(pid);
    let admin = janus.session().await;
    let handle = janus.attach(&admin).await;
    let mut publishers = Vec::new();
    let mut subscriptions = Vec::new();
    let mut expected = Vec::new();
    let session = janus.session().await;
    let rec_dir = record.map(|d| d.display().to_string());
    let mut ids = Vec::new();
    for _ in 0..rooms {
        let room = janus.room(&admin, handle, 10, rec_dir.as_deref()).await;
        ids.push(room);
        let mut group = Vec::new();
        for i in 0..6u8 {
            group.push(janus::publish(janus, room, i, cert).await);
        }
        for i in 0..6u8 {
            let others: Vec<u64> = group
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i as usize)
                .map(|(_, p)| p.feed)
                .collect();
            subscriptions.push(janus::subscribe(janus, &session, room, &others, i, cert).await);
            expected.push((0..6u8).filter(|j| *j != i).collect::<BTreeSet<u8>>());
        }
        publishers.extend(group);
    }
    let refs: Vec<&Participant> = subscriptions.iter().map(|s| &s.participant).collect();
    assert!(
        settled(&refs, &expected, Duration::from_secs(30)).await,
        "not every Janus subscriber received its room before the measurement"
    );
    let rss_after = rss_kib(pid);
    let c0 = cpu_seconds(pid);
    let (received, took) = count_received(&refs, seconds).await;
    let c1 = cpu_seconds(pid);
    let recorded = match record {
        Some(dir) => {
            for room in &ids {
                let answer = janus.record(&admin, handle, *room, true).await;
                assert!(
                    answer["plugindata"]["data"]["error"].is_null(),
                    "Janus refused to record: {answer}"
                );
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let (b0, r0) = (tree_bytes(dir), cpu_seconds(pid));
            let (_, took) = count_received(&refs, seconds).await;
            let (b1, r1) = (tree_bytes(dir), cpu_seconds(pid));
            for room in &ids {
                janus.record(&admin, handle, *room, false).await;
            }
            Some(RecordFigures {
                rooms: ids.len(),
                seconds: took.as_secs_f64(),
                cpu: r1 - r0,
                bytes: b1.saturating_sub(b0),
            })
        }
        None => None,
    };
    ForwardFigures {
        people: publishers.len(),
        seconds: took.as_secs_f64(),
        forwarded: received as f64,
        cpu: c1 - c0,
        received,
        rss_per_peer_kib: rss_after.saturating_sub(rss_before) as f64 / publishers.len() as f64,
        recorded,
    }
}

fn report(name: &str, moves: &MoveFigures, fwd: &ForwardFigures) -> (f64, f64) {
    let mut v = moves.video.clone();
    let mut a = moves.audio.clone();
    v.sort_by(f64::total_cmp);
    a.sort_by(f64::total_cmp);
    println!("## {name}\n");
    println!("| move → first | n | p50 ms | p95 ms | p99 ms | max ms | missed |");
    println!("|---|---|---|---|---|---|---|");
    for (what, s) in [("video keyframe", &v), ("audio", &a)] {
        println!(
            "| {what} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            s.len(),
            percentile(s, 0.5),
            percentile(s, 0.95),
            percentile(s, 0.99),
            s.last().copied().unwrap_or(f64::NAN),
            moves.missed
        );
    }
    let per_core = fwd.forwarded / fwd.cpu.max(1e-9);
    println!(
        "\n| forwarding | people | seconds | forwarded packets/s | server CPU (cores) | packets/s per core | received/forwarded | memory per person |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {name} | {} | {:.1} | {:.0} | {:.2} | {:.0} | {:.3} | {:.0} KiB |\n",
        fwd.people,
        fwd.seconds,
        fwd.forwarded / fwd.seconds,
        fwd.cpu / fwd.seconds,
        per_core,
        fwd.received as f64 / fwd.forwarded.max(1.0),
        fwd.rss_per_peer_kib
    );
    if let Some(r) = &fwd.recorded {
        let base = fwd.cpu / fwd.seconds;
        let with = r.cpu / r.seconds;
        println!(
            "| recording | rooms | seconds | server CPU forwarding alone (cores) | recording too (cores) | CPU per recorded room (% of a core) | ratio | raw files per room-minute |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| {name} | {} | {:.1} | {base:.3} | {with:.3} | {:.2} % | {:.3} | {:.2} MB |\n",
            r.rooms,
            r.seconds,
            (with - base) / r.rooms as f64 * 100.0,
            with / base.max(1e-9),
            r.bytes as f64 / 1e6 / r.rooms as f64 / (r.seconds / 60.0)
        );
    }
    (percentile(&v, 0.95), per_core)
}

fn report_reconnects(changes: &MoveFigures, pauses: &[f64]) {
    let sorted = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    println!("| reconnect (Huddle) | n | p50 ms | p95 ms | max ms | missed |");
    println!("|---|---|---|---|---|---|");
    let rows = [
        (
            "network change → first video keyframe",
            sorted(&changes.video),
            changes.missed,
        ),
        (
            "network change → first audio",
            sorted(&changes.audio),
            changes.missed,
        ),
        (
            "WebSocket reconnect: longest audio pause",
            sorted(pauses),
            0,
        ),
    ];
    for (what, v, missed) in rows {
        println!(
            "| {what} | {} | {:.1} | {:.1} | {:.1} | {missed} |",
            v.len(),
            percentile(&v, 0.5),
            percentile(&v, 0.95),
            v.last().copied().unwrap_or(f64::NAN),
        );
    }
    println!();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let moves: usize = arg(&args, "--moves").map_or(100, |v| v.parse().unwrap());
    let rooms: usize = arg(&args, "--rooms").map_or(10, |v| v.parse().unwrap());
    let seconds: u64 = arg(&args, "--seconds").map_or(60, |v| v.parse().unwrap());
    let layers: usize = arg(&args, "--layers").map_or(1, |v| v.parse().unwrap());
    assert!((1..=3).contains(&layers), "--layers: 1 to 3");
    assert!(rooms * 6 + 7 < 250, "--rooms: at most 40");
    let huddle = huddle_binary(&args);
    let cert = huddle::media::udp::certificate().expect("a DTLS certificate");
    println!(
        "calls benchmark: {moves} moves, {rooms} rooms of 6 for {seconds} s, cameras in {layers} layer(s), Huddle at {}\n",
        huddle.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let command = serve_command(&huddle, dir.path(), "warn,str0m=error,dimpl=error");
    let (child, base) = spawn(command);
    let pid = child.id();
    // The server goes with the benchmark, even when a measurement panics.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Reap(child);
    let ws_url = format!("{}/api/v1/events", base.replace("http://", "ws://"));
    let (api, people) = provision(&base, 7 + rooms * 6).await;
    let moved = huddle_moves(&api, &people[..7], &ws_url, moves, &cert).await;
    let (changes, pauses) = huddle_reconnects(&api, &people[..4], &ws_url, moves, &cert).await;
    let shape = (rooms, seconds, layers);
    let record = args.iter().any(|a| a == "--record").then_some(dir.path());
    let forwarded = huddle_forwarding(&api, &people[7..], &ws_url, shape, pid, &cert, record).await;
    let huddle_recording = forwarded
        .recorded
        .as_ref()
        .map(|r| (r.cpu / r.seconds - forwarded.cpu / forwarded.seconds) / r.rooms as f64);
    drop(server);
    let (huddle_p95, huddle_per_core) = report("Huddle", &moved, &forwarded);
    report_reconnects(&changes, &pauses);
    let huddle_p99 = {
        let mut v = moved.video.clone();
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.99)
    };

    if let (Some(url), Some(pid)) = (arg(&args, "--janus"), arg(&args, "--janus-pid")) {
        let janus = janus::Janus::new(&url);
        let pid: u32 = pid.parse().expect("--janus-pid PID");
        let moved = janus_moves(&janus, moves, &cert).await;
        let janus_rec = tempfile::tempdir().unwrap();
        let record = record.map(|_| janus_rec.path());
        let forwarded = janus_forwarding(&janus, rooms, seconds, pid, &cert, record).await;
        let janus_recording = forwarded
            .recorded
            .as_ref()
            .map(|r| (r.cpu / r.seconds - forwarded.cpu / forwarded.seconds) / r.rooms as f64);
        let (janus_p95, janus_per_core) = report(
            "Janus VideoRoom (leave and subscribe again)",
            &moved,
            &forwarded,
        );
        println!("| comparison | Huddle | Janus | ratio |");
        println!("|---|---|---|---|");
        println!(
            "| move → first video keyframe, Huddle p99 against Janus p95 (ms) | {huddle_p99:.1} | {janus_p95:.1} | {:.3} |",
            huddle_p99 / janus_p95
        );
        println!(
            "| move → first video keyframe, p95 (ms) | {huddle_p95:.1} | {janus_p95:.1} | {:.3} |",
            huddle_p95 / janus_p95
        );
        println!(
            "| forwarded packets/s per core | {huddle_per_core:.0} | {janus_per_core:.0} | {:.2} |",
            huddle_per_core / janus_per_core
        );
        if let (Some(h), Some(j)) = (huddle_recording, janus_recording) {
            // Janus only dumps packets while recording; its cost can be below the noise.
            let ratio = if j > 0.0 {
                format!("{:.2}", h / j)
            } else {
                "–".to_owned()
            };
            println!(
                "| CPU per recorded room of 6 (% of a core) | {:.2} | {:.2} | {ratio} |",
                h * 100.0,
                j * 100.0,
            );
        }
    }
}
