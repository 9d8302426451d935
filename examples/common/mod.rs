//! Helpers the benchmarks share: the server as a child process, JSON calls, and what `/proc`
//! says of a process.

#![allow(dead_code)] // each benchmark uses a different part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub mod cluster;
pub mod fanout;

/// Asks glibc in process `pid` to give its free memory back to the system (gdb calls
/// `malloc_trim(0)` in it), then reads its resident memory in KiB: what drops was free in the
/// allocator, not leaked. `None` without gdb or when it cannot attach.
pub fn trimmed_rss_kib(pid: u32) -> Option<u64> {
    let status = Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "call (int) malloc_trim(0)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| rss_kib(pid))
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / clock_ticks_per_second()
}

/// CPU time a process's live threads have used, in milliseconds, to the nanosecond (the sum of
/// `/proc/PID/task/*/schedstat`; `cpu_seconds` counts in clock ticks of 10 ms).
pub fn cpu_ms_of_threads(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e6
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Descriptors a process has open.
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The value of one metric in a `/metrics` text (NaN when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// `huddle serve` on free loopback ports (HTTP and media), its data in `data_dir`, logging at
/// `log`; each benchmark adds its own settings.
pub fn serve_command(huddle: &std::path::Path, data_dir: &std::path::Path, log: &str) -> Command {
    let mut command = Command::new(huddle);
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--media-bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        // `HUDDLE_LOG` set for the benchmark overrides its default (to see `huddle::timing`).
        .env(
            "HUDDLE_LOG",
            std::env::var("HUDDLE_LOG").unwrap_or(log.to_owned()),
        );
    command
}

/// Starts a child process and reads the `http://ADDR` it prints first.
pub fn spawn(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("an address")
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// A JSON request that must succeed; returns the body (Null when empty).
pub async fn call(
    http: &reqwest::Client,
    token: Option<&str>,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut r = http.request(method, &url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let response = r.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The value after the flag `name` (for example `--rooms`) on the command line.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The `huddle` binary: `--huddle PATH`, or the one built beside this benchmark (same profile).
pub fn huddle_binary(args: &[String]) -> std::path::PathBuf {
    let huddle = arg(args, "--huddle")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("the benchmark's own path");
            exe.parent()
                .and_then(|p| p.parent())
                .expect("target/PROFILE/examples")
                .join("huddle")
        });
    assert!(
        huddle.exists(),
        "no huddle binary at {} (build it first, same profile)",
        huddle.display()
    );
    huddle
}

/// Runs first-run setup for the benchmark's moderator and signs in; returns the bearer token.
pub async fn moderator_token(http: &reqwest::Client, base: &str) -> String {
    let admin = serde_json::json!({"email": "mod@bench.example", "password": "benchmark password", "display_name": "Moderator"});
    let url = |path: &str| format!("{base}/api/v1{path}");
    call(
        http,
        None,
        reqwest::Method::POST,
        url("/setup"),
        Some(admin),
    )
    .await;
    let login = serde_json::json!({"email": "mod@bench.example", "password": "benchmark password"});
    let session = call(
        http,
        None,
        reqwest::Method::POST,
        url("/session"),
        Some(login),
    )
    .await;
    session["token"].as_str().expect("a token").to_owned()
}
