//! A start at tens of thousands over several nodes (issue 13's benchmark (b), see
//! docs/benchmarks.md): `--nodes` Huddle nodes in a cluster (PostgreSQL schema of their own, a
//! `nats-server` on a free port), `--per-node` participants connected directly to each node from
//! a client process of their own (one process per node keeps each within the open-file limit).
//! The moderator starts, broadcasts to and stops `--rooms` breakout rooms through the first node,
//! which serves the room; every participant's arrival is timed from the request. In the same run,
//! as many bare WebSocket servers (the `fanout` benchmark's baseline) each send frames of the same
//! size to as many clients at once; the table gives Huddle's p99 over all participants divided
//! by the bare one's, and each node's own p99 (the first is the room's owner).
//!
//! `--solo` runs one node on PostgreSQL without NATS instead (a single-node deployment), to
//! compare with `--nodes 1`: what announcing the room's events costs its owner.
//!
//! `cargo run --release --example cluster_fanout -- --postgres postgres://postgres@127.0.0.1:5432/test --nodes 3 --per-node 10000`
//! (or `HUDDLE_TEST_POSTGRES`; `nats-server` on the PATH or in /usr/sbin). Roles it runs itself
//! as: `clients` (one process of participants) and `bare-server`.

use std::process::Stdio;
use std::time::Duration;

mod common;

use common::cluster::{Killed, drop_schemas, nats, node_command, schema};
use common::fanout::{
    PHASE_NAMES, PHASES, Recorder, Stats, bare_server, connect_all, latencies, median_round,
    now_ns, phase_request, seed_room, stats,
};
use common::{arg, call, huddle_binary, moderator_token, spawn};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// One process of participants, driven line by line over its stdin and stdout.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Clients {
    /// Starts a process of `count` participants on `url` (with the tokens in `tokens`, if given)
    /// and waits until all are connected.
    async fn start(
        url: &str,
        tokens: Option<&std::path::Path>,
        count: usize,
        rounds: usize,
    ) -> Clients {
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command.args(["clients", "--url", url, "--count", &count.to_string()]);
        command.args(["--rounds", &rounds.to_string()]);
        match tokens {
            Some(file) => command.arg("--tokens").arg(file),
            None => command.arg("--bare"),
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("a client process");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut clients = Clients {
            child,
            stdin,
            lines,
        };
        assert_eq!(clients.line().await, "ready");
        clients
    }

    async fn line(&mut self) -> String {
        self.lines
            .next_line()
            .await
            .unwrap()
            .expect("the client process ended")
    }

    async fn ask(&mut self, line: &str) -> String {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.line().await
    }

    /// Each participant's arrival time of `step`'s event (waits for all).
    async fn arrivals(&mut self, step: usize) -> Vec<u64> {
        let answer = self.ask(&format!("collect {step}")).await;
        answer
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect()
    }

    /// The bytes a participant received per round, for each phase.
    async fn bytes(&mut self) -> [f64; PHASES] {
        let answer = self.ask("bytes").await;
        let b: Vec<f64> = answer
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect();
        std::array::from_fn(|p| b[p])
    }

    async fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait().await;
    }
}

/// The `clients` role: connects, says `ready`, then answers `step S` (the event to wait for
/// now), `collect S` (every arrival of step S, in ns) and `bytes`, until its stdin closes.
async fn clients_role(args: &[String]) {
    let url = arg(args, "--url").expect("--url");
    let count: usize = arg(args, "--count").expect("--count").parse().unwrap();
    let rounds: usize = arg(args, "--rounds").expect("--rounds").parse().unwrap();
    let bare = args.iter().any(|a| a == "--bare");
    let tokens: Vec<String> = arg(args, "--tokens")
        .map(|f| std::fs::read_to_string(f).unwrap())
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    assert!(bare || tokens.len() == count, "a token per participant");
    let recorder = Recorder::new(count, rounds);
    connect_all(&url, &tokens, count, &recorder, bare).await;
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["step", s] => {
                let step: usize = s.parse().unwrap();
                recorder
                    .step
                    .store(step, std::sync::atomic::Ordering::Relaxed);
                println!("step {step}");
            }
            ["collect", s] => {
                let arrivals = recorder.arrivals(s.parse().unwrap()).await;
                let times: Vec<String> = arrivals.iter().map(u64::to_string).collect();
                println!("arrivals {}", times.join(" "));
            }
            ["bytes"] => {
                let b = recorder.bytes_per_client();
                println!("bytes {} {} {}", b[0], b[1], b[2]);
            }
            _ => panic!("unknown request {line:?}"),
        }
    }
}

/// One phase of one round: over everyone, and per process (node).
struct Step {
    all: Stats,
    per_node: Vec<Stats>,
}

/// Runs the rounds: before each phase tells every process the step, then `send` sends the
/// command (returning when it was sent) and every arrival is collected.
async fn measure<F, Fut>(
    processes: &mut [Clients],
    rounds: usize,
    mut send: F,
) -> [Vec<Step>; PHASES]
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut phases: [Vec<Step>; PHASES] = Default::default();
    for round in 0..rounds {
        for (phase, steps) in phases.iter_mut().enumerate() {
            let step = round * PHASES + phase;
            for p in processes.iter_mut() {
                assert_eq!(p.ask(&format!("step {step}")).await, format!("step {step}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent = send(phase).await;
            let mut everyone = Vec::new();
            let mut per_node = Vec::new();
            for p in processes.iter_mut() {
                let arrivals = p.arrivals(step).await;
                per_node.push(stats(&latencies(&arrivals, sent)));
                everyone.extend(arrivals);
            }
            steps.push(Step {
                all: stats(&latencies(&everyone, sent)),
                per_node,
            });
        }
    }
    phases
}

/// The round with the median p99 over everyone.
fn median_step(steps: &[Step]) -> &Step {
    let median = median_round(&steps.iter().map(|s| s.all).collect::<Vec<_>>());
    steps
        .iter()
        .find(|s| s.all.p99 == median.p99)
        .expect("a round")
}

struct Setup {
    nodes: usize,
    per_node: usize,
    rooms: u32,
    rounds: usize,
    solo: bool,
}

/// Huddle's run: the nodes, the participants, the rounds. Returns the phases and the bytes per
/// participant of each phase.
async fn run_huddle(
    huddle: &std::path::Path,
    base_db: &str,
    setup: &Setup,
) -> ([Vec<Step>; PHASES], [f64; PHASES]) {
    let db = schema(base_db).await;
    let (_nats, nats_url) = nats();
    let data = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for i in 0..setup.nodes {
        let id = format!("node-{i}");
        let cluster = (!setup.solo).then_some(nats_url.as_str());
        let mut command = node_command(huddle, &db, cluster, &id, data.path());
        command
            .args(["--max-body-bytes", "16000000", "--ws-queue-frames", "64"])
            .args(["--max-connections-per-address", "0"])
            .args(["--max-breakout-rooms", &setup.rooms.to_string()]);
        let (child, base) = spawn(command);
        nodes.push((Killed(child), base));
    }
    let base = nodes[0].1.clone();
    let http = reqwest::Client::new();
    let token = moderator_token(&http, &base).await;
    let n = setup.nodes * setup.per_node;
    let (tokens, b) = seed_room(&http, &base, &token, n, setup.rooms).await;

    let mut processes = Vec::new();
    for (i, (_, node_base)) in nodes.iter().enumerate() {
        let file = data.path().join(format!("tokens-{i}"));
        let mine = &tokens[i * setup.per_node..(i + 1) * setup.per_node];
        std::fs::write(&file, mine.join("\n")).unwrap();
        let url = format!("{}/api/v1/events", node_base.replace("http://", "ws://"));
        processes.push(Clients::start(&url, Some(&file), setup.per_node, setup.rounds).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let phases = measure(&mut processes, setup.rounds, |phase| {
        let (url, body) = phase_request(&b, phase);
        let (http, token) = (http.clone(), token.clone());
        async move {
            let sent = now_ns();
            call(&http, Some(&token), reqwest::Method::POST, url, body).await;
            sent
        }
    })
    .await;
    let bytes = processes[0].bytes().await;
    for p in processes {
        p.stop().await;
    }
    drop(nodes);
    (phases, bytes)
}

/// The baseline: as many bare servers as nodes, each with as many clients, all told to send a
/// frame of the phase's size at once.
async fn run_bare(setup: &Setup, bytes: [f64; PHASES]) -> [Vec<Step>; PHASES] {
    let mut servers = Vec::new();
    let mut processes = Vec::new();
    for _ in 0..setup.nodes {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command.arg("bare-server");
        let (child, base) = spawn(command);
        let url = format!("{}/ws", base.replace("http://", "ws://"));
        processes.push(Clients::start(&url, None, setup.per_node, setup.rounds).await);
        servers.push((Killed(child), base));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let bases: Vec<String> = servers.iter().map(|(_, b)| b.clone()).collect();
    let phases = measure(&mut processes, setup.rounds, |phase| {
        let size = bytes[phase].round().max(2.0) as usize;
        let (http, bases) = (http.clone(), bases.clone());
        async move {
            let sent = now_ns();
            let sends = bases
                .iter()
                .map(|base| http.post(format!("{base}/fanout?bytes={size}")).send());
            for r in futures_util::future::join_all(sends).await {
                assert!(r.unwrap().status().is_success());
            }
            sent
        }
    })
    .await;
    for p in processes {
        p.stop().await;
    }
    phases
}

fn cell(s: Stats) -> String {
    format!("{:.1} / {:.1} / {:.1}", s.p50, s.p99, s.max)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match args.get(1).map(String::as_str) {
        Some("bare-server") => return bare_server().await,
        Some("clients") => return clients_role(&args).await,
        _ => {}
    }
    let base_db = arg(&args, "--postgres")
        .or_else(|| std::env::var("HUDDLE_TEST_POSTGRES").ok())
        .expect("--postgres URL or HUDDLE_TEST_POSTGRES");
    let number = |name: &str, default: usize| {
        arg(&args, name).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} N"))
        })
    };
    let setup = Setup {
        nodes: number("--nodes", 3),
        per_node: number("--per-node", 10_000),
        rooms: number("--rooms", 300) as u32,
        rounds: number("--rounds", 3),
        solo: args.iter().any(|a| a == "--solo"),
    };
    assert!(!setup.solo || setup.nodes == 1, "--solo runs one node");
    let huddle = huddle_binary(&args);
    let layout = if setup.solo {
        format!("1 node without a cluster × {}", setup.per_node)
    } else {
        format!("{} nodes × {}", setup.nodes, setup.per_node)
    };
    println!(
        "cluster fan-out benchmark: {layout}, {} rooms, {} rounds, Huddle at {}\n",
        setup.rooms,
        setup.rounds,
        huddle.display()
    );
    let (huddle_phases, bytes) = run_huddle(&huddle, &base_db, &setup).await;
    drop_schemas(&base_db).await;
    let bare_phases = run_bare(&setup, bytes).await;
    println!(
        "| layout | phase | Huddle p50 / p99 / max (ms) | bare p50 / p99 / max (ms) | p99 ratio | Huddle p99 per node (ms, owner first) | bytes per participant |"
    );
    println!("|---|---|---|---|---:|---|---:|");
    for (p, name) in PHASE_NAMES.iter().enumerate() {
        let (h, b) = (median_step(&huddle_phases[p]), median_step(&bare_phases[p]));
        let per_node: Vec<String> = h.per_node.iter().map(|s| format!("{:.1}", s.p99)).collect();
        println!(
            "| {layout} | {name} | {} | {} | {:.2} | {} | {:.0} |",
            cell(h.all),
            cell(b.all),
            h.all.p99 / b.all.p99.max(0.001),
            per_node.join(" / "),
            bytes[p]
        );
    }
}
