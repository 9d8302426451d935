//! Call set-up under a flood (docs/benchmarks.md; issue "one account stalls call set-up for every
//! room"). One participant, P, opens `--sockets` event WebSockets (50) and sends valid
//! `call_join`s for main room A on all of them, `--rate` a second in all (0, the default: as fast
//! as each socket takes them; the probe that found the hole sent about 700), for `--seconds` (15). Meanwhile the moderator joins the call of another main room, B, `--joins`
//! times (15), one every `--every-ms` (1000), each time with a fresh synthetic peer (a new offer
//! and UDP socket; only signalling is measured, no media flows). The figure is the time from
//! sending `call_join` to receiving its `call_answer`, p50 and p99, against the same joins without
//! the flood; the target is a flood p99 at most twice the quiet p99. One more join right after the
//! flood stops shows the backlog it left. A join unanswered within 30 s counts as 30,000 ms; a
//! `call_error` (`busy`, …) is a failure, counted apart.
//!
//! The server is expected to close the oldest of a person's WebSockets beyond 20 (close code
//! 4008) and to share one call budget (a burst of 20, then 10 a second) between them: the report
//! counts P's sockets closed, its messages sent and the answers by kind, and the server's memory
//! and CPU time. With `--trim`, the memory also after glibc was asked (through gdb) to give its
//! free memory back: what drops was kept by the allocator, not leaked. Each of `--runs` runs (3) starts a fresh server with its own data directory.
//! The flooder runs in this process: on a small machine it competes with the server for CPU.
//!
//! `cargo run --release --example call_flood -- --sockets 50 --seconds 15 --joins 15 --runs 3`
//! (smoke: `cargo run --example call_flood -- --sockets 25 --seconds 3 --joins 3 --every-ms 500
//! --runs 1`). It starts the `huddle` binary built beside it (or `--huddle PATH`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    arg, call, cpu_seconds, huddle_binary, moderator_token, rss_kib, serve_command, spawn,
    trimmed_rss_kib,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use huddle::media::synthetic::Synthetic;
use serde_json::{Value, json};
use str0m::config::DtlsCert;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest a moderator's join waits for its answer; unanswered, it counts as this long.
const ANSWER_LIMIT: Duration = Duration::from_secs(30);
/// The longest a WebSocket may take to open (or to take the moderator's `call_leave`).
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// Receive slots (audio and video each) a synthetic peer offers.
const SLOTS: usize = 4;
/// The close code of a WebSocket the server closes because its person holds too many.
const TOO_MANY_SOCKETS: u16 = 4008;
/// The failure of a join that got no answer in time (or whose WebSocket failed).
const UNANSWERED: &str = "unanswered";

struct Settings {
    /// Flood messages a second across P's sockets; 0: as fast as each socket takes them.
    rate: u64,
    sockets: usize,
    seconds: u64,
    joins: usize,
    every: Duration,
    runs: usize,
    /// After each flood, ask glibc to give free memory back (needs gdb).
    trim: bool,
}

/// The server goes with its run, even when a measurement panics.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The event WebSocket with `token`; None if it did not open within `CONNECT_LIMIT`.
async fn websocket(ws_url: &str, token: &str) -> Option<Ws> {
    let mut request = ws_url.into_client_request().ok()?;
    let bearer = format!("Bearer {token}");
    request
        .headers_mut()
        .insert("authorization", bearer.parse().ok()?);
    let connect = tokio_tungstenite::connect_async(request);
    let (ws, _) = timeout(CONNECT_LIMIT, connect).await.ok()?.ok()?;
    Some(ws)
}

/// A new synthetic peer's offer, with its own UDP socket on 127.0.0.1 (its address in the offer;
/// the caller keeps it while the offer is in use).
fn fresh_offer(index: u8, cert: &DtlsCert) -> (String, std::net::UdpSocket) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket on 127.0.0.1");
    let addr = socket.local_addr().expect("its address");
    let (_peer, offer) = Synthetic::new(index, addr, Instant::now(), SLOTS, SLOTS, cert.clone());
    (offer, socket)
}

fn join_message(room: &str, sdp: &str) -> Message {
    let join = json!({"type": "call_join", "room": room, "sdp": sdp, "mic": true, "camera": true});
    Message::Text(join.to_string().into())
}

/// The moderator, joining the call of the quiet room over one WebSocket (a new one after a
/// failure, so that a late answer is never taken for the next join's).
struct Moderator {
    ws_url: String,
    token: String,
    room: String,
    cert: DtlsCert,
    ws: Option<Ws>,
}

impl Moderator {
    /// One join with a fresh peer: the milliseconds from sending `call_join` to its
    /// `call_answer` (then it leaves again), or what failed: a `call_error` code, or `UNANSWERED`.
    async fn join(&mut self) -> Result<f64, String> {
        if self.ws.is_none() {
            self.ws = websocket(&self.ws_url, &self.token).await;
        }
        let Some(ws) = self.ws.as_mut() else {
            return Err(UNANSWERED.to_owned());
        };
        let (offer, _udp) = fresh_offer(0, &self.cert);
        let (message, room) = (join_message(&self.room, &offer), self.room.as_str());
        let t0 = Instant::now();
        let reply = timeout(ANSWER_LIMIT, async {
            if ws.send(message).await.is_err() {
                return Err::<(), String>(UNANSWERED.to_owned());
            }
            loop {
                let text = match ws.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        return Err(UNANSWERED.to_owned());
                    }
                    Some(Ok(_)) => continue,
                };
                // Pings, hello, events, call_state and call_ended go by.
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match (frame["room"].as_str() == Some(room), frame["type"].as_str()) {
                    (true, Some("call_answer")) => return Ok(()),
                    (true, Some("call_error")) => {
                        return Err(frame["code"].as_str().unwrap_or("(no code)").to_owned());
                    }
                    _ => {}
                }
            }
        });
        let reply = reply.await.unwrap_or_else(|_| Err(UNANSWERED.to_owned()));
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match reply {
            Ok(()) => {
                let leave = json!({"type": "call_leave", "room": room}).to_string();
                let left = timeout(CONNECT_LIMIT, ws.send(Message::Text(leave.into()))).await;
                if !matches!(left, Ok(Ok(()))) {
                    self.ws = None;
                }
                Ok(ms)
            }
            Err(code) => {
                if code == UNANSWERED {
                    self.ws = None;
                }
                Err(code)
            }
        }
    }

    /// Reads (and drops) what arrives until `at`, which also answers the server's pings.
    async fn idle_until(&mut self, at: Instant) {
        let Some(ws) = self.ws.as_mut() else {
            return tokio::time::sleep_until(at.into()).await;
        };
        let drain = async { while let Some(Ok(_)) = ws.next().await {} };
        if timeout_at(at.into(), drain).await.is_ok() {
            self.ws = None; // it ended
        }
    }
}

/// The moderator's joins of one phase.
#[derive(Default)]
struct Phase {
    /// Answered joins, and unanswered ones at `ANSWER_LIMIT`, in milliseconds.
    ms: Vec<f64>,
    /// Failed joins by what failed (`UNANSWERED` or a `call_error` code).
    failures: BTreeMap<String, usize>,
}

impl Phase {
    fn add(&mut self, join: Result<f64, String>) {
        match join {
            Ok(ms) => self.ms.push(ms),
            Err(code) => {
                if code == UNANSWERED {
                    self.ms.push(ANSWER_LIMIT.as_secs_f64() * 1000.0);
                }
                *self.failures.entry(code).or_default() += 1;
            }
        }
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, p)
    }

    fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    /// "0", or what failed: "2 unanswered, 1 busy".
    fn failures_text(&self) -> String {
        let each: Vec<String> = self
            .failures
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        if each.is_empty() {
            "0".to_owned()
        } else {
            each.join(", ")
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `joins` joins, one every `every`.
async fn measure(moderator: &mut Moderator, joins: usize, every: Duration) -> Phase {
    let mut phase = Phase::default();
    let start = Instant::now();
    for i in 0..joins {
        moderator.idle_until(start + every * i as u32).await;
        phase.add(moderator.join().await);
    }
    phase
}

/// What the flooder's sockets did and were told.
#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    sent: AtomicU64,
    answers: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Sockets the server closed (or that failed), and of those, closed with code 4008.
    closed: AtomicU64,
    closed_too_many: AtomicU64,
}

/// Counts the answers on one of P's sockets until the server closes it (or it is aborted).
async fn read_flood(mut stream: SplitStream<Ws>, closed: Arc<AtomicBool>, tally: Arc<Tally>) {
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) if text.contains("\"call_") => {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if frame["type"] == "call_answer" {
                    tally.answers.fetch_add(1, Relaxed);
                } else if frame["type"] == "call_error"
                    && let Ok(mut errors) = tally.errors.lock()
                {
                    let code = frame["code"].as_str().unwrap_or("(no code)");
                    *errors.entry(code.to_owned()).or_default() += 1;
                }
            }
            Ok(Message::Close(frame)) => {
                if frame.is_some_and(|f| u16::from(f.code) == TOO_MANY_SOCKETS) {
                    tally.closed_too_many.fetch_add(1, Relaxed);
                }
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    closed.store(true, Relaxed);
    tally.closed.fetch_add(1, Relaxed);
}

/// Sends `join` back to back on one of P's sockets until `end` or until the socket is closed.
/// Dropping the sink leaves the socket open: its reader holds the other half.
async fn write_flood(
    mut sink: SplitSink<Ws, Message>,
    closed: Arc<AtomicBool>,
    (join, end, gap): (Message, Instant, Option<Duration>),
    tally: Arc<Tally>,
) {
    let mut next = Instant::now();
    while Instant::now() < end && !closed.load(Relaxed) {
        if let Some(gap) = gap {
            tokio::time::sleep_until(next.into()).await;
            next += gap;
        }
        match timeout_at(end.into(), sink.send(join.clone())).await {
            Ok(Ok(())) => tally.sent.fetch_add(1, Relaxed),
            _ => break,
        };
    }
}

struct RunFigures {
    quiet: Phase,
    flood: Phase,
    /// The one join right after the flood.
    after: Phase,
    flooder: Arc<Tally>,
    /// The server's resident memory before the flood and after it.
    /// The server's resident memory before the flood, after it, and after glibc gave its free
    /// memory back (`--trim`).
    rss_kib: (u64, u64, Option<u64>),
    cpu_flood: f64,
    cpu_total: f64,
}

impl RunFigures {
    fn ratio(&self) -> f64 {
        self.flood.percentile(0.99) / self.quiet.percentile(0.99)
    }
}

/// The administrator (the moderator) and two imported accounts: P, a member of room A (the flood
/// room), and Q, a member of room B (the quiet room); the administrator created and owns both.
/// Returns A, B, the moderator's token and P's token.
async fn provision(base: &str) -> (String, String, String, String) {
    let http = reqwest::Client::new();
    let token = moderator_token(&http, base).await;
    let (h, t) = (&http, token.as_str());
    let post = move |path: String, body: Value| {
        let url = format!("{base}/api/v1{path}");
        call(h, Some(t), reqwest::Method::POST, url, Some(body))
    };
    let accounts = json!([
        {"email": "flooder@bench.example", "display_name": "Flooder"},
        {"email": "quiet@bench.example", "display_name": "Quiet"},
    ]);
    let body = json!({"accounts": accounts, "issue_tokens": true});
    let imported = post("/accounts/import".into(), body).await;
    let field = |i: usize, key: &str| {
        let value = imported["accounts"][i][key].as_str();
        value
            .unwrap_or_else(|| panic!("imported account {i} without {key}: {imported}"))
            .to_owned()
    };
    let (p_token, members) = (field(0, "token"), [field(0, "id"), field(1, "id")]);
    let mut rooms = Vec::new();
    for (name, member) in ["Flood", "Quiet"].into_iter().zip(members) {
        let room = post("/rooms".into(), json!({"name": name})).await;
        let id = room["id"].as_str().expect("a room id").to_owned();
        let members = json!({"person_ids": [member]});
        post(format!("/rooms/{id}/members"), members).await;
        rooms.push(id);
    }
    let [flood, quiet] = <[String; 2]>::try_from(rooms).expect("two rooms");
    (flood, quiet, token, p_token)
}

/// One run against a fresh server: the quiet joins, then the same joins during the flood, then
/// one join right after it.
async fn run(number: usize, huddle: &std::path::Path, s: &Settings, cert: &DtlsCert) -> RunFigures {
    let dir = tempfile::tempdir().expect("a data directory");
    let command = serve_command(huddle, dir.path(), "warn,str0m=error,dimpl=error");
    let (child, base) = spawn(command);
    let pid = child.id();
    let server = Reap(child);
    let ws_url = format!("{}/api/v1/events", base.replace("http://", "ws://"));
    let (flood_room, room, token, p_token) = provision(&base).await;
    let mut moderator = Moderator {
        ws_url: ws_url.clone(),
        token,
        room,
        cert: cert.clone(),
        ws: None,
    };
    // Unmeasured: the server's first call set-up.
    let _ = moderator.join().await;
    eprintln!("run {number}: {} quiet joins", s.joins);
    let quiet = measure(&mut moderator, s.joins, s.every).await;

    eprintln!(
        "run {number}: {} sockets flood for {} s",
        s.sockets, s.seconds
    );
    // P's sockets, opened one after the other, each read from the start (beyond 20, the server
    // is expected to close the oldest).
    let tally = Arc::new(Tally::default());
    let (mut sinks, mut readers) = (Vec::new(), Vec::new());
    for _ in 0..s.sockets {
        let Some(ws) = websocket(&ws_url, &p_token).await else {
            continue;
        };
        tally.opened.fetch_add(1, Relaxed);
        let ((sink, stream), closed) = (ws.split(), Arc::new(AtomicBool::new(false)));
        readers.push(tokio::spawn(read_flood(
            stream,
            closed.clone(),
            tally.clone(),
        )));
        sinks.push((sink, closed));
    }
    // One offer for every flood message; its UDP socket stays open for the flood.
    let (offer, _udp) = fresh_offer(1, cert);
    let join = join_message(&flood_room, &offer);
    let (cpu_before, rss_before) = (cpu_seconds(pid), rss_kib(pid));
    let end = Instant::now() + Duration::from_secs(s.seconds);
    let writers: Vec<JoinHandle<()>> = sinks
        .into_iter()
        .map(|(sink, closed)| {
            let gap =
                (s.rate > 0).then(|| Duration::from_secs_f64(s.sockets as f64 / s.rate as f64));
            let flood = write_flood(sink, closed, (join.clone(), end, gap), tally.clone());
            tokio::spawn(flood)
        })
        .collect();
    let flood = measure(&mut moderator, s.joins, s.every).await;
    for writer in writers {
        let _ = writer.await; // they stop at `end`
    }
    // The backlog: P's sockets stay open, with whatever the server has not read yet.
    let mut after = Phase::default();
    after.add(moderator.join().await);
    let cpu_flood = cpu_seconds(pid) - cpu_before;
    readers.iter().for_each(JoinHandle::abort);
    let (rss, cpu_total) = (rss_kib(pid), cpu_seconds(pid));
    let trimmed = s.trim.then(|| trimmed_rss_kib(pid)).flatten();
    drop(moderator);
    drop(server);
    RunFigures {
        quiet,
        flood,
        after,
        flooder: tally,
        rss_kib: (rss_before, rss, trimmed),
        cpu_flood,
        cpu_total,
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.1}")
    }
}

fn report(runs: &[RunFigures], s: &Settings) {
    println!(
        "| run | quiet p50 / p99 (ms) | flood p50 / p99 (ms) | p99 ratio | right after the flood \
         (ms) | moderator failures quiet / flood / after | flood messages sent | call_answer | \
         call_error by code | sockets opened / closed by server (4008) | server RSS before / after the flood / after malloc_trim (MiB) | \
         server CPU s, flood / total |"
    );
    println!("|---:|---|---|---:|---:|---|---:|---:|---|---|---:|---|");
    for (i, r) in runs.iter().enumerate() {
        let (t, get) = (&r.flooder, |c: &AtomicU64| c.load(Relaxed));
        let errors = t.errors.lock().map(|e| {
            let each: Vec<String> = e.iter().map(|(c, n)| format!("{c} {n}")).collect();
            each.join(", ")
        });
        let (q, f, a) = (&r.quiet, &r.flood, &r.after);
        let failures = [q, f, a].map(Phase::failures_text).join(" / ");
        let sockets = [&t.opened, &t.closed, &t.closed_too_many].map(get);
        let cells = [
            (i + 1).to_string(),
            format!("{} / {}", ms(q.percentile(0.5)), ms(q.percentile(0.99))),
            format!("{} / {}", ms(f.percentile(0.5)), ms(f.percentile(0.99))),
            format!("{:.2}", r.ratio()),
            ms(a.percentile(0.5)),
            failures,
            get(&t.sent).to_string(),
            get(&t.answers).to_string(),
            errors
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or("–".to_owned()),
            format!("{} / {} ({})", sockets[0], sockets[1], sockets[2]),
            format!(
                "{:.1} / {:.1} / {}",
                r.rss_kib.0 as f64 / 1024.0,
                r.rss_kib.1 as f64 / 1024.0,
                r.rss_kib
                    .2
                    .map_or("–".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
            ),
            format!("{:.2} / {:.2}", r.cpu_flood, r.cpu_total),
        ];
        println!("| {} |", cells.join(" | "));
    }

    let ratios: Vec<f64> = runs.iter().map(RunFigures::ratio).collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let [min, median, max] = [0.0, 0.5, 1.0].map(|p| percentile(&sorted, p));
    println!("\n| p99 ratio, flood / quiet | each run | min | median | max |");
    println!("|---|---|---:|---:|---:|");
    println!(
        "| {} sockets, {} s, {} joins | {} | {min:.2} | {median:.2} | {max:.2} |",
        s.sockets,
        s.seconds,
        s.joins,
        each.join(", ")
    );
    // NaN (no answered join in a phase) is never ≤ 2.
    let over = ratios.iter().filter(|r| r.is_nan() || **r > 2.0).count();
    let failed: usize = runs
        .iter()
        .map(|r| r.quiet.failed() + r.flood.failed() + r.after.failed())
        .sum();
    let verdict = if over == 0 && failed == 0 {
        "met"
    } else {
        "not met"
    };
    println!("\ntarget ≤ 2×: {verdict} ({over} run(s) over 2×, {failed} moderator join(s) failed)");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |name: &str, default: u64| -> u64 {
        arg(&args, name).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} N"))
        })
    };
    let s = Settings {
        rate: number("--rate", 0),
        trim: args.iter().any(|a| a == "--trim"),
        sockets: number("--sockets", 50) as usize,
        seconds: number("--seconds", 15),
        joins: number("--joins", 15) as usize,
        every: Duration::from_millis(number("--every-ms", 1000)),
        runs: number("--runs", 3) as usize,
    };
    assert!(s.joins > 0 && s.runs > 0, "--joins and --runs: at least 1");
    let huddle = huddle_binary(&args);
    let cert = huddle::media::udp::certificate().expect("a DTLS certificate");
    println!(
        "call set-up under a flood: {} WebSockets of one participant send call_join to room A ({}) \
         for {} s; the moderator joins room B {} times, one every {} ms, quiet and during the \
         flood; {} run(s); Huddle at {}\n",
        s.sockets,
        if s.rate > 0 {
            format!("{} a second in all", s.rate)
        } else {
            "as fast as the sockets take them".to_owned()
        },
        s.seconds,
        s.joins,
        s.every.as_millis(),
        s.runs,
        huddle.display()
    );
    if s.every * s.joins as u32 > Duration::from_secs(s.seconds) {
        println!("(--joins × --every-ms is over --seconds: the last joins come after the flood)\n");
    }
    let mut runs = Vec::new();
    for i in 1..=s.runs {
        runs.push(run(i, &huddle, &s, &cert).await);
    }
    report(&runs, &s);
}
