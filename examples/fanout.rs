//! Fan-out benchmark (see docs/benchmarks.md): N WebSocket participants in one main room with R
//! breakout rooms on one Huddle process. For `start`, a broadcast and `stop` it measures, from the
//! moderator's request to each participant's event, p50/p99/max; the bytes each participant
//! received; and Huddle's memory per idle participant. In the same run it measures a bare axum
//! WebSocket fan-out of the same number of frames of the same size, and prints Huddle's p99 divided
//! by the bare one, and the CPU time each server process spent per phase (from the request until
//! every participant had the event; the median round).
//!
//! Each phase runs `--rounds` times (default 3): the table shows, per phase, the round with the
//! median p99, and the ratio of the median p99s, because one sample on a shared machine is noise.
//!
//! `cargo run --release --example fanout -- --sizes 1000,5000,10000,19900`
//! (smoke: `cargo run --example fanout -- --sizes 200 --rooms 20 --rounds 1`). It starts the
//! `huddle` binary built beside it, and itself as the bare server (`fanout bare-server`).

use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;

use common::fanout::{
    PHASE_NAMES, PHASES, Recorder, Stats, bare_server, connect_all, median_round, now_ns,
    phase_request, seed_room, stats,
};
use common::{
    arg, call, cpu_ms_of_threads, huddle_binary, moderator_token, rss_kib, serve_command, spawn,
};

struct Measured {
    /// Per phase, one entry per round.
    phases: [Vec<Stats>; PHASES],
    bytes_per_client: [f64; PHASES],
    frames_per_client: [f64; PHASES],
    rss_per_client_kib: f64,
    /// Per phase, the server's CPU time (ms) of each round.
    cpu_ms: [Vec<f64>; PHASES],
}

impl Measured {
    /// Stops the server and turns one run's records into figures, the same way for both servers.
    fn finish(
        mut child: Child,
        recorder: &Recorder,
        phases: [Vec<Stats>; PHASES],
        cpu_ms: [Vec<f64>; PHASES],
        rss_before: u64,
        rss_after: u64,
    ) -> Measured {
        let _ = child.kill();
        let _ = child.wait();
        Measured {
            phases,
            bytes_per_client: recorder.bytes_per_client(),
            frames_per_client: recorder.frames_per_client(),
            rss_per_client_kib: rss_after.saturating_sub(rss_before) as f64
                / recorder.clients() as f64,
            cpu_ms,
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
    let token = moderator_token(&http, &base).await;
    let (tokens, b) = seed_room(&http, &base, &token, n, rooms).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(child.id());
    let recorder = Recorder::new(n, rounds);
    let ws_url = format!("{}/api/v1/events", base.replace("http://", "ws://"));
    connect_all(&ws_url, &tokens, n, &recorder, false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(child.id());

    let mut phases: [Vec<Stats>; PHASES] = Default::default();
    let mut cpu_ms: [Vec<f64>; PHASES] = Default::default();
    for round in 0..rounds {
        for (phase, measured) in phases.iter_mut().enumerate() {
            let (url, body) = phase_request(&b, phase);
            let step = round * PHASES + phase;
            recorder.step.store(step, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let cpu = cpu_ms_of_threads(child.id());
            let sent = now_ns();
            call(&http, Some(&token), reqwest::Method::POST, url, body).await;
            timing("Huddle", sent);
            measured.push(stats(&recorder.wait(step, sent).await));
            cpu_ms[phase].push(cpu_ms_of_threads(child.id()) - cpu);
        }
    }
    Measured::finish(child, &recorder, phases, cpu_ms, rss_before, rss_after)
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
    let mut cpu_ms: [Vec<f64>; PHASES] = Default::default();
    for round in 0..rounds {
        for (phase, bytes) in frame_bytes.iter().enumerate() {
            let step = round * PHASES + phase;
            recorder.step.store(step, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let cpu = cpu_ms_of_threads(child.id());
            let sent = now_ns();
            let r = http
                .post(format!("{base}/fanout?bytes={bytes}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            timing("bare", sent);
            phases[phase].push(stats(&recorder.wait(step, sent).await));
            cpu_ms[phase].push(cpu_ms_of_threads(child.id()) - cpu);
        }
    }
    Measured::finish(child, &recorder, phases, cpu_ms, rss_before, rss_after)
}

/// The median of a phase's rounds (the upper one of an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// With `FANOUT_TIMING` set, prints how long the request that set off a phase took.
fn timing(server: &str, sent: u64) {
    if std::env::var_os("FANOUT_TIMING").is_some() {
        eprintln!("{server} request: {} us", (now_ns() - sent) / 1000);
    }
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
        "| N | phase | Huddle p50 / p99 / max (ms) | bare p50 / p99 / max (ms) | p99 ratio | bytes per participant | frames per participant | server CPU (ms) Huddle / bare |"
    );
    println!("|---:|---|---|---|---:|---:|---:|---|");
    let mut memory = Vec::new();
    for n in sizes {
        let h = run_huddle(n, rooms, rounds, &huddle).await;
        let sizes = h.bytes_per_client.map(|b| b.round().max(2.0) as usize);
        let bare = run_bare(n, rounds, sizes).await;
        for (p, name) in PHASE_NAMES.iter().enumerate() {
            let (a, b) = (median_round(&h.phases[p]), median_round(&bare.phases[p]));
            println!(
                "| {n} | {name} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {:.2} | {:.0} | {:.2} | {:.1} / {:.1} |",
                a.p50,
                a.p99,
                a.max,
                b.p50,
                b.p99,
                b.max,
                a.p99 / b.p99.max(0.001),
                h.bytes_per_client[p],
                h.frames_per_client[p],
                median(&h.cpu_ms[p]),
                median(&bare.cpu_ms[p]),
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
