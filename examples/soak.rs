//! Soak benchmark (docs/benchmarks.md): N participants in main rooms of 500, each with 20 breakout
//! rooms, for a while with churn: every client connects, stays 20–120 s, disconnects, comes back
//! 1–5 s later resuming from the last `seq` it saw; each room's moderator starts a round, moves
//! people during it, stops it, and starts again. Every 10 s it records the server's resident
//! memory, open files, live tasks, room actors and WebSocket connections to a CSV file; at the end
//! it prints how the last quarter of the run compares with the second (after warm-up): flat is
//! what is asked. `bench/soak_plot.py` draws the curves from the CSV.
//!
//! `cargo run --release --example soak -- --participants 5000 --minutes 30 --csv bench/soak.csv`
//! (smoke: `cargo run --example soak -- --participants 200 --minutes 0.5 --sample-secs 5`). The
//! clients connect from 127.0.0.2, 127.0.0.3, … (200 each), as many people behind their own
//! addresses would, so the server's default per-address cap stays on.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{
    arg, call, huddle_binary, metric, moderator_token, open_files, rss_kib, serve_command, spawn,
};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const ROOM_SIZE: usize = 500;
const BREAKOUT_ROOMS: u32 = 20;
const PER_ADDRESS: usize = 200;

/// What the churn did, for the summary.
#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    frames: AtomicU64,
    failed_connects: AtomicU64,
    rounds: AtomicU64,
    moves: AtomicU64,
}

/// One client for the whole run: connect from `source`, read (noting the last `seq` of each
/// stream), leave after a while, come back resuming.
async fn client(
    ws_url: String,
    token: String,
    source: IpAddr,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let target: SocketAddr = ws_url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    // Arrivals spread over the first 30 s, as a class does.
    let arrival = rand::rng().random_range(0..30_000);
    tokio::time::sleep(Duration::from_millis(arrival)).await;
    while !stop.load(Ordering::Relaxed) {
        let resume: Vec<String> = seen.iter().map(|(s, q)| format!("{s}:{q}")).collect();
        let url = if resume.is_empty() {
            ws_url.clone()
        } else {
            format!("{ws_url}?resume={}", resume.join(","))
        };
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let connected = match socket.connect(target).await {
            Ok(stream) => {
                tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .ok()
            }
            Err(_) => None,
        };
        let Some((ws, _)) = connected else {
            counts.failed_connects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        };
        counts.connects.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = ws.split();
        let stay: u64 = rand::rng().random_range(20..120);
        let stay = Duration::from_secs(stay);
        let until = tokio::time::sleep(stay);
        tokio::pin!(until);
        loop {
            tokio::select! {
                () = &mut until => break,
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        counts.frames.fetch_add(1, Ordering::Relaxed);
                        if let Ok(v) = serde_json::from_str::<Value>(&text)
                            && let (Some(s), Some(q)) = (v["stream"].as_str(), v["seq"].as_u64())
                        {
                            seen.insert(s.to_owned(), q);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let away: u64 = rand::rng().random_range(1000..5000);
        tokio::time::sleep(Duration::from_millis(away)).await;
    }
}

/// One main room's moderator: rounds of 45 s with a move a second, 15 s between them.
async fn moderator(
    base: String,
    token: String,
    room: String,
    people: Vec<String>,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let http = reqwest::Client::new();
    let path = |tail: &str| format!("{base}/api/v1/rooms/{room}/breakout{tail}");
    let rooms: Vec<String> = {
        let view = call(&http, Some(&token), reqwest::Method::GET, path(""), None).await;
        view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    while !stop.load(Ordering::Relaxed) {
        call(
            &http,
            Some(&token),
            reqwest::Method::POST,
            path("/start"),
            None,
        )
        .await;
        counts.rounds.fetch_add(1, Ordering::Relaxed);
        for _ in 0..45 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (who, to) = {
                let mut rng = rand::rng();
                (
                    people[rng.random_range(0..people.len())].clone(),
                    rooms[rng.random_range(0..rooms.len())].clone(),
                )
            };
            let body = json!({"person_id": who, "breakout": to});
            let r = http
                .post(path("/move"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                counts.moves.fetch_add(1, Ordering::Relaxed);
            }
        }
        call(
            &http,
            Some(&token),
            reqwest::Method::POST,
            path("/stop"),
            None,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--participants").map_or(5000, |v| v.parse().unwrap());
    let minutes: f64 = arg(&args, "--minutes").map_or(30.0, |v| v.parse().unwrap());
    let sample =
        Duration::from_secs(arg(&args, "--sample-secs").map_or(10, |v| v.parse().unwrap()));
    let csv_path = arg(&args, "--csv").unwrap_or_else(|| "target/soak.csv".to_owned());
    let huddle = huddle_binary(&args);

    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_command(&huddle, dir.path(), "warn");
    command.args(["--max-body-bytes", "16000000"]);
    let (mut child, base) = spawn(command);
    let pid = child.id();
    let http = reqwest::Client::new();
    let token = moderator_token(&http, &base).await;
    let t = Some(token.as_str());
    let api = |path: &str| format!("{base}/api/v1{path}");

    // The participants, as a deployment provisions them: an import with API tokens.
    let mut tokens = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let accounts: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"email": format!("p{i}@soak.example"), "display_name": format!("Participant {i}")}))
            .collect();
        let imported = call(
            &http,
            t,
            reqwest::Method::POST,
            api("/accounts/import"),
            Some(json!({"accounts": accounts, "issue_tokens": true})),
        )
        .await;
        for a in imported["accounts"].as_array().unwrap() {
            tokens.push(a["token"].as_str().unwrap().to_owned());
            ids.push(a["id"].as_str().unwrap().to_owned());
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    for (k, people) in ids.chunks(ROOM_SIZE).enumerate() {
        let room = call(
            &http,
            t,
            reqwest::Method::POST,
            api("/rooms"),
            Some(json!({"name": format!("Soak {k}")})),
        )
        .await;
        let room = room["id"].as_str().unwrap().to_owned();
        call(
            &http,
            t,
            reqwest::Method::POST,
            api(&format!("/rooms/{room}/members")),
            Some(json!({"person_ids": people})),
        )
        .await;
        call(
            &http,
            t,
            reqwest::Method::PUT,
            api(&format!("/rooms/{room}/breakout")),
            Some(json!({"enabled": true, "mode": "automatic"})),
        )
        .await;
        call(
            &http,
            t,
            reqwest::Method::POST,
            api(&format!("/rooms/{room}/breakout/rooms")),
            Some(json!({"count": BREAKOUT_ROOMS})),
        )
        .await;
        tasks.push(tokio::spawn(moderator(
            base.clone(),
            token.clone(),
            room,
            people.to_vec(),
            stop.clone(),
            counts.clone(),
        )));
    }
    let ws_url = format!("{}/api/v1/events", base.replace("http://", "ws://"));
    for (i, token) in tokens.into_iter().enumerate() {
        let source = IpAddr::from([127, 0, 0, 2 + (i / PER_ADDRESS) as u8]);
        tasks.push(tokio::spawn(client(
            ws_url.clone(),
            token,
            source,
            stop.clone(),
            counts.clone(),
        )));
    }

    let mut csv = String::from("seconds,rss_kib,open_files,tasks,room_actors,ws_connections\n");
    let mut rows: Vec<[f64; 5]> = Vec::new();
    let start = Instant::now();
    let total = Duration::from_secs_f64(minutes * 60.0);
    while start.elapsed() < total {
        tokio::time::sleep(sample).await;
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let row = [
            rss_kib(pid) as f64,
            open_files(pid) as f64,
            metric(&text, "huddle_tasks"),
            metric(&text, "huddle_room_actors"),
            metric(&text, "huddle_ws_connections"),
        ];
        let secs = start.elapsed().as_secs();
        csv.push_str(&format!(
            "{secs},{},{},{},{},{}\n",
            row[0], row[1], row[2], row[3], row[4]
        ));
        println!(
            "{secs:>5} s  rss {:>8.0} KiB  files {:>6}  tasks {:>6}  actors {:>3}  ws {:>6}",
            row[0], row[1], row[2], row[3], row[4]
        );
        rows.push(row);
    }
    stop.store(true, Ordering::Relaxed);
    std::fs::write(&csv_path, &csv).unwrap();
    let _ = child.kill();
    let _ = child.wait();

    // Flat: the last quarter's mean against the second quarter's (the first is warm-up).
    let q = (rows.len() / 4).max(1);
    let mean = |from: usize, to: usize, c: usize| {
        let slice = &rows[from.min(rows.len())..to.min(rows.len())];
        slice.iter().map(|r| r[c]).sum::<f64>() / slice.len().max(1) as f64
    };
    println!("\n| | second quarter | last quarter | ratio |\n|---|---|---|---|");
    for (c, name) in [
        "RSS (KiB)",
        "open files",
        "tasks",
        "room actors",
        "WebSockets",
    ]
    .iter()
    .enumerate()
    {
        let (a, b) = (
            mean(q, 2 * q, c),
            mean(rows.len().saturating_sub(q), rows.len(), c),
        );
        println!("| {name} | {a:.0} | {b:.0} | {:.3} |", b / a);
    }
    println!(
        "\n{n} participants, {minutes} min: {} connects ({} failed), {} frames, {} rounds, {} moves; CSV in {csv_path}",
        counts.connects.load(Ordering::Relaxed),
        counts.failed_connects.load(Ordering::Relaxed),
        counts.frames.load(Ordering::Relaxed),
        counts.rounds.load(Ordering::Relaxed),
        counts.moves.load(Ordering::Relaxed),
    );
    for task in tasks {
        task.abort();
    }
}
