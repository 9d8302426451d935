//! The real `huddle` binary: the CLI, configuration precedence, durability across `SIGKILL`, and
//! graceful shutdown on `SIGTERM`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

struct Running {
    child: Child,
    client: Client,
}

/// A server the test did not stop itself (or that outlived a failed assertion) goes with it.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `huddle serve` with the given arguments and environment; waits for its address.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huddle"));
    command
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start huddle");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").unwrap();
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let addr = url.trim_start_matches("http://").parse().unwrap();
    Running {
        child,
        client: Client {
            url,
            http: reqwest::Client::new(),
            token: None,
            addr,
        },
    }
}

/// Runs first-run setup on a fresh server and signs the administrator in.
async fn first_administrator(anon: &Client) -> Client {
    anon.expect(
        Method::POST,
        "/api/v1/setup",
        Some(json!({"email": "admin@example.org", "password": PASSWORD, "display_name": "Admin"})),
        StatusCode::CREATED,
    )
    .await;
    anon.login("admin@example.org").await
}

fn create_user(data_dir: &str, email: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_huddle"))
        .args([
            "admin",
            "create-user",
            "--email",
            email,
            "--display-name",
            "Ops",
        ])
        .env("HUDDLE_DATA_DIR", data_dir)
        .env("HUDDLE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_creates_the_first_administrator_and_flags_beat_the_environment_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let printed = create_user(data, "ops@example.org");
    assert!(printed.contains("(administrator)"), "{printed}");

    // The file names a port that is taken, the environment another; the flag's port 0 wins.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.path().join("huddle.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"{}\"\ndata_dir = \"/nonexistent/elsewhere\"\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut running = serve(
        &[
            "--config",
            config.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
        &[("HUDDLE_DATA_DIR", data), ("HUDDLE_BIND", "127.0.0.1:1")],
    );
    let anon = running.client.clone();
    // The environment's data directory beat the file's: the CLI-made account is there.
    let (status, body) = anon
        .call(
            Method::POST,
            "/api/v1/setup",
            Some(json!({"email": "x@example.org", "password": PASSWORD, "display_name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let ops = anon.login("ops@example.org").await;
    assert_eq!(ops.get("/api/v1/session").await["is_admin"], true);

    // SIGTERM: a graceful stop.
    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut waited = 0;
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(waited < 200, "huddle did not stop within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_on_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut running = serve(&["--bind", "127.0.0.1:0", "--data-dir", &data], &[]);
    let anon = running.client.clone();
    let admin = first_administrator(&anon).await;
    admin
        .expect(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"email": "bob@example.org", "password": PASSWORD, "display_name": "Bob"})),
            StatusCode::CREATED,
        )
        .await;
    let room = admin.create_room("Durable").await;
    admin
        .add_member(&room, "bob@example.org", "moderator")
        .await;

    // Writers keep posting; the process is killed while requests are in flight.
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let admin = admin.clone();
        let room = room.clone();
        let acks = acks.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let text = format!("w{w} m{i}");
                let request = admin
                    .http
                    .post(format!("{}/api/v1/rooms/{room}/messages", admin.url))
                    .bearer_auth(admin.token.as_ref().unwrap())
                    .json(&json!({"text": text}));
                match request.send().await {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acknowledged.push(text);
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    let renamed = admin
        .expect(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}"),
            Some(json!({"name": "Durable!"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(renamed["name"], "Durable!");
    // Kill once the writers have had a good number of writes acknowledged.
    while acks.load(std::sync::atomic::Ordering::Relaxed) < 40 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.child.kill().unwrap(); // SIGKILL
    running.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(!acknowledged.is_empty());

    let running = serve(&["--bind", "127.0.0.1:0", "--data-dir", &data], &[]);
    let admin = running.client.login("admin@example.org").await;
    let view = admin.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(view["name"], "Durable!");
    let members = admin.get(&format!("/api/v1/rooms/{room}/members")).await;
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["display_name"] == "Bob" && m["role"] == "moderator")
    );
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/rooms/{room}/messages?order=oldest&limit=200&cursor={c}"),
            None => format!("/api/v1/rooms/{room}/messages?order=oldest&limit=200"),
        };
        let page = admin.get(&path).await;
        for m in page["messages"].as_array().unwrap() {
            stored.insert(m["text"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|t| !stored.contains(*t))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    // New writes continue the same stream.
    let posted = admin.post(&room, "after the crash").await;
    assert!(posted["seq"].as_u64().unwrap() > acknowledged.len() as u64);
}

/// Runs `huddle serve` with `args` until it serves, stops it with SIGTERM, and returns what it
/// logged (stderr, a pipe).
async fn logs_of(args: &[&str]) -> String {
    logs_after(args, &[], &[]).await
}

/// `logs_of`, with `env` set and a GET of each of `paths` made before it stops.
async fn logs_after(args: &[&str], env: &[(&str, &str)], paths: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_huddle"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("HUDDLE_DATA_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = stdout
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    std::thread::spawn(move || for _ in stdout {});
    // Up and serving (its signal handlers too) before it is asked to stop.
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    for path in paths {
        reqwest::get(format!("{url}{path}")).await.unwrap();
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn invitation_tokens_never_reach_the_log_even_at_debug() {
    let secret = "s3cr3t-t0ken-of-an-invitation";
    let stderr = logs_after(
        &["--bind", "127.0.0.1:0", "--media-bind", "127.0.0.1:0"],
        &[("HUDDLE_LOG", "debug")],
        &[
            &format!("/invite/{secret}"),
            &format!("/api/v1/invitations/{secret}"),
        ],
    )
    .await;
    assert!(
        stderr.contains("/api/v1/invitations/…"),
        "requests are still logged, token hidden: {stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let stderr = logs_of(&["--bind", "127.0.0.1:0", "--log-format", "json"]).await;
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "some log lines");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(stderr.contains("shutting down"), "the shutdown is logged");
}

/// Also the session report: the stays under way at the kill end where their last checkpoint
/// (every second here) left them, and are in the report after the restart.
#[tokio::test]
async fn a_running_breakout_session_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--report-checkpoint-secs",
        "1",
    ];
    let mut running = serve(&args, &[]);
    let anon = running.client.clone();
    let admin = first_administrator(&anon).await;
    admin
        .expect(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"email": "pat@example.org", "password": PASSWORD, "display_name": "Pat"})),
            StatusCode::CREATED,
        )
        .await;
    let pat = anon.login("pat@example.org").await;
    let room = admin.create_room("Survivor").await;
    admin
        .add_member(&room, "pat@example.org", "participant")
        .await;
    let b = format!("/api/v1/rooms/{room}/breakout");
    let settings = json!({"enabled": true, "mode": "manual", "free_movement": true, "duration_secs": 3600, "countdown_secs": 90});
    admin
        .expect(Method::PUT, &b, Some(settings), StatusCode::OK)
        .await;
    let created = admin
        .expect(
            Method::POST,
            &format!("{b}/rooms"),
            Some(json!({"names": ["Red", "Blue"]})),
            StatusCode::CREATED,
        )
        .await;
    let blue = created["rooms"][1]["id"].as_str().unwrap().to_owned();
    let pat_id = pat.person_id().await;
    admin
        .expect(
            Method::PUT,
            &format!("{b}/assignments/{pat_id}"),
            Some(json!({"breakout": blue})),
            StatusCode::OK,
        )
        .await;
    let _pat_events = pat.events(None).await;
    admin
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;
    let help = pat
        .expect(
            Method::POST,
            &format!("{b}/help"),
            None,
            StatusCode::CREATED,
        )
        .await;
    let before = admin.get(&b).await;
    // A checkpoint in which Pat has been in Blue for a while.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{data}/huddle.db"))
        .await
        .unwrap();
    let checkpointed = "SELECT COUNT(*) FROM stays WHERE under_way = 1 AND room_id = $1 \
                        AND ended_at > started_at AND kind = 'room'";
    common::wait_until_async(|| async {
        let n: i64 = sqlx::query_scalar(checkpointed)
            .bind(&blue)
            .fetch_one(&db)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    db.close().await;

    running.child.kill().unwrap(); // SIGKILL
    running.child.wait().unwrap();
    let running = serve(&args, &[]);
    let admin = running.client.login("admin@example.org").await;
    let after = admin.get(&b).await;
    for key in [
        "settings",
        "status",
        "round",
        "started_at",
        "ends_at",
        "help",
    ] {
        assert_eq!(after[key], before[key], "{key} survived");
    }
    assert_eq!(after["status"], "running");
    assert_eq!(after["help"][0]["id"], help["id"]);
    let names: Vec<&str> = after["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Red", "Blue"], "creation order survived");
    let pat_after = after["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person_id"] == pat_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(pat_after["assignment"], blue.as_str());
    assert!(
        pat_after["location"].is_null(),
        "locations are rebuilt from connections, and Pat is not connected yet"
    );
    // Pat reconnects and is back in Blue at once.
    let pat = running.client.login("pat@example.org").await;
    let _events = pat.events(None).await;
    let view = admin.get(&b).await;
    let pat_now = view["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person_id"] == pat_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(pat_now["location"], blue.as_str());
    // The report has Pat's time in Blue before the kill and the new stay, and the wait for help
    // since the request was made (once: the request is stored, its wait is not checkpointed).
    let report = admin.get(&format!("{b}/report")).await;
    let row = report["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person_id"] == pat_id.as_str())
        .unwrap()
        .clone();
    let in_blue: Vec<&serde_json::Value> = row["stays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["room_id"] == blue.as_str())
        .collect();
    assert_eq!(in_blue.len(), 2, "before and after the kill: {row}");
    assert!(
        in_blue[0]["to"].as_i64() > in_blue[0]["from"].as_i64(),
        "{row}"
    );
    let waits = row["help"].as_array().unwrap();
    assert_eq!(waits.len(), 1, "{row}");
    assert_eq!(waits[0]["from"], help["created_at"], "{row}");
    assert_eq!(waits[0]["outcome"], "waiting", "{row}");
}

#[tokio::test]
async fn uploads_and_undelivered_invitations_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    // Nothing listens on the SMTP port at first: the email stays queued for a retry.
    let port = common::free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--smtp-url",
        &smtp,
    ];
    let mut running = serve(&args, &[]);
    let anon = running.client.clone();
    let admin = first_administrator(&anon).await;
    let room = admin.create_room("Archive").await;
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let (status, item) = admin
        .upload(
            &room,
            "data.bin",
            "application/octet-stream",
            bytes.clone(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let invited = admin
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/invitations"),
            Some(json!({"emails": ["late@example.org"]})),
            StatusCode::CREATED,
        )
        .await;
    let id = invited["invitations"][0]["id"].as_str().unwrap().to_owned();
    let list = format!("/api/v1/rooms/{room}/invitations");
    admin.wait_for_mail_status(&room, "retrying").await;

    running.child.kill().unwrap(); // SIGKILL
    running.child.wait().unwrap();
    let sink = common::SmtpSink::start(port);
    let running = serve(&args, &[]);
    let admin = running.client.login("admin@example.org").await;
    let item_id = item["id"].as_str().unwrap();
    let response = admin
        .raw_get(&format!("/api/v1/rooms/{room}/content/{item_id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.bytes().await.unwrap().as_ref() == bytes.as_slice(),
        "the file survived whole"
    );
    let listed = admin.get(&list).await;
    assert_eq!(listed["invitations"][0]["id"], id.as_str());
    assert_eq!(listed["invitations"][0]["mail_status"], "retrying");
    // Resending makes it due now; it goes out and its link works.
    admin
        .expect(
            Method::POST,
            &format!("{list}/{id}/resend"),
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    let email = sink.wait_for(1).await.remove(0);
    let token = common::invite_link(&email)
        .trim_start_matches("/invite/")
        .to_owned();
    running
        .client
        .expect(
            Method::POST,
            &format!("/api/v1/invitations/{token}/accept"),
            Some(json!({"display_name": "Late Guest"})),
            StatusCode::OK,
        )
        .await;
}

#[tokio::test]
async fn text_logs_carry_no_colour_codes_into_a_pipe() {
    let stderr = logs_of(&["--bind", "127.0.0.1:0", "--media-bind", "127.0.0.1:0"]).await;
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
}

/// CPU time (user and system) a process has used so far, in seconds (Linux's USER_HZ is 100).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0] + fields[1]) as f64 / 100.0
}

/// Out of descriptors, the server does not spin on `accept`: it backs off, says so once (even
/// when it runs out again while the descriptors come back), and serves again.
#[tokio::test]
async fn out_of_descriptors_the_server_backs_off_and_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    // 128 descriptors, and caps that do not stop the server from trying to use more.
    let mut child = Command::new("prlimit")
        .args(["--nofile=128:128", "--"])
        .arg(env!("CARGO_BIN_EXE_huddle"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--media-bind",
            "127.0.0.1:0",
        ])
        .args([
            "--max-connections",
            "100000",
            "--max-connections-per-address",
            "0",
        ])
        .env("HUDDLE_DATA_DIR", dir.path())
        .env("HUDDLE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) and huddle");
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // The server goes with the test, even when an assertion fails.
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(child);
    let mut stdout = BufReader::new(stdout).lines();
    let url = stdout.next().unwrap().unwrap();
    let url = url.rsplit(' ').next().unwrap().to_owned();
    std::thread::spawn(move || for _ in stdout {});
    let logged = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = BufReader::new(stderr);
    std::thread::spawn({
        let logged = logged.clone();
        move || {
            for line in stderr.lines().map_while(Result::ok) {
                logged.lock().unwrap().push_str(&(line + "\n"));
            }
        }
    });
    let backing_off = || logged.lock().unwrap().matches("backing off").count();
    let healthz = || async {
        let get = reqwest::Client::new()
            .get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(2))
            .send();
        matches!(get.await, Ok(r) if r.status() == StatusCode::OK)
    };
    assert!(healthz().await);

    // More idle connections than the process may open: the kernel completes them all (its
    // backlog), the server accepts until it runs out of descriptors.
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let held: Vec<std::net::TcpStream> = (0..200)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    for _ in 0..100 {
        if backing_off() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(backing_off(), 1, "{}", logged.lock().unwrap());
    // Backing off, not spinning: over a second, far less than a second of CPU (a loop retrying
    // `accept` would keep a core busy).
    let cpu = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_seconds(pid) - cpu;
    assert!(
        used < 0.3,
        "{used} s of CPU in 1 s while out of descriptors"
    );

    // The descriptors come back: the server serves again (it retries at least once a second).
    drop(held);
    let mut served = false;
    for _ in 0..20 {
        if healthz().await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(served, "no answer after the descriptors came back");
    assert_eq!(backing_off(), 1, "at most one warning a minute");
}
