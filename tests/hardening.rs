//! Attacks from the outside, through the real server on loopback, each bounded: idle and slow
//! connections cannot take the server down, and a legitimate client still gets in.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::TestServer;
use huddle::config::Settings;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// How long until the server closes `stream` (whatever it answers first), or `None` if it is
/// still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + wait).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue, // an answer (a 408, say) before the close
        }
    }
}

/// A signed-out GET of `/healthz` from `from`, on a connection of its own.
async fn healthz_from(from: [u8; 4], server: &TestServer) -> StatusCode {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("healthz answers")
        .status()
}

#[tokio::test]
async fn idle_and_slow_connections_cannot_lock_anyone_out() {
    let server = TestServer::start_with(Settings {
        max_connections_per_address: Some(20),
        header_timeout_ms: Some(1000),
        body_timeout_ms: Some(400),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;

    // One client opens 60 idle connections: 20 are held, the other 40 closed on arrival.
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(connect_from([127, 0, 0, 9], server.addr).await);
    }
    // (At once: well before the header timeout, which would close a held one.)
    let mut refused = 0;
    for stream in &mut idle[20..] {
        if closed_within(stream, Duration::from_millis(300))
            .await
            .is_some()
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 40, "over the per-address cap, closed at once");
    // Meanwhile a legitimate client from elsewhere gets in.
    assert_eq!(healthz_from([127, 0, 0, 10], &server).await, StatusCode::OK);
    // The 20 held ones send nothing: each is closed after the header timeout, and the address
    // may connect again.
    for stream in &mut idle[..20] {
        let after = closed_within(stream, Duration::from_secs(10)).await;
        assert!(after.is_some(), "an idle connection is closed");
    }
    assert_eq!(healthz_from([127, 0, 0, 9], &server).await, StatusCode::OK);

    // Slow headers: half a request line, then nothing.
    let mut slow = connect_from([127, 0, 0, 11], server.addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(10))
            .await
            .is_some()
    );

    // A keep-alive connection left idle after a request is closed as well.
    let mut kept = connect_from([127, 0, 0, 11], server.addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 64];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..n]
    );
    assert!(
        closed_within(&mut kept, Duration::from_secs(10))
            .await
            .is_some()
    );

    // A body that never ends: 10 of the 1,000 bytes promised, then nothing.
    let mut body = connect_from([127, 0, 0, 12], server.addr).await;
    body.write_all(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    assert!(
        closed_within(&mut body, Duration::from_secs(10))
            .await
            .is_some()
    );

    // A multipart upload that stalls half-way, signed in.
    let room = admin.create_room("Uploads").await;
    let mut upload = connect_from([127, 0, 0, 12], server.addr).await;
    let head = format!(
        "POST /api/v1/rooms/{room}/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nsome bytes",
        admin.token.as_ref().unwrap()
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    assert!(
        closed_within(&mut upload, Duration::from_secs(10))
            .await
            .is_some()
    );

    // The server is well, and counted what it refused.
    assert_eq!(healthz_from([127, 0, 0, 13], &server).await, StatusCode::OK);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("huddle_connections_refused_total 40"),
        "{metrics}"
    );
}

/// The value of a gauge or counter on `/metrics`.
async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_person_owns_a_bounded_number_of_rooms_and_idle_rooms_leave_memory() {
    let server = TestServer::start_with(Settings {
        max_rooms_per_person: Some(3),
        room_idle_secs: Some(1),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let mo = server.user(&admin, "Mo").await;
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(mo.create_room(&format!("Room {i}")).await);
    }
    mo.post(&rooms[0], "before the room was unloaded").await;
    let (status, body) = mo
        .call(
            reqwest::Method::POST,
            "/api/v1/rooms",
            Some(serde_json::json!({"name": "One too many"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "room_quota");
    assert_eq!(
        mo.get("/api/v1/rooms").await["rooms"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Administrators are not limited.
    for i in 0..4 {
        admin.create_room(&format!("Admin room {i}")).await;
    }
    assert_eq!(metric(&server, "huddle_room_actors").await, 7.0);

    // Nobody is connected to them: a second later they are out of memory...
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&server, "huddle_room_actors").await > 0.0 {
        assert!(Instant::now() < deadline, "idle rooms stay loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and come back whole when asked for.
    let chat = mo
        .get(&format!("/api/v1/rooms/{}/messages", rooms[0]))
        .await;
    assert_eq!(chat["messages"][0]["text"], "before the room was unloaded");
    mo.post(&rooms[0], "after").await;
    assert_eq!(metric(&server, "huddle_room_actors").await, 1.0);
    // A room someone is connected to stays; when they leave, it goes again.
    let events = mo.events(None).await;
    assert!(metric(&server, "huddle_room_actors").await >= 3.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        metric(&server, "huddle_room_actors").await >= 3.0,
        "kept while connected"
    );
    events.close().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&server, "huddle_room_actors").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "rooms stay loaded after the last connection left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client that stops reading in the middle of a large download (as when its network is gone)
/// holds its response open; Huddle stops anyway once the shutdown grace time is up, instead of
/// waiting for TCP to give up (minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_download_does_not_hold_up_shutdown() {
    let settings = Settings {
        shutdown_grace_ms: Some(500),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let owner = server.admin().await;
    let room = owner.create_room("Files").await;
    let (status, item) = owner
        .upload(
            &room,
            "big.bin",
            "application/octet-stream",
            vec![7u8; 24 << 20],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/rooms/{room}/content/{} HTTP/1.1\r\nHost: huddle\r\nAuthorization: Bearer {}\r\n\r\n",
        item["id"].as_str().unwrap(),
        owner.token.as_deref().unwrap()
    );
    stuck.write_all(request.as_bytes()).await.unwrap();
    // The answer starts; then the client reads nothing more, and the socket buffers fill.
    let mut head = [0u8; 64];
    let n = stuck.read(&mut head).await.unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.stop_within(Duration::from_secs(30)).await,
        "the stuck download held up the shutdown"
    );
    drop(stuck);
}

/// Requests that arrive just as a room's actor unloads, or as the room is deleted, reach the next
/// actor or hear that the room is gone: never the `503 unavailable` meant for a server that
/// cannot serve the room (issue 28's unexplained 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_an_unloading_or_deleted_room_are_answered() {
    let server = TestServer::start_with(Settings {
        room_idle_secs: Some(1),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    // Each room is written to about once a second, a little before or after its actor's idle
    // second ends, so that some writes arrive while the actor unloads.
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..10u64 {
        let (admin, room) = (
            admin.clone(),
            admin.create_room(&format!("Unloading {i}")).await,
        );
        writers.spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..6 {
                let (status, body) = admin
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/rooms/{room}/messages"),
                        Some(serde_json::json!({"text": format!("{n}")})),
                    )
                    .await;
                statuses.push((status, body));
                tokio::time::sleep(Duration::from_millis(985 + 3 * i)).await;
            }
            statuses
        });
    }
    // Rooms deleted under a burst of writes: each write is stored or finds no room.
    for i in 0..10 {
        let room = admin.create_room(&format!("Deleted {i}")).await;
        let mut burst = tokio::task::JoinSet::new();
        for n in 0..8 {
            let (admin, room) = (admin.clone(), room.clone());
            burst.spawn(async move {
                admin
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/rooms/{room}/messages"),
                        Some(serde_json::json!({"text": format!("{n}")})),
                    )
                    .await
            });
        }
        let (status, body) = admin
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/rooms/{room}"),
                None,
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        while let Some(answer) = burst.join_next().await {
            let (status, body) = answer.unwrap();
            assert!(
                status == StatusCode::CREATED || status == StatusCode::NOT_FOUND,
                "a write racing the deletion: {status} {body}"
            );
        }
    }
    while let Some(statuses) = writers.join_next().await {
        for (status, body) in statuses.unwrap() {
            assert_eq!(
                status,
                StatusCode::CREATED,
                "a write racing an unload: {body}"
            );
        }
    }
}
