//! Test harness: a real Huddle server on 127.0.0.1:0 with a temporary data directory, an HTTP
//! client and a WebSocket client.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod call;

use std::time::Duration;

use futures_util::StreamExt;
use huddle::config::{Config, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Settings::default()).await
    }

    /// Starts a server; `settings` override the defaults (the data directory is always temporary).
    pub async fn start_with(settings: Settings) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, settings).await
    }

    pub async fn start_in(dir: tempfile::TempDir, settings: Settings) -> TestServer {
        Self::start_full(
            dir,
            settings,
            std::sync::Arc::new(huddle::clock::SystemClock),
        )
        .await
    }

    /// Starts a server whose time only moves when the test moves `clock`.
    pub async fn start_with_clock(
        settings: Settings,
        clock: huddle::clock::ManualClock,
    ) -> TestServer {
        Self::start_full(
            tempfile::tempdir().unwrap(),
            settings,
            std::sync::Arc::new(clock),
        )
        .await
    }

    pub async fn start_full(
        dir: tempfile::TempDir,
        settings: Settings,
        clock: huddle::clock::SharedClock,
    ) -> TestServer {
        let base = Settings {
            data_dir: Some(dir.path().to_owned()),
            media_bind: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        };
        let config = Config::resolve(settings.over(base)).expect("config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = huddle::Server::bind_with_clock(config, listener, clock)
            .await
            .expect("server");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server run");
        });
        TestServer {
            url: format!("http://{addr}"),
            addr,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully; whether it finished within `limit`.
    pub async fn stop_within(mut self, limit: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(limit, task).await.is_ok(),
            None => true,
        }
    }

    /// Stops the server gracefully and returns its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// What `/metrics` says now (Prometheus text).
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn anonymous(&self) -> Client {
        Client {
            url: self.url.clone(),
            http: reqwest::Client::new(),
            token: None,
            addr: self.addr,
        }
    }

    /// Runs first-run setup and signs the administrator in.
    pub async fn admin(&self) -> Client {
        let anon = self.anonymous();
        let (status, body) = anon
            .call(Method::POST, "/api/v1/setup", Some(json!({"email": "admin@example.org", "password": PASSWORD, "display_name": "Admin"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        anon.login("admin@example.org").await
    }

    /// Creates an account (as `admin`) and signs it in.
    pub async fn user(&self, admin: &Client, name: &str) -> Client {
        let email = format!("{}@example.org", name.to_lowercase());
        let (status, body) = admin
            .call(
                Method::POST,
                "/api/v1/accounts",
                Some(json!({"email": email, "password": PASSWORD, "display_name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.anonymous().login(&email).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub url: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    pub addr: std::net::SocketAddr,
}

impl Client {
    pub async fn login(&self, email: &str) -> Client {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/session",
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Client {
            token: Some(body["token"].as_str().unwrap().to_owned()),
            ..self.clone()
        }
    }

    pub async fn person_id(&self) -> String {
        self.get("/api/v1/session").await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends a request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// GET that must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Sends a request that must answer `expected`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer
    }

    /// Creates a main room; returns its id.
    pub async fn create_room(&self, name: &str) -> String {
        let body = self
            .expect(
                Method::POST,
                "/api/v1/rooms",
                Some(json!({"name": name})),
                StatusCode::CREATED,
            )
            .await;
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_member(&self, room: &str, email: &str, role: &str) {
        self.expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/members"),
            Some(json!({"email": email, "role": role})),
            StatusCode::CREATED,
        )
        .await;
    }

    pub async fn post(&self, room: &str, text: &str) -> Value {
        self.expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/messages"),
            Some(json!({"text": text})),
            StatusCode::CREATED,
        )
        .await
    }

    /// The texts people wrote in `room`'s chat, oldest first.
    pub async fn chat_texts(&self, room: &str) -> Vec<String> {
        self.get(&format!("/api/v1/rooms/{room}/messages?order=oldest"))
            .await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "user")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Posts `text` to `room`'s chat with an `Idempotency-Key`; the status and the answer.
    pub async fn post_keyed(&self, room: &str, text: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/rooms/{room}/messages", self.url))
            .bearer_auth(self.token.as_ref().unwrap())
            .header("Idempotency-Key", key)
            .json(&json!({"text": text}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Opens the event WebSocket; waits for `hello`.
    pub async fn events(&self, resume: Option<&str>) -> Events {
        let query = resume.map(|r| format!("?resume={r}")).unwrap_or_default();
        let url = format!("ws://{}/api/v1/events{query}", self.addr);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token.as_ref().unwrap())
                .parse()
                .unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        let mut events = Events { ws, hello: None };
        let hello = events.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        events.hello = Some(hello);
        events
    }
}

pub struct Events {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub hello: Option<Value>,
}

impl Events {
    /// The next JSON frame, skipping the presence events (`connected`, `disconnected`) that
    /// owners and moderators receive whenever someone comes or goes.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = self.next_raw().await;
            if frame["type"] != "connected" && frame["type"] != "disconnected" {
                return frame;
            }
        }
    }

    /// The next JSON frame, whatever it is (pings are answered by the client library); panics
    /// after 10 s.
    pub async fn next_raw(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("an event within 10 s")
                .expect("stream open")
                .expect("frame");
            match msg {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Skips frames until one of type `kind`.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// Reads until the server closes the connection; its close code (`None`: closed without
    /// one). Panics if it stays open for 10 s.
    pub async fn close_code(&mut self) -> Option<u16> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.ws.next())
                .await
                .expect("the server closes the connection within 10 s");
            match next {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Tells the server that the breakout dashboard of `room` is open on this connection, and
    /// waits for its confirmation.
    pub async fn open_dashboard(&mut self, room: &str) {
        let open = json!({"type": "dashboard", "room": room, "open": true});
        futures_util::SinkExt::send(&mut self.ws, Message::Text(open.to_string().into()))
            .await
            .unwrap();
        let confirmed = self.next().await;
        assert_eq!(
            (confirmed["type"].as_str(), confirmed["open"].as_bool()),
            (Some("dashboard"), Some(true))
        );
    }

    /// The frames received up to and including the chat message `text`.
    pub async fn frames_until_message(&mut self, text: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let frame = self.next_raw().await;
            let done = frame["type"] == "message_posted" && frame["message"]["text"] == text;
            seen.push(frame);
            if done {
                return seen;
            }
        }
    }
}

/// A real SMTP server (Python's aiosmtpd, `tests/smtp_sink.py`) that saves what it receives.
pub struct SmtpSink {
    child: std::process::Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    /// Starts the sink on `port`; waits until it accepts connections. The Python interpreter is
    /// Debian's (`python3-aiosmtpd`), or `HUDDLE_TEST_PYTHON`.
    pub fn start(port: u16) -> SmtpSink {
        Self::start_with(port, &[])
    }

    /// Starts a sink that requires STARTTLS with this certificate and key (PEM files).
    pub fn start_tls(port: u16, cert: &std::path::Path, key: &std::path::Path) -> SmtpSink {
        Self::start_with(port, &[cert.as_os_str(), key.as_os_str()])
    }

    fn start_with(port: u16, tls: &[&std::ffi::OsStr]) -> SmtpSink {
        use std::io::BufRead;
        let python =
            std::env::var("HUDDLE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = std::process::Command::new(&python)
            .arg(script)
            .arg(dir.path())
            .arg(port.to_string())
            .args(tls)
            .stdout(std::process::Stdio::piped())
            // Its log (a refused TLS handshake is a traceback there) goes beside the messages.
            .stderr(std::fs::File::create(dir.path().join("sink.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} (with aiosmtpd) must be installed (`bash scripts/test` installs it): {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (is python3-aiosmtpd installed? `bash scripts/test` installs it): {}",
            std::fs::read_to_string(dir.path().join("sink.log")).unwrap_or_default()
        );
        SmtpSink { child, dir, port }
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits (up to 20 s) until `n` messages have arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        wait_until(|| {
            let messages = self.messages();
            (messages.len() >= n).then_some(messages)
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 20 ms until it gives a value; panics after 20 s. For things another
/// process or task does in its own time (an email arriving), never for timers.
pub async fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The titles of a room's content list (`GET …/content`), in order.
pub fn titles(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

/// [`wait_until`] for a check that is itself async (a request, a query).
pub async fn wait_until_async<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The invitation link in an email (quoted-printable soft breaks undone).
pub fn invite_link(email: &str) -> String {
    let text = email.replace("=\r\n", "").replace("=\n", "");
    let start = text.find("/invite/").expect("an invitation link");
    let token: String = text[start + "/invite/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("/invite/{token}")
}

impl Client {
    /// A client signed in with a bearer token given by the server (a guest's).
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// Uploads a file to a room as multipart/form-data; returns the status and JSON answer.
    pub async fn upload(
        &self,
        room: &str,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(content_type)
            .unwrap();
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        let form = form.part("file", part);
        let response = self
            .http
            .post(format!("{}/api/v1/rooms/{room}/content", self.url))
            .bearer_auth(self.token.as_ref().unwrap())
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl TestServer {
    /// The newest email to `to` that Huddle wrote to its outbox folder (no SMTP configured);
    /// waits for it.
    pub async fn outbox_email(&self, to: &str) -> String {
        outbox_email_in(&self.dir.path().join("outbox"), to).await
    }

    /// Invites `email` to `room` as `inviter` and follows the emailed link as a guest named
    /// `name`; returns the guest's client.
    pub async fn guest(&self, inviter: &Client, room: &str, email: &str, name: &str) -> Client {
        guest_through(inviter, &self.dir.path().join("outbox"), room, email, name).await
    }
}

/// The newest email to `to` written to the outbox directory `dir` (waiting for it).
pub async fn outbox_email_in(dir: &std::path::Path, to: &str) -> String {
    let needle = format!("To: {to}");
    wait_until(|| {
        let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                let modified = e.metadata().ok()?.modified().ok()?;
                text.contains(&needle).then_some((modified, text))
            })
            .collect();
        found.sort_by_key(|(t, _)| *t);
        found.pop().map(|(_, text)| text)
    })
    .await
}

/// Invites `email` to `room` as `inviter`, reads the invitation from the outbox directory
/// `outbox` and accepts it (on `inviter`'s server) as a guest named `name`; returns the guest.
pub async fn guest_through(
    inviter: &Client,
    outbox: &std::path::Path,
    room: &str,
    email: &str,
    name: &str,
) -> Client {
    inviter
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/invitations"),
            Some(json!({"emails": [email]})),
            StatusCode::CREATED,
        )
        .await;
    let link = invite_link(&outbox_email_in(outbox, email).await);
    let token = link.trim_start_matches("/invite/");
    let anonymous = Client {
        token: None,
        ..inviter.clone()
    };
    let accepted = anonymous
        .expect(
            Method::POST,
            &format!("/api/v1/invitations/{token}/accept"),
            Some(json!({"display_name": name})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(accepted["room"], room, "{accepted}");
    anonymous.with_token(accepted["session"]["token"].as_str().unwrap())
}

impl Client {
    /// A GET with this client's token, answered as it is (a download, a CSV, a calendar).
    pub async fn raw_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.token.as_ref().unwrap())
            .send()
            .await
            .expect("request")
    }

    /// Creates breakout rooms in `main` (`body`: `{"count": N}` or `{"names": [...]}`); returns
    /// their ids.
    pub async fn breakout_rooms(&self, main: &str, body: Value) -> Vec<String> {
        let created = self
            .expect(
                Method::POST,
                &format!("/api/v1/rooms/{main}/breakout/rooms"),
                Some(body),
                StatusCode::CREATED,
            )
            .await;
        created["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Changes one breakout setting of `main`, keeping the others.
    pub async fn breakout_setting(&self, main: &str, key: &str, value: Value) {
        let path = format!("/api/v1/rooms/{main}/breakout");
        let mut settings = self.get(&path).await["settings"].clone();
        settings[key] = value;
        self.expect(Method::PUT, &path, Some(settings), StatusCode::OK)
            .await;
    }

    /// Polls the invitations of `room` until the newest one's email has `status`; returns it. For
    /// a delivery another task makes in its own time, never for a timer.
    pub async fn wait_for_mail_status(&self, room: &str, status: &str) -> Value {
        let path = format!("/api/v1/rooms/{room}/invitations");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let listed = self.get(&path).await;
            if listed["invitations"][0]["mail_status"] == status {
                return listed["invitations"][0].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {status} email: {listed}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
