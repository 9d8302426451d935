//! Idle-connection flood benchmark (docs/benchmarks.md): issue 11's attack at full size. One
//! client address, 127.0.0.9, opens `--connections` TCP connections (20,000 by default) to the
//! server and never sends a byte, opening again `--retry-ms` after the server closes one. The
//! attack runs in child processes of at most 10,000 connections each, since one process may hold
//! 20,000 descriptors. Meanwhile a legitimate client at 127.0.0.1 opens a fresh connection every
//! 50 ms and asks for `/healthz`, allowing 3 s for the answer.
//!
//! The probe is measured before the attack and during it, against the server as configured by
//! default and then against the same binary with the defences turned off (no cap per address, a
//! total cap above the open-files limit, a header timeout of a day), which is how the attack was
//! first found to lock everyone out.
//!
//! With `--rounds N` the attack is repeated N times against the same server, and each row gives
//! the server's resident memory once the attack is over; with `--trim`, also after glibc was
//! asked (through gdb) to give its free memory back after the last round. Memory that stays the
//! same from round to round and goes with the trim was kept by the allocator, not leaked.
//!
//! `cargo run --release --example flood -- --connections 20000 --seconds 30`
//! (smoke: `cargo run --example flood -- --connections 3000 --seconds 3 --baseline-secs 2`)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{
    arg, cpu_seconds, huddle_binary, metric, open_files, rss_kib, serve_command, spawn,
    trimmed_rss_kib,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const PER_PROCESS: usize = 10_000;
const PROBE_EVERY: Duration = Duration::from_millis(50);
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// What one attacker process has done so far.
#[derive(Default)]
struct Attack {
    held: AtomicU64,
    opened: AtomicU64,
    failed: AtomicU64,
}

/// Attacker mode (a child process): hold `count` idle connections to `target` from `ATTACKER`,
/// printing `held H opened O failed F` every half second.
async fn attack(target: SocketAddr, count: usize, retry: Duration) {
    let state = Arc::new(Attack::default());
    for _ in 0..count {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                match open_from(ATTACKER.into(), target).await {
                    Some(mut stream) => {
                        state.opened.fetch_add(1, Ordering::Relaxed);
                        state.held.fetch_add(1, Ordering::Relaxed);
                        // Idle until the server closes it.
                        let mut byte = [0u8; 1];
                        let _ = stream.read(&mut byte).await;
                        state.held.fetch_sub(1, Ordering::Relaxed);
                    }
                    None => {
                        state.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(retry).await;
            }
        });
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "held {} opened {} failed {}",
            state.held.load(Ordering::Relaxed),
            state.opened.load(Ordering::Relaxed),
            state.failed.load(Ordering::Relaxed)
        );
    }
}

/// A TCP connection from `source` to `target`, or None after 5 s or an error.
async fn open_from(source: IpAddr, target: SocketAddr) -> Option<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
        .await
        .ok()?
        .ok()
}

/// One legitimate request on a fresh connection: its time, or None when it failed or took longer
/// than `PROBE_LIMIT`.
async fn probe(target: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let answered = tokio::time::timeout(PROBE_LIMIT, async {
        let mut stream = open_from(Ipv4Addr::LOCALHOST.into(), target).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: huddle\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        answer.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
    matches!(answered, Ok(Some(()))).then(|| started.elapsed())
}

/// Probes `target` every `PROBE_EVERY` for `length`; returns each probe's time (None: failed).
async fn probe_for(target: SocketAddr, length: Duration) -> Vec<Option<Duration>> {
    let mut probes = Vec::new();
    let until = Instant::now() + length;
    let mut tick = tokio::time::interval(PROBE_EVERY);
    while Instant::now() < until {
        tick.tick().await;
        probes.push(tokio::spawn(probe(target)));
    }
    let mut times = Vec::new();
    for p in probes {
        times.push(p.await.unwrap());
    }
    times
}

/// A row of the table: probes answered, their times, and what the server held.
struct Row {
    label: String,
    probes: Vec<Option<Duration>>,
    server_files: usize,
    attacker_held: u64,
    refused: f64,
    server_cpu: f64,
    /// The server's resident memory (MiB) once the attack is over, and then after glibc was
    /// asked to give free memory back (`--trim`).
    rss_mib: (f64, Option<f64>),
}

impl Row {
    fn print(&self) {
        let mut ok: Vec<Duration> = self.probes.iter().flatten().copied().collect();
        ok.sort();
        let ms = |q: f64| {
            ok.get(((ok.len() as f64 - 1.0) * q).round() as usize)
                .map_or("–".to_owned(), |d| {
                    format!("{:.1}", d.as_secs_f64() * 1000.0)
                })
        };
        let trimmed = self.rss_mib.1.map_or("–".to_owned(), |m| format!("{m:.1}"));
        println!(
            "| {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {trimmed} |",
            self.label,
            ok.len(),
            self.probes.len(),
            ms(0.5),
            ms(0.95),
            ms(0.99),
            ms(1.0),
            self.server_files,
            self.attacker_held,
            self.refused,
            self.server_cpu,
            self.rss_mib.0
        );
    }
}

/// Each attacker process's last report: held, opened, failed.
type Reports = Arc<Mutex<Vec<[u64; 3]>>>;

/// Starts the attacker processes against `target`; each line they print updates their report.
fn start_attackers(target: SocketAddr, connections: usize, retry_ms: u64) -> (Vec<Child>, Reports) {
    let exe = std::env::current_exe().unwrap();
    let processes = connections.div_ceil(PER_PROCESS);
    let counts = Arc::new(Mutex::new(vec![[0u64; 3]; processes]));
    let mut children = Vec::new();
    for i in 0..processes {
        let count = (connections - i * PER_PROCESS).min(PER_PROCESS);
        let mut child = Command::new(&exe)
            .args([
                "--attack",
                &target.to_string(),
                "--count",
                &count.to_string(),
            ])
            .args(["--retry-ms", &retry_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start an attacker");
        let stdout = tokio::process::ChildStdout::from_std(child.stdout.take().unwrap()).unwrap();
        let counts = counts.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let n: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if let [held, opened, failed] = n[..] {
                    counts.lock().unwrap()[i] = [held, opened, failed];
                }
            }
        });
        children.push(child);
    }
    (children, counts)
}

/// Resident memory of `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    rss_kib(pid) as f64 / 1024.0
}

/// Baseline and `--rounds` attacks against one server started with `flags`; prints a row for
/// each.
async fn run(label: &str, huddle: &std::path::Path, flags: &[&str], args: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_command(huddle, dir.path(), "error");
    command.args(flags);
    let (mut server, base) = spawn(command);
    let pid = server.id();
    let target: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let refused = || async {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(metric(&text, "huddle_connections_refused_total"))
    };

    let cpu = cpu_seconds(pid);
    let probes = probe_for(target, args.baseline).await;
    Row {
        label: format!("{label}, no attack"),
        probes,
        server_files: open_files(pid),
        attacker_held: 0,
        refused: refused().await.unwrap_or(f64::NAN),
        server_cpu: cpu_seconds(pid) - cpu,
        rss_mib: (rss_mib(pid), None),
    }
    .print();

    for round in 1..=args.rounds {
        let row = attack_once(pid, target, args).await;
        // The counter once the attackers are gone (the server may not answer during the attack).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let refused = tokio::time::timeout(Duration::from_secs(30), refused())
            .await
            .ok()
            .flatten()
            .unwrap_or(f64::NAN);
        // Its memory once it has closed what the attack left: the last trimmed, so that the
        // rounds before show whether memory keeps growing.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let trim = args.trim && round == args.rounds;
        let rss = (
            rss_mib(pid),
            trim.then(|| trimmed_rss_kib(pid))
                .flatten()
                .map(|k| k as f64 / 1024.0),
        );
        let label = if args.rounds > 1 {
            format!(
                "{label}, {} idle from one address, round {round}",
                args.connections
            )
        } else {
            format!("{label}, {} idle from one address", args.connections)
        };
        Row {
            label,
            refused,
            rss_mib: rss,
            ..row
        }
        .print();
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// One attack at full size while the probe runs; the attackers are gone when it returns.
async fn attack_once(pid: u32, target: SocketAddr, args: &Args) -> Row {
    let (mut attackers, counts) = start_attackers(target, args.connections, args.retry_ms);
    // Let the attack reach its size: every connection tried once (or 30 s).
    let ramp = Instant::now();
    while ramp.elapsed() < Duration::from_secs(30) {
        let tried: u64 = counts.lock().unwrap().iter().map(|c| c[1] + c[2]).sum();
        if tried >= args.connections as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = cpu_seconds(pid);
    let files = Arc::new(AtomicU64::new(0));
    let watch = {
        let files = files.clone();
        tokio::spawn(async move {
            loop {
                files.fetch_max(open_files(pid) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let probes = probe_for(target, args.attack).await;
    watch.abort();
    let held: u64 = counts.lock().unwrap().iter().map(|c| c[0]).sum();
    for a in &mut attackers {
        let _ = a.kill();
        let _ = a.wait();
    }
    Row {
        label: String::new(),
        probes,
        server_files: files.load(Ordering::Relaxed) as usize,
        attacker_held: held,
        refused: 0.0,
        server_cpu: cpu_seconds(pid) - cpu,
        rss_mib: (0.0, None),
    }
}

struct Args {
    connections: usize,
    retry_ms: u64,
    baseline: Duration,
    attack: Duration,
    /// Attacks one after the other against the same server.
    rounds: u32,
    /// After the last round, ask glibc to give free memory back (needs gdb).
    trim: bool,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number =
        |name: &str, default: u64| arg(&args, name).map_or(default, |v| v.parse().unwrap());
    if let Some(target) = arg(&args, "--attack") {
        let count = number("--count", PER_PROCESS as u64) as usize;
        attack(
            target.parse().unwrap(),
            count,
            Duration::from_millis(number("--retry-ms", 1000)),
        )
        .await;
        return;
    }
    let huddle = huddle_binary(&args);
    let settings = Args {
        connections: number("--connections", 20_000) as usize,
        retry_ms: number("--retry-ms", 1000),
        baseline: Duration::from_secs(number("--baseline-secs", 10)),
        attack: Duration::from_secs(number("--seconds", 30)),
        rounds: number("--rounds", 1).max(1) as u32,
        trim: args.iter().any(|a| a == "--trim"),
    };
    println!(
        "{} idle connections from {ATTACKER}, reopened {} ms after the server closes them; a \
         /healthz probe on a fresh connection from 127.0.0.1 every {} ms ({} s allowed)\n",
        settings.connections,
        settings.retry_ms,
        PROBE_EVERY.as_millis(),
        PROBE_LIMIT.as_secs()
    );
    println!(
        "| server | probes answered | p50 ms | p95 ms | p99 ms | max ms | server descriptors (max) | \
         attacker connections open | connections refused | server CPU s | server RSS after (MiB) | \
         after malloc_trim (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    run("defaults", &huddle, &[], &settings).await;
    run(
        "defences off",
        &huddle,
        &[
            "--max-connections-per-address",
            "0",
            "--max-connections",
            "1000000",
            "--header-timeout-ms",
            "86400000",
        ],
        &settings,
    )
    .await;
}
