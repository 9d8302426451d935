//! CSV pre-assignment benchmark (see docs/benchmarks.md): how long `POST …/assignments.csv` takes
//! for a file of N rows (default 10,000) over R new rooms (default 300), against a real server
//! (in this process, on 127.0.0.1:0, SQLite in a temporary directory with `synchronous=FULL`).
//!
//! Two files: every row an existing account (the accounts join the main room and are assigned),
//! and every row an unknown address (each is invited; the mailer then writes the emails as files).
//! The baseline, measured in the same run on the same server, is the bulk membership request
//! (`POST …/members` with the same N `person_ids`): one command storing N rows, so the ratio says
//! what parsing, matching, room creation, assignment and invitations add to a plain bulk write.
//! Each is run `--rounds` times on a fresh server; the table shows medians.
//!
//! `cargo run --release --example csv_import` (smoke: `cargo run --example csv_import -- --rows
//! 500 --rooms 10 --rounds 1`).

use std::time::{Duration, Instant};

use huddle::config::{Config, Settings};
use serde_json::{Value, json};

struct Args {
    rows: usize,
    rooms: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args {
        rows: 10_000,
        rooms: 300,
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair
            .get(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("usage: csv_import [--rows N] [--rooms R] [--rounds K]"));
        match pair[0].as_str() {
            "--rows" => args.rows = value,
            "--rooms" => args.rooms = value,
            "--rounds" => args.rounds = value,
            other => panic!("unknown option {other}"),
        }
    }
    args
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn csv(&self, room: &str, file: String) -> (Duration, Value) {
        let started = Instant::now();
        let response = self
            .http
            .post(format!(
                "{}/api/v1/rooms/{room}/breakout/assignments.csv",
                self.url
            ))
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let took = started.elapsed();
        assert!(status.is_success(), "import: {status} {text}");
        (took, serde_json::from_str(&text).unwrap())
    }
}

/// One round on a fresh server: (baseline, CSV of accounts, CSV of unknown addresses, export).
async fn round(args: &Args) -> [Duration; 4] {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: Some(dir.path().to_owned()),
        max_body_bytes: Some(16 << 20),
        media_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..Settings::default()
    };
    let config = Config::resolve(settings).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = huddle::Server::bind(config, listener).await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let password = "benchmark password";
    http.post(format!("{url}/api/v1/setup"))
        .json(&json!({"email": "admin@example.org", "password": password, "display_name": "Admin"}))
        .send()
        .await
        .unwrap();
    let login: Value = http
        .post(format!("{url}/api/v1/session"))
        .json(&json!({"email": "admin@example.org", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Api {
        http,
        url,
        token: login["token"].as_str().unwrap().to_owned(),
    };
    let accounts: Vec<Value> = (0..args.rows)
        .map(|i| json!({"email": format!("p{i}@example.org"), "display_name": format!("Person {i}")}))
        .collect();
    let imported = api
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": accounts})),
        )
        .await;
    let ids: Vec<Value> = imported["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();

    let room = |name: &'static str| {
        let api = &api;
        async move {
            api.send(
                reqwest::Method::POST,
                "/api/v1/rooms",
                Some(json!({"name": name})),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let baseline_room = room("Baseline").await;
    let started = Instant::now();
    api.send(
        reqwest::Method::POST,
        &format!("/api/v1/rooms/{baseline_room}/members"),
        Some(json!({"person_ids": ids})),
    )
    .await;
    let baseline = started.elapsed();

    let file = |domain: &str| {
        let mut file = String::from("room_name,first_name,last_name,email\n");
        for i in 0..args.rows {
            let group = i % args.rooms + 1;
            file.push_str(&format!("Group {group},Person,{i},p{i}@{domain}\n"));
        }
        file
    };
    let seminar = room("Seminar").await;
    let (accounts_took, summary) = api.csv(&seminar, file("example.org")).await;
    assert_eq!(summary["assigned"], args.rows, "{summary}");
    assert_eq!(summary["rooms_created"], args.rooms, "{summary}");
    let started = Instant::now();
    let exported = api
        .http
        .get(format!(
            "{}/api/v1/rooms/{seminar}/breakout/assignments.csv",
            api.url
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let export_took = started.elapsed();
    assert_eq!(exported.lines().count(), args.rows + 1);

    let guests = room("Guests").await;
    let (invites_took, summary) = api.csv(&guests, file("elsewhere.org")).await;
    assert_eq!(summary["invited"], args.rows, "{summary}");

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    [baseline, accounts_took, invites_took, export_took]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = args();
    let mut rounds = Vec::new();
    for k in 0..args.rounds {
        let r = round(&args).await;
        eprintln!(
            "round {}: baseline {:.1} ms, accounts {:.1} ms, invitations {:.1} ms, export {:.1} ms",
            k + 1,
            ms(r[0]),
            ms(r[1]),
            ms(r[2]),
            ms(r[3])
        );
        rounds.push(r);
    }
    let median = |i: usize| {
        let mut v: Vec<Duration> = rounds.iter().map(|r| r[i]).collect();
        v.sort();
        v[v.len() / 2]
    };
    let base = median(0);
    println!(
        "| rows | rooms | baseline: bulk members (ms) | CSV, accounts (ms) | ratio | CSV, unknown addresses (ms) | ratio | export (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.1} |",
        args.rows,
        args.rooms,
        ms(base),
        ms(median(1)),
        ms(median(1)) / ms(base),
        ms(median(2)),
        ms(median(2)) / ms(base),
        ms(median(3)),
    );
}
