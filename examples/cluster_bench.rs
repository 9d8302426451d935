//! Cluster benchmarks (see docs/benchmarks.md, issue 13): real `huddle` nodes on a PostgreSQL
//! schema of their own and a `nats-server` on a free port.
//!
//! 1. **Failover**: two nodes; the node serving a room is killed with `SIGKILL` and a chat message
//!    is posted through the other at once; the time from the kill to the message's `201` is the
//!    failover time. The killed node is started again (same id) and the next round kills whichever
//!    node serves the room then. `--kills` rounds (default 10): median and max.
//! 2. **A call's failover**: two people connected to the node that does not serve a room are in
//!    its call, which runs on the serving node's media server; that node is killed. The time is
//!    from the kill until both hear each other again: the other node takes the room over, says
//!    the call moved, and they join anew there. `--call-kills` rounds (default 10).
//! 3. **The cost of the cluster on one room**: `--commands` sequential chat messages (default 300)
//!    timed from request to answer, on one node without a cluster (same PostgreSQL), on the node
//!    that serves the room in a cluster (its commits fenced), and through a node that forwards
//!    them to it over NATS. p50 and p99 of each.
//!
//! `cargo run --release --example cluster_bench -- --postgres postgres://postgres@127.0.0.1:5432/test`
//! (or `HUDDLE_TEST_POSTGRES`); `nats-server` must be on the PATH or in /usr/sbin.

use std::time::{Duration, Instant};

mod common;

use common::cluster::{Killed, drop_schemas, nats, node, schema};
use common::{arg, call, huddle_binary};
use huddle::media::synthetic::{Synthetic, drive};
use serde_json::json;

async fn post(http: &reqwest::Client, token: &str, base: &str, room: &str, text: &str) -> bool {
    http.post(format!("{base}/api/v1/rooms/{room}/messages"))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED)
}

/// Whether the node at `base` serves `room`, from `/healthz` as an administrator sees it.
async fn serves(http: &reqwest::Client, admin: &str, base: &str, room: &str) -> bool {
    let Ok(r) = http
        .get(format!("{base}/healthz"))
        .bearer_auth(admin)
        .send()
        .await
    else {
        return false;
    };
    let health: serde_json::Value = r.json().await.unwrap_or_default();
    health["cluster"]["rooms"]
        .as_array()
        .is_some_and(|rooms| rooms.iter().any(|r| r == room))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Two nodes of a cluster on a fresh schema and NATS server, with the benchmark's moderator and a
/// room created on the first node.
struct Pair {
    huddle: std::path::PathBuf,
    db: String,
    _nats: Killed,
    nats_url: String,
    data: tempfile::TempDir,
    nodes: Vec<(Killed, String)>,
    http: reqwest::Client,
    token: String,
    room: String,
}

const PAIR: [&str; 2] = ["node-a", "node-b"];

impl Pair {
    async fn start(huddle: &std::path::Path, base_db: &str, room_name: &str) -> Pair {
        let db = schema(base_db).await;
        let (nats, nats_url) = nats();
        let data = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let nodes: Vec<(Killed, String)> = PAIR
            .iter()
            .map(|id| node(huddle, &db, Some(&nats_url), id, data.path()))
            .collect();
        let token = common::moderator_token(&http, &nodes[0].1).await;
        let room = call(
            &http,
            Some(&token),
            reqwest::Method::POST,
            format!("{}/api/v1/rooms", nodes[0].1),
            Some(json!({ "name": room_name })),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        Pair {
            huddle: huddle.to_owned(),
            db,
            _nats: nats,
            nats_url,
            data,
            nodes,
            http,
            token,
            room,
        }
    }

    /// Which node serves the room now, if one does.
    async fn serving(&self) -> Option<usize> {
        let mut owner = None;
        for (i, (_, base)) in self.nodes.iter().enumerate() {
            if serves(&self.http, &self.token, base, &self.room).await {
                owner = Some(i);
            }
        }
        owner
    }

    /// Kills node `i` with SIGKILL and reaps it; the instant it was killed.
    fn kill(&mut self, i: usize) -> Instant {
        let killed = Instant::now();
        let _ = self.nodes[i].0.0.kill();
        let _ = self.nodes[i].0.0.wait();
        killed
    }

    /// Starts node `i` again (same id), and lets its heartbeat be seen.
    async fn restart(&mut self, i: usize) {
        self.nodes[i] = node(
            &self.huddle,
            &self.db,
            Some(&self.nats_url),
            PAIR[i],
            self.data.path(),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

async fn failover(huddle: &std::path::Path, base_db: &str, kills: usize) -> Vec<f64> {
    let mut pair = Pair::start(huddle, base_db, "Failover").await;
    let mut times = Vec::new();
    for round in 0..kills {
        // Whoever serves the room now is killed; the other takes the next command.
        let owner = pair.serving().await.expect("a node serves the room");
        let other_base = pair.nodes[1 - owner].1.clone();
        let killed = pair.kill(owner);
        let text = format!("round {round}");
        while !post(&pair.http, &pair.token, &other_base, &pair.room, &text).await {
            assert!(killed.elapsed() < Duration::from_secs(30), "no failover");
        }
        times.push(killed.elapsed().as_secs_f64() * 1000.0);
        pair.restart(owner).await;
    }
    times.sort_by(f64::total_cmp);
    times
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The event WebSocket of `token` on the node at `base`.
async fn websocket(base: &str, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/v1/events", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next frame of `kind` on `ws`; panics on a `call_error` or a closed socket.
async fn frame_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    use futures_util::StreamExt;
    loop {
        let text = match ws.next().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("the WebSocket ended before {kind}: {other:?}"),
        };
        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_ne!(frame["type"], "call_error", "{frame}");
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// A synthetic participant (`index`) joins the call of `room` over `ws`: its media, and the task
/// that drives it over UDP.
async fn join_call(
    ws: &mut Ws,
    room: &str,
    index: u8,
    cert: &str0m::config::DtlsCert,
) -> (
    std::sync::Arc<std::sync::Mutex<Synthetic>>,
    tokio::task::JoinHandle<()>,
) {
    use futures_util::SinkExt;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (media, offer) = Synthetic::new_over(
        str0m::net::Protocol::Udp,
        index,
        socket.local_addr().unwrap(),
        Instant::now(),
        3,
        3,
        cert.clone(),
    );
    let join =
        json!({"type": "call_join", "room": room, "sdp": offer, "mic": true, "camera": true});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        join.to_string().into(),
    ))
    .await
    .unwrap();
    let answer = frame_of(ws, "call_answer").await;
    let media = std::sync::Arc::new(std::sync::Mutex::new(media));
    media
        .lock()
        .unwrap()
        .answer(answer["sdp"].as_str().unwrap())
        .unwrap();
    let driver = tokio::spawn(drive(socket, media.clone()));
    (media, driver)
}

/// Whether `media` heard (audio) `sender` at or after `since`.
fn hears(media: &std::sync::Mutex<Synthetic>, sender: u8, since: Instant) -> bool {
    media
        .lock()
        .unwrap()
        .senders_since(since, false)
        .contains(&sender)
}

/// The call's failover: two nodes; two people connected to the node that does not serve the
/// room are in its call (on the serving node's media server). The serving node is killed; the
/// time is from the kill until both hear each other again, having joined the call anew on the
/// node that took the room over when it said the call moved. `kills` rounds, sorted ms.
async fn call_failover(huddle: &std::path::Path, base_db: &str, kills: usize) -> Vec<f64> {
    let mut pair = Pair::start(huddle, base_db, "Call failover").await;
    let (http, admin, room) = (pair.http.clone(), pair.token.clone(), pair.room.clone());
    let base = pair.nodes[0].1.clone();
    let mut tokens = vec![admin.clone()];
    let email = "second@bench.example";
    let account =
        json!({"email": email, "password": "benchmark password", "display_name": "Second"});
    call(
        &http,
        Some(&admin),
        reqwest::Method::POST,
        format!("{base}/api/v1/accounts"),
        Some(account),
    )
    .await;
    let member = json!({"email": email, "role": "participant"});
    call(
        &http,
        Some(&admin),
        reqwest::Method::POST,
        format!("{base}/api/v1/rooms/{room}/members"),
        Some(member),
    )
    .await;
    let login = json!({"email": email, "password": "benchmark password"});
    let session = call(
        &http,
        None,
        reqwest::Method::POST,
        format!("{base}/api/v1/session"),
        Some(login),
    )
    .await;
    tokens.push(session["token"].as_str().unwrap().to_owned());
    let cert = huddle::media::udp::certificate().unwrap();
    let mut times = Vec::new();
    for _ in 0..kills {
        let owner = pair.serving().await.expect("a node serves the room");
        let other = pair.nodes[1 - owner].1.clone();
        let mut people = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let mut ws = websocket(&other, token).await;
            let (media, driver) = join_call(&mut ws, &room, i as u8 + 1, &cert).await;
            people.push((ws, media, driver));
        }
        let start = Instant::now();
        while !(hears(&people[0].1, 2, start) && hears(&people[1].1, 1, start)) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the call never flowed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = pair.kill(owner);
        for (i, (ws, media, driver)) in people.iter_mut().enumerate() {
            loop {
                let ended = frame_of(ws, "call_ended").await;
                if ended["reason"] == "moved" && ended["call_id"].is_null() {
                    break;
                }
            }
            driver.abort();
            (*media, *driver) = join_call(ws, &room, i as u8 + 1, &cert).await;
        }
        while !(hears(&people[0].1, 2, killed) && hears(&people[1].1, 1, killed)) {
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "the call never came back"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(killed.elapsed().as_secs_f64() * 1000.0);
        for (_, _, driver) in &people {
            driver.abort();
        }
        drop(people);
        pair.restart(owner).await;
    }
    times.sort_by(f64::total_cmp);
    times
}

/// Sequential commands on `via`, answered by whichever node serves the room; sorted ms.
async fn latencies(
    http: &reqwest::Client,
    token: &str,
    via: &str,
    room: &str,
    n: usize,
) -> Vec<f64> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let began = Instant::now();
        assert!(post(http, token, via, room, &format!("message {i}")).await);
        ms.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

async fn cost(huddle: &std::path::Path, base_db: &str, n: usize) -> Vec<(&'static str, Vec<f64>)> {
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    // One node, no cluster, same PostgreSQL.
    {
        let db = schema(base_db).await;
        let data = tempfile::tempdir().unwrap();
        let (_single, base) = node(huddle, &db, None, "", data.path());
        let token = common::moderator_token(&http, &base).await;
        let room = call(
            &http,
            Some(&token),
            reqwest::Method::POST,
            format!("{base}/api/v1/rooms"),
            Some(json!({"name": "Single"})),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        latencies(&http, &token, &base, &room, 20).await;
        rows.push((
            "one node, no cluster",
            latencies(&http, &token, &base, &room, n).await,
        ));
    }
    let db = schema(base_db).await;
    let (_nats, nats_url) = nats();
    let data = tempfile::tempdir().unwrap();
    let (_a, a) = node(huddle, &db, Some(&nats_url), "node-a", data.path());
    let (_b, b) = node(huddle, &db, Some(&nats_url), "node-b", data.path());
    let token = common::moderator_token(&http, &a).await;
    let room = call(
        &http,
        Some(&token),
        reqwest::Method::POST,
        format!("{a}/api/v1/rooms"),
        Some(json!({"name": "Cluster"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    latencies(&http, &token, &a, &room, 20).await;
    rows.push((
        "cluster, on the owner (fenced commits)",
        latencies(&http, &token, &a, &room, n).await,
    ));
    latencies(&http, &token, &b, &room, 20).await;
    rows.push((
        "cluster, through another node (NATS)",
        latencies(&http, &token, &b, &room, n).await,
    ));
    rows
}

/// Prints one table of times over kills (sorted ms): median, max and each.
fn print_kills(what: &str, row: &str, times: &[f64]) {
    println!(
        "| {what} over {} kills | median (ms) | max (ms) | each (ms) |",
        times.len()
    );
    println!("|---|---:|---:|---|");
    let each: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    println!(
        "| {row} | {:.0} | {:.0} | {} |",
        percentile(times, 0.5),
        times.last().copied().unwrap_or_default(),
        each.join(", ")
    );
    println!();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base_db = arg(&args, "--postgres")
        .or_else(|| std::env::var("HUDDLE_TEST_POSTGRES").ok())
        .expect("--postgres URL or HUDDLE_TEST_POSTGRES");
    let kills: usize = arg(&args, "--kills").map_or(10, |k| k.parse().expect("--kills N"));
    let call_kills: usize =
        arg(&args, "--call-kills").map_or(10, |k| k.parse().expect("--call-kills N"));
    let commands: usize =
        arg(&args, "--commands").map_or(300, |k| k.parse().expect("--commands N"));
    let huddle = huddle_binary(&args);
    println!("cluster benchmark: Huddle at {}\n", huddle.display());

    let times = failover(&huddle, &base_db, kills).await;
    print_kills(
        "failover",
        "kill -9 of the serving node → first acknowledged command on the other",
        &times,
    );
    let calls = call_failover(&huddle, &base_db, call_kills).await;
    print_kills(
        "a call's failover",
        "kill -9 of the node running the call → both people hear each other again on the other",
        &calls,
    );
    let rows = cost(&huddle, &base_db, commands).await;
    drop_schemas(&base_db).await;
    println!("| {commands} sequential chat messages | p50 (ms) | p99 (ms) | p50 ratio |");
    println!("|---|---:|---:|---:|");
    let base = percentile(&rows[0].1, 0.5);
    for (name, ms) in &rows {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            percentile(ms, 0.5),
            percentile(ms, 0.99),
            percentile(ms, 0.5) / base
        );
    }
}
