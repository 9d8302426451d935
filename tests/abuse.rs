//! Abuse by people who are signed in, through the real server: one account flooding the call
//! server from many connections, connections that outlive their session or their membership.
//! (Attacks from outside, before sign-in, are in `hardening.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::{Events, TestServer};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Sends a JSON text frame.
async fn send(events: &mut Events, message: Value) {
    events
        .ws
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// Reads until the server closes the connection; its close code (`None`: closed without one).
/// Panics if it stays open for 10 s.
async fn close_code(events: &mut Events) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline.into(), events.ws.next())
            .await
            .expect("the server closes the connection within 10 s");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// The `code`s of the next `n` `call_error` frames on `events` (other frames skipped).
async fn call_errors(events: &mut Events, n: usize) -> Vec<String> {
    let mut codes = Vec::new();
    while codes.len() < n {
        let frame = events.next().await;
        if frame["type"] == "call_error" {
            codes.push(frame["code"].as_str().unwrap_or_default().to_owned());
        }
    }
    codes
}

#[tokio::test]
async fn one_person_has_one_call_budget_across_connections_and_a_bounded_number_of_them() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let room = admin.create_room("Flooded").await;
    let pat = server.user(&admin, "Pat").await;
    admin
        .add_member(&room, "pat@example.org", "participant")
        .await;

    // Three connections of one participant each send 25 `call_mute`s (which a participant may
    // not do: every message that gets through the budget is answered `forbidden`, every one
    // that does not, `rate_limited`).
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(pat.events(None).await);
    }
    let pat_id = pat.person_id().await;
    let mute = json!({"type": "call_mute", "room": room, "person_id": pat_id});
    let started = Instant::now();
    for events in &mut sockets {
        for _ in 0..25 {
            send(events, mute.clone()).await;
        }
    }
    let mut codes = Vec::new();
    for events in &mut sockets {
        codes.extend(call_errors(events, 25).await);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let forbidden = codes.iter().filter(|c| *c == "forbidden").count();
    let limited = codes.iter().filter(|c| *c == "rate_limited").count();
    assert_eq!(forbidden + limited, 75, "{codes:?}");
    // One budget: a burst of 20 and 10 a second, whichever connection sends.
    let most = 20 + (10.0 * elapsed).ceil() as usize;
    assert!(
        (20..=most).contains(&forbidden),
        "{forbidden} got through in {elapsed:.2} s (at most {most}): {codes:?}"
    );

    // At most 20 connections: the 21st closes the oldest, with a code that says why.
    for _ in 3..21 {
        sockets.push(pat.events(None).await);
    }
    assert_eq!(close_code(&mut sockets[0]).await, Some(4008));
    // The others are still served.
    let last = sockets.last_mut().unwrap();
    admin.post(&room, "still here").await;
    assert_eq!(
        last.next_of("message_posted").await["message"]["text"],
        "still here"
    );
    // Someone else's connections are not counted against Pat.
    let mut admin_events = admin.events(None).await;
    admin.post(&room, "admin too").await;
    assert_eq!(
        admin_events.next_of("message_posted").await["message"]["text"],
        "admin too"
    );
}

#[tokio::test]
async fn a_session_that_ends_closes_its_websockets_and_a_removed_member_hears_no_more() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let room = admin.create_room("Class").await;
    let other = admin.create_room("Other class").await;
    let pat = server.user(&admin, "Pat").await;
    admin
        .add_member(&room, "pat@example.org", "moderator")
        .await;
    let pat_id = pat.person_id().await;
    let phone = server.anonymous().login("pat@example.org").await;
    let mut laptop_events = pat.events(None).await;
    let mut phone_events = phone.events(None).await;

    // Signing out on the laptop closes the laptop's connection (4001: sign in again), and
    // only that one.
    pat.expect(
        Method::DELETE,
        "/api/v1/session",
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(close_code(&mut laptop_events).await, Some(4001));
    admin.post(&room, "after sign-out").await;
    assert_eq!(
        phone_events.next_of("message_posted").await["message"]["text"],
        "after sign-out"
    );
    // The closed session cannot open another.
    let url = format!("ws://{}/api/v1/events", server.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", pat.token.as_ref().unwrap())
            .parse()
            .unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(request).await.is_err());

    // A new password set by an administrator ends every session, and their connections.
    admin
        .expect(
            Method::PUT,
            &format!("/api/v1/accounts/{pat_id}/password"),
            Some(json!({"password": "a brand new password"})),
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(close_code(&mut phone_events).await, Some(4001));

    // Someone removed from a room stops receiving its events at once, and nothing of it
    // reaches them after their removal (the next message they get is from their other room).
    let sam = server.user(&admin, "Sam").await;
    admin
        .add_member(&room, "sam@example.org", "participant")
        .await;
    admin
        .add_member(&other, "sam@example.org", "participant")
        .await;
    let sam_id = sam.person_id().await;
    let mut sam_events = sam.events(None).await;
    admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/members/{sam_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    admin.post(&room, "not for Sam").await;
    admin.post(&other, "for Sam").await;
    let next = sam_events.next_of("message_posted").await;
    assert_eq!(next["message"]["text"], "for Sam", "{next}");
    // And their call requests for that room are refused.
    send(&mut sam_events, json!({"type": "call_leave", "room": room})).await;
    assert_eq!(call_errors(&mut sam_events, 1).await, vec!["not_in_room"]);
}
