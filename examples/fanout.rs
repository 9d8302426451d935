//! Fan-out benchmark (see docs/benchmarks.md): N WebSocket participants in one main room with R
//! breakout rooms on one Huddle process. For `start`, a broadcast and `stop` it measures, from the
//! moderator's request to each participant's event, p50/p99/max; the bytes each participant
//! received; and Huddle's memory per idle participant. In the same run it measures a bare axum
//! WebSocket fan-out of the same number of frames of the same size, and prints Huddle's p99 divided
//! by the bare one.
//!
//! Each phase runs `--rounds` times (default 3): the table shows, per phase, the round with the
//! median p99, and the ratio of the median p99s, because one sample on a shared machine is noise.
//!
//! `cargo run --release --example fanout -- --sizes 1000,5000,10000,19900`
//! (smoke: `cargo run --example fanout -- --sizes 200 --rooms 20 --rounds 1`). It starts the
//! `huddle` binary built beside it, and itself as the bare server (`fanout bare-server`).

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{arg, call, huddle_binary, moderator_token, rss_kib, serve_command, spawn};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const PHASES: usize = 3;
const PHASE_NAMES: [&str; PHASES] = ["start", "broadcast", "stop"];
/// The event each phase waits for at every participant.
const PHASE_EVENTS: [&str; PHASES] = [
    "\"type\":\"breakout_started\"",
    "\"type\":\"broadcast\"",
    "\"type\":\"breakout_stopped\"",
];

/// What the clients of one run record, per step (a step is one phase of one round): arrival
/// times (ns after `epoch`), how many arrived, and the bytes of each phase's frames.
struct Recorder {
    epoch: Instant,
    steps: usize,
    arrivals: Vec<AtomicU64>,
    received: Vec<AtomicUsize>,
    bytes: [AtomicU64; PHASES],
    step: AtomicUsize,
}

impl Recorder {
    fn new(n: usize, rounds: usize) -> Arc<Recorder> {
        let steps = rounds * PHASES;
        Arc::new(Recorder {
            epoch: Instant::now(),
            steps,
            arrivals: (0..n * steps).map(|_| AtomicU64::new(0)).collect(),
            received: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            bytes: Default::default(),
            step: AtomicUsize::new(0),
        })
    }

    fn record(&self, client: usize, step: usize, bytes: usize) {
        let slot = &self.arrivals[client * self.steps + step];
        if slot.load(Ordering::Relaxed) == 0 {
            slot.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
            self.received[step].fetch_add(1, Ordering::Relaxed);
            self.bytes[step % PHASES].fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Waits until every client has the step's event; returns the latencies from `sent`, sorted.
    async fn wait(&self, n: usize, step: usize, sent: Instant) -> Vec<f64> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.received[step].load(Ordering::Relaxed) < n {
            let got = self.received[step].load(Ordering::Relaxed);
            assert!(
                Instant::now() < deadline,
                "{}: only {got} of {n} arrived",
                PHASE_NAMES[step % PHASES]
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let base = sent.duration_since(self.epoch).as_nanos() as u64;
        let mut ms: Vec<f64> = (0..n)
            .map(|c| {
                (self.arrivals[c * self.steps + step]
                    .load(Ordering::Relaxed)
                    .saturating_sub(base)) as f64
                    / 1e6
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    }
}

#[derive(Clone, Copy, Default)]
struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
}

fn stats(sorted: &[f64]) -> Stats {
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        max: *sorted.last().unwrap_or(&0.0),
    }
}

/// The round whose p99 is the median of the rounds'.
fn median_round(rounds: &[Stats]) -> Stats {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(|a, b| a.p99.total_cmp(&b.p99));
    sorted[sorted.len() / 2]
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
}

/// Connects `n` clients to `url` (with the bearer tokens, if given), each recording the events
/// of the current step: for Huddle the step's event type, for the bare server every frame.
async fn connect_all(url: &str, tokens: &[String], n: usize, recorder: &Arc<Recorder>, bare: bool) {
    let gate = Arc::new(Semaphore::new(200));
    let mut joins = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = tokens.get(i) {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let recorder = recorder.clone();
        joins.push(tokio::spawn(async move {
            let (ws, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), true)
                    .await
                    .expect("connect");
            let (_sink, mut stream) = ws.split();
            if !bare {
                // Huddle says hello first; the connection counts as established after it.
                let _hello = stream.next().await;
            }
            drop(permit);
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    let step = recorder.step.load(Ordering::Relaxed);
                    if bare || text.contains(PHASE_EVENTS[step % PHASES]) {
                        recorder.record(i, step, text.len());
                    }
                }
            });
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
}

struct Measured {
    /// Per phase, one entry per round.
    phases: [Vec<Stats>; PHASES],
    bytes_per_client: [f64; PHASES],
    rss_per_client_kib: f64,
}

impl Measured {
    /// Stops the server and turns one run's records into figures, the same way for both servers.
    fn finish(
        mut child: Child,
        recorder: &Recorder,
        phases: [Vec<Stats>; PHASES],
        rss_before: u64,
        rss_after: u64,
    ) -> Measured {
        let _ = child.kill();
        let _ = child.wait();
        let n = recorder.arrivals.len() / recorder.steps;
        let rounds = recorder.steps / PHASES;
        Measured {
            phases,
            bytes_per_client: std::array::from_fn(|p| {
                recorder.bytes[p].load(Ordering::Relaxed) as f64 / (n * rounds) as f64
            }),
            rss_per_client_kib: rss_after.saturating_sub(rss_before) as f64 / n as f64,
        }
    }
}

async fn run_huddle(n: usize, rooms: u32, rounds: usize, huddle: &std::path::Path) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_command(huddle, dir.path(), "warn");
    command
        .args([
            "--max-body-bytes",
            "16000000",
            "--ws-queue-frames",
            "64",
            // Every client connects from 127.0.0.1: lift the per-address cap for this benchmark.
            "--max-connections-per-address",
            "0",
        ])
        .args(["--max-breakout-rooms", &rooms.max(1).to_string()]);
    let (child, base) = spawn(command);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1{path}");
    let token = moderator_token(&http, &base).await;
    let t = Some(token.as_str());

    // Seed the participants the way a deployment provisions a class: an import with API tokens.
    let mut tokens = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let accounts: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"email": format!("p{i}@bench.example"), "display_name": format!("Participant {i}")}))
            .collect();
        let body = json!({"accounts": accounts, "issue_tokens": true});
        let imported = call(
            &http,
            t,
            reqwest::Method::POST,
            api("/accounts/import"),
            Some(body),
        )
        .await;
        for a in imported["accounts"].as_array().unwrap() {
            tokens.push(a["token"].as_str().unwrap().to_owned());
            ids.push(a["id"].clone());
        }
    }
    let room = call(
        &http,
        t,
        reqwest::Method::POST,
        api("/rooms"),
        Some(json!({"name": "Bench"})),
    )
    .await;
    let room = room["id"].as_str().unwrap().to_owned();
    for chunk in ids.chunks(5000) {
        let body = json!({"person_ids": chunk});
        call(
            &http,
            t,
            reqwest::Method::POST,
            api(&format!("/rooms/{room}/members")),
            Some(body),
        )
        .await;
    }
    let b = api(&format!("/rooms/{room}/breakout"));
    call(
        &http,
        t,
        reqwest::Method::PUT,
        b.clone(),
        Some(json!({"enabled": true, "mode": "automatic"})),
    )
    .await;
    call(
        &http,
        t,
        reqwest::Method::POST,
        format!("{b}/rooms"),
        Some(json!({"count": rooms})),
    )
    .await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(child.id());
    let recorder = Recorder::new(n, rounds);
    let ws_url = format!("{}/api/v1/events", base.replace("http://", "ws://"));
    connect_all(&ws_url, &tokens, n, &recorder, false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(child.id());

    let mut phases: [Vec<Stats>; PHASES] = Default::default();
    let cta = json!({"label": "Open the form", "url": "https://example.org/form"});
    for round in 0..rounds {
        let commands = [
            (format!("{b}/start"), None),
            (
                format!("{b}/broadcast"),
                Some(json!({"text": "Five minutes left", "cta": cta})),
            ),
            (format!("{b}/stop"), None),
        ];
        for (phase, (url, body)) in commands.into_iter().enumerate() {
            let step = round * PHASES + phase;
            recorder.step.store(step, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent = Instant::now();
            call(&http, t, reqwest::Method::POST, url, body).await;
            phases[phase].push(stats(&recorder.wait(n, step, sent).await));
        }
    }
    Measured::finish(child, &recorder, phases, rss_before, rss_after)
}

/// The same number of frames, of the sizes Huddle sent per phase, on the bare server.
async fn run_bare(n: usize, rounds: usize, frame_bytes: [usize; PHASES]) -> Measured {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command.arg("bare-server");
    let (child, base) = spawn(command);
    let rss_before = rss_kib(child.id());
    let recorder = Recorder::new(n, rounds);
    connect_all(
        &format!("{}/ws", base.replace("http://", "ws://")),
        &[],
        n,
        &recorder,
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(child.id());
    let http = reqwest::Client::new();
    let mut phases: [Vec<Stats>; PHASES] = Default::default();
    for round in 0..rounds {
        for (phase, bytes) in frame_bytes.iter().enumerate() {
            let step = round * PHASES + phase;
            recorder.step.store(step, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent = Instant::now();
            let r = http
                .post(format!("{base}/fanout?bytes={bytes}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            phases[phase].push(stats(&recorder.wait(n, step, sent).await));
        }
    }
    Measured::finish(child, &recorder, phases, rss_before, rss_after)
}

/// The bare baseline: an axum WebSocket server that sends one frame to every connection when asked.
/// Same shape as Huddle's delivery (a bounded queue per connection, drained by its own task), none
/// of its work (no actor, no store, no filtering).
async fn bare_server() {
    use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
    use axum::extract::{Query, State};
    use axum::routing::{get, post};
    type Senders =
        Arc<std::sync::Mutex<Vec<tokio::sync::mpsc::Sender<axum::extract::ws::Utf8Bytes>>>>;
    let senders: Senders = Default::default();
    let app = axum::Router::new()
        .route(
            "/ws",
            get(|State(s): State<Senders>, ws: WebSocketUpgrade| async move {
                ws.read_buffer_size(4096).on_upgrade(move |socket| async move {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
                    s.lock().unwrap().push(tx);
                    let (mut sink, mut stream) = socket.split();
                    loop {
                        tokio::select! {
                            frame = rx.recv() => match frame {
                                Some(f) => if sink.send(AxMessage::Text(f)).await.is_err() { break },
                                None => break,
                            },
                            msg = stream.next() => if !matches!(msg, Some(Ok(_))) { break },
                        }
                    }
                })
            }),
        )
        .route(
            "/fanout",
            post(|State(s): State<Senders>, Query(q): Query<std::collections::HashMap<String, usize>>| async move {
                let size = q.get("bytes").copied().unwrap_or(200).max(2);
                let frame: axum::extract::ws::Utf8Bytes = format!("\"{}\"", "x".repeat(size - 2)).into();
                let began = Instant::now();
                for tx in s.lock().unwrap().iter() {
                    let _ = tx.try_send(frame.clone());
                }
                if std::env::var_os("FANOUT_TIMING").is_some() {
                    eprintln!("bare fan-out loop: {} us", began.elapsed().as_micros());
                }
            }),
        )
        .with_state(senders);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("bare server on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    if args.get(1).map(String::as_str) == Some("bare-server") {
        bare_server().await;
        return;
    }
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or_else(|| "10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes N,N,…"))
        .collect();
    let rooms: u32 = arg(&args, "--rooms").map_or(300, |r| r.parse().expect("--rooms N"));
    let rounds: usize = arg(&args, "--rounds").map_or(3, |r| r.parse().expect("--rounds N"));
    let huddle = huddle_binary(&args);
    println!(
        "fan-out benchmark: {rooms} rooms, {rounds} rounds, Huddle at {}\n",
        huddle.display()
    );
    println!(
        "| N | phase | Huddle p50 / p99 / max (ms) | bare p50 / p99 / max (ms) | p99 ratio | bytes per participant |"
    );
    println!("|---:|---|---|---|---:|---:|");
    let mut memory = Vec::new();
    for n in sizes {
        let h = run_huddle(n, rooms, rounds, &huddle).await;
        let sizes = h.bytes_per_client.map(|b| b.round().max(2.0) as usize);
        let bare = run_bare(n, rounds, sizes).await;
        for (p, name) in PHASE_NAMES.iter().enumerate() {
            let (a, b) = (median_round(&h.phases[p]), median_round(&bare.phases[p]));
            println!(
                "| {n} | {name} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {:.2} | {:.0} |",
                a.p50,
                a.p99,
                a.max,
                b.p50,
                b.p99,
                b.max,
                a.p99 / b.p99.max(0.001),
                h.bytes_per_client[p]
            );
        }
        memory.push((n, h.rss_per_client_kib, bare.rss_per_client_kib));
    }
    println!(
        "\n| N | Huddle RSS per idle participant (KiB) | bare RSS per idle connection (KiB) |"
    );
    println!("|---:|---:|---:|");
    for (n, h, b) in memory {
        println!("| {n} | {h:.1} | {b:.1} |");
    }
}

#[cfg(test)]
mod tests {
    use super::{Stats, median_round, stats};

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = stats(&sorted);
        assert_eq!((s.p50, s.p99, s.max), (100.0, 198.0, 200.0));
        let one = stats(&[7.0]);
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
    }

    #[test]
    fn the_median_round_is_picked_by_p99() {
        let r = |p99| Stats {
            p50: 1.0,
            p99,
            max: p99,
        };
        assert_eq!(median_round(&[r(30.0), r(10.0), r(20.0)]).p99, 20.0);
        assert_eq!(median_round(&[r(5.0)]).p99, 5.0);
    }
}
