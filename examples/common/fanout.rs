//! What the fan-out benchmarks share (`fanout` on one node, `cluster_fanout` over several): the
//! phases they time, the clients that record when each phase's event arrives, the figures made of
//! those arrivals, and the bare WebSocket server they are compared with.
//!
//! Arrival times are wall-clock nanoseconds, so that a benchmark whose clients live in several
//! processes on the same machine can compare them with the instant it sent the command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::call;

pub const PHASES: usize = 3;
pub const PHASE_NAMES: [&str; PHASES] = ["start", "broadcast", "stop"];
/// The event each phase waits for at every participant.
pub const PHASE_EVENTS: [&str; PHASES] = [
    "\"type\":\"breakout_started\"",
    "\"type\":\"broadcast\"",
    "\"type\":\"breakout_stopped\"",
];

/// Sets up, through the server at `base` as the moderator `token`, a main room of `n` imported
/// participants (each with an API token: the way a deployment provisions a class) with `rooms`
/// automatic breakout rooms. Returns the participants' tokens and the room's breakout URL.
pub async fn seed_room(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
    rooms: u32,
) -> (Vec<String>, String) {
    let api = |path: &str| format!("{base}/api/v1{path}");
    let t = Some(token);
    let post = reqwest::Method::POST;
    let mut tokens = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let accounts: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"email": format!("p{i}@bench.example"), "display_name": format!("Participant {i}")}))
            .collect();
        let body = json!({"accounts": accounts, "issue_tokens": true});
        let imported = call(http, t, post.clone(), api("/accounts/import"), Some(body)).await;
        for a in imported["accounts"].as_array().unwrap() {
            tokens.push(a["token"].as_str().unwrap().to_owned());
            ids.push(a["id"].clone());
        }
    }
    let room = call(
        http,
        t,
        post.clone(),
        api("/rooms"),
        Some(json!({"name": "Bench"})),
    )
    .await;
    let room = room["id"].as_str().unwrap().to_owned();
    for chunk in ids.chunks(5000) {
        let members = api(&format!("/rooms/{room}/members"));
        call(
            http,
            t,
            post.clone(),
            members,
            Some(json!({"person_ids": chunk})),
        )
        .await;
    }
    let b = api(&format!("/rooms/{room}/breakout"));
    let settings = json!({"enabled": true, "mode": "automatic"});
    call(http, t, reqwest::Method::PUT, b.clone(), Some(settings)).await;
    let count = json!({"count": rooms});
    call(http, t, post, format!("{b}/rooms"), Some(count)).await;
    (tokens, b)
}

/// The moderator's request for `phase`: its URL under the breakout URL `b`, and its body.
pub fn phase_request(b: &str, phase: usize) -> (String, Option<Value>) {
    let cta = json!({"label": "Open the form", "url": "https://example.org/form"});
    match phase {
        0 => (format!("{b}/start"), None),
        1 => (
            format!("{b}/broadcast"),
            Some(json!({"text": "Five minutes left", "cta": cta})),
        ),
        _ => (format!("{b}/stop"), None),
    }
}

/// Nanoseconds since the Unix epoch: comparable between processes on one machine.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What the clients of one run record, per step (a step is one phase of one round): arrival
/// times (wall-clock ns), how many arrived, and the bytes of each phase's frames.
pub struct Recorder {
    pub steps: usize,
    arrivals: Vec<AtomicU64>,
    received: Vec<AtomicUsize>,
    bytes: [AtomicU64; PHASES],
    /// Every text frame the clients received during each phase, whatever its type.
    frames: [AtomicU64; PHASES],
    pub step: AtomicUsize,
}

impl Recorder {
    pub fn new(n: usize, rounds: usize) -> Arc<Recorder> {
        let steps = rounds * PHASES;
        Arc::new(Recorder {
            steps,
            arrivals: (0..n * steps).map(|_| AtomicU64::new(0)).collect(),
            received: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            bytes: Default::default(),
            frames: Default::default(),
            step: AtomicUsize::new(0),
        })
    }

    /// How many clients record.
    pub fn clients(&self) -> usize {
        self.arrivals.len() / self.steps
    }

    fn record(&self, client: usize, step: usize, bytes: usize) {
        let slot = &self.arrivals[client * self.steps + step];
        if slot.load(Ordering::Relaxed) == 0 {
            slot.store(now_ns(), Ordering::Relaxed);
            self.received[step].fetch_add(1, Ordering::Relaxed);
            self.bytes[step % PHASES].fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    fn count_frame(&self, step: usize) {
        self.frames[step % PHASES].fetch_add(1, Ordering::Relaxed);
    }

    /// The frames a client received per round, for each phase: the phase's event and whatever
    /// else the server sent with it.
    pub fn frames_per_client(&self) -> [f64; PHASES] {
        let rounds = self.steps / PHASES;
        std::array::from_fn(|p| {
            self.frames[p].load(Ordering::Relaxed) as f64 / (self.clients() * rounds) as f64
        })
    }

    /// Waits until every client has the step's event; returns each client's arrival time.
    pub async fn arrivals(&self, step: usize) -> Vec<u64> {
        let n = self.clients();
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
        (0..n)
            .map(|c| self.arrivals[c * self.steps + step].load(Ordering::Relaxed))
            .collect()
    }

    /// Waits until every client has the step's event; returns the latencies from `sent`, sorted.
    pub async fn wait(&self, step: usize, sent: u64) -> Vec<f64> {
        latencies(&self.arrivals(step).await, sent)
    }

    /// The bytes a client received per round, for each phase.
    pub fn bytes_per_client(&self) -> [f64; PHASES] {
        let rounds = self.steps / PHASES;
        std::array::from_fn(|p| {
            self.bytes[p].load(Ordering::Relaxed) as f64 / (self.clients() * rounds) as f64
        })
    }
}

/// Milliseconds from `sent` to each arrival, sorted.
pub fn latencies(arrivals: &[u64], sent: u64) -> Vec<f64> {
    let mut ms: Vec<f64> = arrivals
        .iter()
        .map(|a| a.saturating_sub(sent) as f64 / 1e6)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

#[derive(Clone, Copy, Default)]
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentiles of sorted latencies.
pub fn stats(sorted: &[f64]) -> Stats {
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        max: *sorted.last().unwrap_or(&0.0),
    }
}

/// The round whose p99 is the median of the rounds'.
pub fn median_round(rounds: &[Stats]) -> Stats {
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
pub async fn connect_all(
    url: &str,
    tokens: &[String],
    n: usize,
    recorder: &Arc<Recorder>,
    bare: bool,
) {
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
                    recorder.count_frame(step);
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

/// The bare baseline: an axum WebSocket server that sends one frame to every connection when asked
/// (`POST /fanout?bytes=N`). Same shape as Huddle's delivery (a bounded queue per connection,
/// drained by its own task), none of its work (no actor, no store, no filtering). Prints its
/// address first.
pub async fn bare_server() {
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

#[cfg(test)]
mod tests {
    use super::{Stats, latencies, median_round, stats};

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

    #[test]
    fn latencies_are_sorted_milliseconds_after_sending() {
        let sent = 1_000_000_000;
        assert_eq!(
            latencies(&[sent + 3_000_000, sent + 1_500_000, sent - 5], sent),
            vec![0.0, 1.5, 3.0]
        );
    }
}
