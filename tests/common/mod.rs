//! Test harness: a real Huddle server on 127.0.0.1:0 with a temporary data directory, an HTTP
//! client and a WebSocket client.

#![allow(dead_code)] // each test binary uses a different part of the harness

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

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
