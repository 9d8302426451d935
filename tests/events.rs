//! The event WebSocket through the real server: order and sequence numbers, who hears what,
//! resume after reconnect, resync when too far behind or too slow, pings, and refusals.

mod common;

use std::time::Duration;

use common::TestServer;
use futures_util::StreamExt;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn events_arrive_in_order_with_sequence_numbers() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "Bob").await;
    let room = admin.create_room("Live").await;
    let mut admin_events = admin.events(None).await;
    let hello = admin_events.hello.clone().unwrap();
    assert_eq!(hello["streams"][0]["stream"], room.as_str());
    // The last release's name, kept for its clients (docs/api.md).
    assert_eq!(hello["streams"][0]["room"], room.as_str());
    let start = hello["streams"][0]["seq"].as_u64().unwrap();

    admin
        .add_member(&room, "bob@example.org", "participant")
        .await;
    let mut bob_events = bob.events(None).await;
    admin.post(&room, "one").await;
    bob.post(&room, "two").await;
    admin
        .expect(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}"),
            Some(json!({"name": "Live!"})),
            StatusCode::OK,
        )
        .await;

    let mut seen = Vec::new();
    for _ in 0..6 {
        let event = admin_events.next().await;
        assert_eq!(event["stream"], room.as_str());
        assert_eq!(event["room"], room.as_str());
        seen.push((
            event["seq"].as_u64().unwrap(),
            event["type"].as_str().unwrap().to_owned(),
        ));
    }
    let kinds: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "member_added",
            "message_posted",
            "message_posted",
            "message_posted",
            "room_renamed",
            "message_posted"
        ]
    );
    for (i, (seq, _)) in seen.iter().enumerate() {
        assert_eq!(
            *seq,
            start + 1 + i as u64,
            "consecutive sequence numbers: {seen:?}"
        );
    }
    // Bob joined after his own member_added: he sees the chat from there on, in the same order.
    let first = bob_events.next().await;
    assert_eq!(first["type"], "message_posted");
    assert_eq!(first["message"]["text"], "one");
    assert_eq!(bob_events.next().await["message"]["text"], "two");
    assert_eq!(bob_events.next().await["type"], "room_renamed");
}

#[tokio::test]
async fn only_members_hear_a_room_and_membership_changes_take_effect_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "Bob").await;
    let secret = admin.create_room("Secret").await;
    let open = admin.create_room("Open").await;
    admin
        .add_member(&open, "bob@example.org", "participant")
        .await;
    let mut bob_events = bob.events(None).await;
    let streams = bob_events.hello.as_ref().unwrap()["streams"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        streams.len(),
        1,
        "Bob only subscribes to rooms he belongs to: {streams:?}"
    );

    // Something in the secret room, then something in the open one: Bob's next event is the latter.
    admin.post(&secret, "not for Bob").await;
    admin.post(&open, "for Bob").await;
    let event = bob_events.next().await;
    assert_eq!(event["message"]["text"], "for Bob");

    // Added to the secret room, the stream starts at once with his own arrival.
    admin
        .add_member(&secret, "bob@example.org", "participant")
        .await;
    let added = bob_events.next().await;
    assert_eq!(added["type"], "member_added");
    assert_eq!(added["room"], secret.as_str());
    assert_eq!(
        bob_events.next().await["message"]["text"],
        "Bob joined as participant"
    );
    admin.post(&secret, "now for Bob").await;
    assert_eq!(bob_events.next().await["message"]["text"], "now for Bob");

    // Removed, he hears of his removal and nothing after it.
    let bob_id = bob.person_id().await;
    admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{secret}/members/{bob_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let removed = bob_events.next().await;
    assert_eq!(removed["type"], "member_removed");
    assert_eq!(removed["person_id"], bob_id.as_str());
    admin.post(&secret, "after Bob left").await;
    admin.post(&open, "still for Bob").await;
    assert_eq!(bob_events.next().await["message"]["text"], "still for Bob");

    // Deleting a room tells its members, and the stream ends.
    admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{open}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let deleted = bob_events.next().await;
    assert_eq!(deleted["type"], "room_deleted");
    assert_eq!(deleted["room"], open.as_str());
}

#[tokio::test]
async fn a_client_resumes_from_its_last_sequence_number() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let room = admin.create_room("Resume").await;
    let mut events = admin.events(None).await;
    admin.post(&room, "seen").await;
    let last = events.next().await["seq"].as_u64().unwrap();
    events.close().await;

    for text in ["missed 1", "missed 2", "missed 3"] {
        admin.post(&room, text).await;
    }
    let mut events = admin.events(Some(&format!("{room}:{last}"))).await;
    for (i, text) in ["missed 1", "missed 2", "missed 3"].iter().enumerate() {
        let event = events.next().await;
        assert_eq!(event["message"]["text"], *text);
        assert_eq!(event["seq"].as_u64().unwrap(), last + 1 + i as u64);
    }
    let hello = events.hello.as_ref().unwrap();
    assert_eq!(hello["streams"][0]["seq"].as_u64().unwrap(), last + 3);
    admin.post(&room, "live again").await;
    assert_eq!(events.next().await["message"]["text"], "live again");

    // Resuming survives a restart of the server: the tail of the stream is stored.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, Settings::default()).await;
    let admin = server.anonymous().login("admin@example.org").await;
    let mut events = admin.events(Some(&format!("{room}:{}", last + 1))).await;
    assert_eq!(events.next().await["message"]["text"], "missed 2");
}

#[tokio::test]
async fn a_client_too_far_behind_is_told_to_resync() {
    let server = TestServer::start_with(Settings {
        event_replay: Some(4),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let room = admin.create_room("Busy").await;
    for i in 0..10 {
        admin.post(&room, &format!("m{i}")).await;
    }
    let mut events = admin.events(Some(&format!("{room}:1"))).await;
    let resync = events.next().await;
    assert_eq!(resync["type"], "resync");
    assert_eq!(resync["room"], room.as_str());
    let snapshot = admin.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(resync["seq"], snapshot["seq"]);
    admin.post(&room, "after resync").await;
    let next = events.next().await;
    assert_eq!(
        next["seq"].as_u64().unwrap(),
        snapshot["seq"].as_u64().unwrap() + 1
    );
}

#[tokio::test]
async fn a_slow_client_overflows_into_a_resync_without_slowing_others() {
    let settings = Settings {
        ws_queue_frames: Some(4),
        max_message_chars: Some(70_000),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let admin = server.admin().await;
    let room = admin.create_room("Flood").await;
    let mut fast = admin.events(None).await;

    // A client with a tiny receive window that does not read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut request = format!("ws://{}/api/v1/events", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", admin.token.as_ref().unwrap())
            .parse()
            .unwrap(),
    );
    let (mut slow, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();

    // 120 frames of 60 kB outgrow every kernel buffer between the server and the slow client
    // (the send buffer grows to at most 4 MiB here), so the server's queue for it must overflow.
    let text = "x".repeat(60_000);
    let mut last_seq = 0;
    for _ in 0..120 {
        last_seq = admin.post(&room, &text).await["seq"].as_u64().unwrap();
        // The fast client keeps up the whole time.
        assert_eq!(fast.next().await["seq"].as_u64().unwrap(), last_seq);
    }

    // The slow client finally reads: some events, then a resync, then live events again.
    let mut saw_resync = None;
    let mut received = 0;
    while saw_resync.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "resync" {
                saw_resync = Some(frame["seq"].as_u64().unwrap());
            } else {
                received += 1;
            }
        }
    }
    assert!(
        received < 120,
        "the queue overflowed before everything was delivered ({received})"
    );
    let resync_seq = saw_resync.unwrap();
    assert!(resync_seq <= last_seq);
    admin.post(&room, "after the flood").await;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if frame["message"]["text"] == "after the flood" {
                break;
            }
            let seq = frame["seq"].as_u64().unwrap();
            assert!(
                seq > resync_seq,
                "only newer events follow the resync ({seq} after {resync_seq})"
            );
        }
    }
    let metrics = server.metrics().await;
    assert!(!metrics.contains("huddle_resyncs_total 0"), "{metrics}");
}

#[tokio::test]
async fn the_server_pings_and_drops_clients_that_stop_answering() {
    let server = TestServer::start_with(Settings {
        ws_ping_ms: Some(50),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let mut events = admin.events(None).await;
    // The client library answers pings as it reads; a ping arrives within a few intervals.
    let got_ping = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.ws.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => break true,
            Ok(Some(Ok(_))) => continue,
            _ => break false,
        }
    };
    assert!(got_ping);

    // A client that never reads never answers: the server closes it after two intervals.
    let mut silent = admin.events(None).await;
    let stream = silent.ws.get_mut();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        // Read raw bytes (so no pong is sent) until the server closes the connection.
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server closes a connection that does not answer pings"
    );
}

#[tokio::test]
async fn the_event_stream_refuses_strangers_and_foreign_pages() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let anon = server.anonymous();
    let (status, body) = anon.call(Method::GET, "/api/v1/events", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = admin.call(Method::GET, "/api/v1/events", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a plain GET is not a WebSocket: {body}"
    );
    assert_eq!(body["error"]["code"], "websocket_required");
    let (status, body) = admin
        .call(Method::GET, "/api/v1/events?resume=garbage", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A page on another origin using the session cookie is refused.
    let mut request = format!("ws://{}/api/v1/events", server.addr)
        .into_client_request()
        .unwrap();
    let cookie = format!("huddle_session={}", admin.token.as_ref().unwrap());
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(
        refused.is_err(),
        "a cross-origin WebSocket with the cookie must fail"
    );

    // The same cookie from the server's own origin works.
    let mut request = format!("ws://{}/api/v1/events", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", server.url.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("same-origin cookie WebSocket");
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_answered_with_a_1009_close() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut events = admin.events(None).await;
    let big = "x".repeat(400 * 1024);
    futures_util::SinkExt::send(&mut events.ws, Message::Text(big.into()))
        .await
        .unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.ws.next())
            .await
            .expect("an answer within 10 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
}

#[tokio::test]
async fn a_shutdown_tells_every_connection_the_server_is_going_away() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "Bob").await;
    let mut connections = vec![admin.events(None).await, bob.events(None).await];
    let stopping = tokio::spawn(server.stop_within(Duration::from_secs(10)));
    for events in &mut connections {
        // Whatever was queued first, then a close frame that says why.
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        let close = close.expect("a close code");
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason.as_str(), "server shutting down");
    }
    assert!(stopping.await.unwrap(), "the server stopped within 10 s");
}
