//! Calls through the real server: signalling on the event WebSocket, media over real UDP on
//! 127.0.0.1, synthetic str0m participants standing in for browsers, and the breakout engine
//! moving people while the media keeps flowing on the same connections.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::call::{Person, breakout, class, command, drain, expect_senders, send, watch};
use common::{Client, TestServer, wait_until_async};
use huddle::config::Settings;
use huddle::media::synthetic::{Synthetic, drive};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use str0m::net::Protocol;
use tokio::net::UdpSocket;

/// Turns breakout rooms on in manual mode in `main` and creates rooms as `body` asks; returns
/// their ids.
async fn manual_rooms(owner: &Client, main: &str, body: Value) -> Vec<String> {
    owner
        .expect(
            Method::PUT,
            &breakout(main, ""),
            Some(json!({"enabled": true, "mode": "manual"})),
            StatusCode::OK,
        )
        .await;
    owner.breakout_rooms(main, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_switch_media_on_the_same_connection() {
    let server = TestServer::start_with(Settings {
        guests_with_breakouts: Some(true),
        ..Settings::default()
    })
    .await;
    let (owner, p1, p2, main) = class(&server).await;
    let bo = server.user(&owner, "Bo").await;
    let stranger = server.user(&owner, "Stranger").await;
    let rooms = manual_rooms(&owner, &main, json!({"names": ["Red", "Blue"]})).await;
    let (red, blue) = (rooms[0].clone(), rooms[1].clone());
    // A breakout-only member and a guest live in Blue.
    owner
        .add_member(&blue, "bo@example.org", "participant")
        .await;
    let guest = server
        .guest(&owner, &blue, "gail@example.org", "Gail")
        .await;

    let mut o = Person::join(&owner, "owner", 0, &main).await;
    let mut a = Person::join(&p1, "Pia", 1, &main).await;
    let mut b = Person::join(&p2, "Pavel", 2, &main).await;
    let mut g = Person::join(&guest, "Gail", 3, &main).await;
    let mut m = Person::join(&bo, "Bo", 4, &main).await;
    // Without a cluster no answer names a node (nor does any `hello` a call node).
    assert!([&o, &a, &b, &g, &m].iter().all(|p| p.node.is_none()));
    let hello = o.events.hello.clone().unwrap();
    let streams = hello["streams"].as_array().unwrap();
    assert!(
        streams.iter().any(|s| s["stream"] == main.as_str()),
        "{hello}"
    );
    assert!(
        streams.iter().all(|s| s.get("call_node").is_none()),
        "{hello}"
    );
    let everyone = watch(&[&o, &a, &b, &g, &m]);
    let call_ids: Vec<Value> = {
        let mut ids = Vec::new();
        for p in [&mut o, &mut a, &mut b, &mut g, &mut m] {
            let state = p.events.next_of("call_state").await;
            ids.push(state["call_id"].clone());
        }
        ids
    };

    // Before a round: the main room's three together, Blue's two together.
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1], &[4], &[3]],
        "before the round",
    )
    .await;

    // Start: Pia to Red, Pavel to Blue; the owner stays in the main room.
    for (person, room) in [(&a.id, &red), (&b.id, &blue)] {
        owner
            .expect(
                Method::PUT,
                &breakout(&main, &format!("/assignments/{person}")),
                Some(json!({"breakout": room})),
                StatusCode::OK,
            )
            .await;
    }
    owner
        .expect(
            Method::POST,
            &breakout(&main, "/start"),
            None,
            StatusCode::OK,
        )
        .await;
    expect_senders(
        &everyone,
        &[&[], &[], &[3, 4], &[2, 4], &[2, 3]],
        "after start",
    )
    .await;

    // Move Pavel to Red.
    owner
        .expect(
            Method::POST,
            &breakout(&main, "/move"),
            Some(json!({"person_id": b.id, "breakout": red})),
            StatusCode::OK,
        )
        .await;
    expect_senders(&everyone, &[&[], &[2], &[1], &[4], &[3]], "after the move").await;

    // Bring back Red: Pia and Pavel join the owner.
    owner
        .expect(
            Method::POST,
            &breakout(&main, "/stop"),
            Some(json!({"rooms": [red]})),
            StatusCode::OK,
        )
        .await;
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1], &[4], &[3]],
        "after bring back",
    )
    .await;

    // Stop: Blue's own people stay in Blue.
    owner
        .expect(
            Method::POST,
            &breakout(&main, "/stop"),
            None,
            StatusCode::OK,
        )
        .await;
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1], &[4], &[3]],
        "after stop",
    )
    .await;

    // A participant may not mute others; the owner may, and only the person can unmute.
    send(
        &mut a.events,
        json!({"type": "call_mute", "room": main, "person_id": b.id}),
    )
    .await;
    assert_eq!(a.events.next_of("call_error").await["code"], "forbidden");
    send(
        &mut o.events,
        json!({"type": "call_mute", "room": main, "person_id": a.id}),
    )
    .await;
    let muted = a.events.next_of("call_muted").await;
    assert_eq!(muted["by_name"], "Admin");
    assert_eq!(muted["by"], o.id.as_str(), "{muted}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let heard = b.media.lock().unwrap().senders_since(since, false);
        if heard == BTreeSet::from([0]) {
            break;
        }
        assert!(Instant::now() < deadline, "Pavel still hears {heard:?}");
    }
    send(
        &mut a.events,
        json!({"type": "call_media", "room": main, "mic": true, "camera": true, "screen": false}),
    )
    .await;
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1], &[4], &[3]],
        "after unmuting",
    )
    .await;

    // Someone who is not in the room cannot join its call, and bad messages are named.
    let mut x = stranger.events(None).await;
    send(
        &mut x,
        json!({"type": "call_join", "room": main, "sdp": "v=0"}),
    )
    .await;
    assert_eq!(x.next_of("call_error").await["code"], "not_in_room");
    send(&mut x, json!({"type": "call_join", "room": main})).await;
    let bad = x.next_of("call_error").await;
    assert_eq!(bad["code"], "bad_request");
    assert!(bad["message"].as_str().unwrap().contains("sdp"), "{bad}");

    // The guest and the breakout-only member never heard of the main room's people.
    for p in [&mut g, &mut m] {
        for frame in drain(&mut p.events).await {
            if frame["type"] == "call_state" {
                for person in frame["people"].as_array().unwrap() {
                    let name = person["display_name"].as_str().unwrap();
                    assert!(
                        ["Gail", "Bo", "Pavel"].contains(&name),
                        "{} learnt of {name}",
                        p.name
                    );
                }
            }
        }
    }

    // Pavel leaves the call; the others keep theirs, and chat still works for him.
    send(&mut b.events, json!({"type": "call_leave", "room": main})).await;
    let ended = b.events.next_of("call_ended").await;
    assert_eq!(ended["reason"], "left");
    let everyone = watch(&[&o, &a, &g, &m]);
    expect_senders(&everyone, &[&[1], &[0], &[4], &[3]], "after Pavel left").await;
    p2.post(&main, "still here").await;

    // Nobody reconnected: one ICE/DTLS connection each, the same call all along.
    for p in [&o, &a, &g, &m] {
        assert_eq!(p.connections(), 1, "{} connected once", p.name);
        p.media.lock().unwrap().check_continuity().unwrap();
    }
    for (p, id) in [&mut o, &mut a].into_iter().zip(&call_ids) {
        for frame in drain(&mut p.events).await {
            if frame["type"] == "call_state" {
                assert_eq!(&frame["call_id"], id);
            }
        }
    }

    let metrics = server.metrics().await;
    assert!(metrics.contains("huddle_call_peers 4"), "{metrics}");
    assert!(!metrics.contains("huddle_media_packets_forwarded_total 0\n"));
    // Sends the socket refused are counted (on loopback with room to spare, none).
    assert!(
        metrics.contains("huddle_media_sends_dropped_total 0\n"),
        "{metrics}"
    );
    for p in [o, a, b, g, m] {
        p.driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_floods_and_bad_offers_change_nothing_for_others() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    let o = Person::join(&owner, "owner", 0, &main).await;
    let mut a = Person::join(&p1, "Pia", 1, &main).await;
    let mut b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "all in").await;

    // Pia floods the signalling: she is told to slow down, and nobody else notices.
    for _ in 0..40 {
        send(
            &mut a.events,
            json!({"type": "call_media", "room": main, "mic": true, "camera": true, "screen": false}),
        )
        .await;
    }
    assert_eq!(a.events.next_of("call_error").await["code"], "rate_limited");
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "after the flood").await;

    // Offers of the wrong shape are refused by name, and leave the call alone. (From Pavel: Pia
    // has spent her budget, which all her connections share.)
    let mut extra = p2.events(None).await;
    for (sdp, code) in [
        ("v=0\r\n".to_owned(), "sdp_invalid"),
        ("x".repeat(300 * 1024), "sdp_too_large"),
    ] {
        send(
            &mut extra,
            json!({"type": "call_join", "room": main, "sdp": sdp}),
        )
        .await;
        let error = extra.next_of("call_error").await;
        assert_eq!(error["code"], code, "{error}");
    }
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cert = huddle::media::udp::certificate().unwrap();
    let (_, nine_slots) =
        Synthetic::new(9, socket.local_addr().unwrap(), Instant::now(), 20, 1, cert);
    send(
        &mut extra,
        json!({"type": "call_join", "room": main, "sdp": nine_slots}),
    )
    .await;
    let error = extra.next_of("call_error").await;
    assert_eq!(error["code"], "sdp_media", "{error}");
    // Datagrams from a stranger are dropped.
    for _ in 0..50 {
        socket
            .send_to(b"\x00\x01\x00\x00garbage-garbage-garbage", o.server_udp)
            .unwrap();
    }
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1]],
        "after bad offers and garbage",
    )
    .await;

    // The owner removes Pavel from the room: his call ends, and he is cut off both ways at once.
    owner
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{main}/members/{}", b.id),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let ended = b.events.next_of("call_ended").await;
    assert_eq!(ended["reason"], "removed");
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1], &[0], &[]], "after Pavel was removed").await;
    let metrics = server.metrics().await;
    assert!(metrics.contains("huddle_call_peers 2"), "{metrics}");
    assert!(
        !metrics.contains("huddle_media_dropped_datagrams_total 0\n"),
        "{metrics}"
    );
    for p in [o, a, b] {
        p.driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_change_restarts_ice_on_the_same_call() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    let o = Person::join(&owner, "owner", 0, &main).await;
    let mut a = Person::join(&p1, "Pia", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "all in").await;

    // Pia's network changes: her old socket is gone, and she restarts ICE from a new one on the
    // same connection (as a browser's restartIce() does), over the same WebSocket.
    a.driver.abort();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = a
        .media
        .lock()
        .unwrap()
        .restart(socket.local_addr().unwrap());
    send(
        &mut a.events,
        json!({"type": "call_restart", "room": main, "sdp": &offer}),
    )
    .await;
    let answer = a.events.next_of("call_answer").await;
    assert_eq!(answer["restart"], true, "{answer}");
    assert_eq!(answer["call_id"].as_u64(), Some(a.call_id), "the same call");
    a.media
        .lock()
        .unwrap()
        .answer(answer["sdp"].as_str().unwrap())
        .unwrap();
    a.driver = tokio::spawn(drive(socket, a.media.clone()));
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "after the restart").await;
    assert_eq!(a.connections(), 1, "no second DTLS handshake");
    let metrics = server.metrics().await;
    assert!(metrics.contains("huddle_call_peers 3"), "{metrics}");
    assert!(
        metrics.contains("huddle_call_peers_dropped_total 0\n"),
        "{metrics}"
    );

    // Someone in the room but not in the call, and someone not in the room, are refused; an
    // offer without new credentials is no restart. Nothing changes for the others.
    let quinn = server.user(&owner, "Quinn").await;
    owner
        .add_member(&main, "quinn@example.org", "participant")
        .await;
    let stranger = server.user(&owner, "Stella").await;
    for (client, code) in [(&quinn, "not_in_call"), (&stranger, "not_in_room")] {
        let mut events = client.events(None).await;
        send(
            &mut events,
            json!({"type": "call_restart", "room": main, "sdp": &offer}),
        )
        .await;
        assert_eq!(events.next_of("call_error").await["code"], code);
    }
    send(
        &mut a.events,
        json!({"type": "call_restart", "room": main, "sdp": &offer}),
    )
    .await;
    let error = a.events.next_of("call_error").await;
    assert_eq!(error["code"], "sdp_invalid", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("new ICE credentials"),
        "{error}"
    );
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1]],
        "after refused restarts",
    )
    .await;
    for p in [o, a, b] {
        p.driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_of_place_reroutes_the_call() {
    // The round's timer runs on a clock the test moves; media runs on real time.
    let clock = huddle::clock::ManualClock::new(1_700_000_000_000);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let (owner, p1, p2, main) = class(&server).await;
    owner
        .expect(
            Method::PUT,
            &breakout(&main, ""),
            Some(json!({"enabled": true, "mode": "free", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Red", "Blue"]}))
        .await;
    let (red, blue) = (rooms[0].clone(), rooms[1].clone());
    let o = Person::join(&owner, "owner", 0, &main).await;
    let a = Person::join(&p1, "Pia", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "before the round").await;

    // A free-mode round: nobody is placed; Pia, then Pavel, choose Red.
    command(&owner, breakout(&main, "/start"), None).await;
    command(
        &p1,
        breakout(&main, "/join"),
        Some(json!({"breakout": red})),
    )
    .await;
    expect_senders(&everyone, &[&[2], &[], &[0]], "after Pia chose Red").await;
    command(
        &p2,
        breakout(&main, "/join"),
        Some(json!({"breakout": red})),
    )
    .await;
    expect_senders(&everyone, &[&[], &[2], &[1]], "after Pavel chose Red").await;

    // Pia asks for help; the owner accepts and is in Red with them.
    let request = p1
        .expect(
            Method::POST,
            &breakout(&main, "/help"),
            None,
            StatusCode::CREATED,
        )
        .await;
    owner
        .expect(
            Method::PATCH,
            &breakout(&main, &format!("/help/{}", request["id"].as_str().unwrap())),
            Some(json!({"action": "accept"})),
            StatusCode::OK,
        )
        .await;
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1]],
        "after the owner accepted help",
    )
    .await;

    // The owner goes back to the main room and Pavel to Blue: three rooms, one person each.
    command(&owner, breakout(&main, "/leave"), None).await;
    command(
        &p2,
        breakout(&main, "/join"),
        Some(json!({"breakout": blue})),
    )
    .await;
    expect_senders(&everyone, &[&[], &[], &[]], "one person per room").await;

    // Red is deleted during the round: Pia is back in the main room, with the owner.
    owner
        .expect(
            Method::DELETE,
            &breakout(&main, &format!("/rooms/{red}")),
            None,
            StatusCode::OK,
        )
        .await;
    expect_senders(&everyone, &[&[1], &[0], &[]], "after Red was deleted").await;

    // The timer: ten minutes and the minute's countdown later, Pavel is back too.
    clock.advance(Duration::from_secs(600));
    clock.advance(Duration::from_secs(60));
    expect_senders(
        &everyone,
        &[&[1, 2], &[0, 2], &[0, 1]],
        "after the round ran out",
    )
    .await;
    for p in [&o, &a, &b] {
        assert_eq!(p.connections(), 1, "{} connected once", p.name);
        p.media.lock().unwrap().check_continuity().unwrap();
    }
    for p in [o, a, b] {
        p.driver.abort();
    }
}

/// A breakout command that must succeed.
/// With TURN configured, every client's `hello` carries TURN credentials of its own: a username
/// naming when they expire and whom they were given to, and the password the TURN server will
/// compute from the shared secret (checked here with an independent HMAC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_its_own_time_limited_turn_credentials() {
    let server = TestServer::start_with(Settings {
        ice_servers: Some("stun:stun.example.org:3478".into()),
        turn_urls: Some(
            "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349".into(),
        ),
        turn_secret: Some("shared with coturn".into()),
        turn_ttl_secs: Some(3600),
        ..Settings::default()
    })
    .await;
    let (owner, p1, _, _) = class(&server).await;
    let mut seen = Vec::new();
    for client in [&owner, &p1] {
        let before = time::OffsetDateTime::now_utc().unix_timestamp();
        let events = client.events(None).await;
        let hello = events.hello.clone().unwrap();
        let servers = hello["call"]["ice_servers"].as_array().unwrap().clone();
        assert_eq!(servers[0], json!({"urls": ["stun:stun.example.org:3478"]}));
        let turn = &servers[1];
        assert_eq!(
            turn["urls"],
            json!([
                "turn:turn.example.org:3478?transport=udp",
                "turns:turn.example.org:5349"
            ])
        );
        let username = turn["username"].as_str().unwrap();
        let (expiry, person) = username.split_once(':').unwrap();
        let expiry: i64 = expiry.parse().unwrap();
        assert!(
            (before + 3600..=before + 3660).contains(&expiry),
            "{username}"
        );
        assert_eq!(person, hello["person_id"].as_str().unwrap());
        let mut mac =
            <hmac::Hmac<sha1::Sha1> as hmac::KeyInit>::new_from_slice(b"shared with coturn")
                .unwrap();
        hmac::Mac::update(&mut mac, username.as_bytes());
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            hmac::Mac::finalize(mac).into_bytes(),
        );
        assert_eq!(turn["credential"], expected.as_str());
        seen.push(username.to_owned());
    }
    assert_ne!(seen[0], seen[1], "each person has their own");
}

/// ICE over TCP on the media port: a participant whose network lets no UDP through joins over a
/// TCP connection to the server's passive candidate, and sends and receives media with a
/// participant on UDP, through a move and back, on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_without_udp_joins_over_ice_tcp() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    let rooms = manual_rooms(&owner, &main, json!({"count": 1})).await;
    let o = Person::join(&owner, "owner", 0, &main).await;
    let a = Person::join_over(Protocol::Tcp, &p1, "Pia over TCP", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "in the main room").await;

    // Pia and Pavel go to a breakout room; her TCP path follows like any other.
    for person in [&a.id, &b.id] {
        owner
            .expect(
                Method::PUT,
                &breakout(&main, &format!("/assignments/{person}")),
                Some(json!({"breakout": rooms[0]})),
                StatusCode::OK,
            )
            .await;
    }
    command(&owner, breakout(&main, "/start"), None).await;
    expect_senders(&everyone, &[&[], &[2], &[1]], "in the breakout room").await;
    command(&owner, breakout(&main, "/stop"), None).await;
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "back together").await;
    assert_eq!(a.connections(), 1, "one connection, over TCP, all along");
    a.media.lock().unwrap().check_continuity().unwrap();
}

/// The simulcast layers of `sender`'s video that reached `media` since `since`.
fn layers_from(media: &Arc<Mutex<Synthetic>>, sender: u8, since: Instant) -> BTreeSet<u8> {
    let m = media.lock().unwrap();
    m.slots_of(true)
        .filter_map(|mid| m.got.get(mid))
        .flatten()
        .filter(|g| g.at >= since && g.sender == sender)
        .map(|g| g.layer)
        .collect()
}

/// Waits until `media` gets `sender`'s video in exactly `layers` over 600 ms; panics after 15 s.
async fn expect_layers(media: &Arc<Mutex<Synthetic>>, sender: u8, layers: &[u8], what: &str) {
    let want: BTreeSet<u8> = layers.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got = layers_from(media, sender, since);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: layers {got:?}, wanted {want:?}"
        );
    }
}

/// `call_view` for every video slot of `person` at `height`.
fn view_all(person: &Person, room: &str, height: u32) -> Value {
    let slots: serde_json::Map<String, Value> = person
        .media
        .lock()
        .unwrap()
        .slots_of(true)
        .map(|mid| (mid.to_string(), json!(height)))
        .collect();
    json!({"type": "call_view", "room": room, "slots": slots})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_gets_the_simulcast_layer_its_tiles_need() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    // The owner's camera goes in three layers; Pia shows her tiles as thumbnails, Pavel says
    // nothing (as large as the source sends).
    let o = Person::join_with(Protocol::Udp, &owner, "owner", 0, &main, 3).await;
    let mut a = Person::join(&p1, "Pia", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "in the main room").await;
    expect_layers(&a.media, 0, &[2], "Pia before she reports a size").await;
    let view = view_all(&a, &main, 150);
    send(&mut a.events, view).await;
    expect_layers(&a.media, 0, &[0], "Pia's thumbnails").await;
    expect_layers(&b.media, 0, &[2], "Pavel's large tiles").await;
    // Larger again: the middle layer (360 lines) for a 330-pixel tile.
    let view = view_all(&a, &main, 330);
    send(&mut a.events, view).await;
    expect_layers(&a.media, 0, &[1], "Pia's middle-sized tiles").await;
    // Naming a slot that is not one's own video slot changes nothing and says why.
    send(
        &mut a.events,
        json!({"type": "call_view", "room": main, "slots": {"0": 100}}),
    )
    .await;
    let error = a.events.next_of("call_error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not one of your video slots"),
        "{error}"
    );
    // Someone who is not in the room is refused before the media server hears of it.
    let stranger = server.user(&owner, "Stella").await;
    let mut events = stranger.events(None).await;
    send(
        &mut events,
        json!({"type": "call_view", "room": main, "slots": {"4": 100}}),
    )
    .await;
    let error = events.next_of("call_error").await;
    assert_eq!(error["code"], "not_in_room", "{error}");
    expect_layers(&a.media, 0, &[1], "Pia's tiles, unchanged").await;
    for p in [&o, &a, &b] {
        assert_eq!(p.connections(), 1, "{}: one connection all along", p.name);
        p.media.lock().unwrap().check_continuity().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_see_how_the_call_is_for_each_person_and_nobody_else_does() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    let rooms = manual_rooms(&owner, &main, json!({"count": 1})).await;
    let o = Person::join_with(Protocol::Udp, &owner, "owner", 0, &main, 3).await;
    let a = Person::join(&p1, "Pia", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1, 2], &[0, 2], &[0, 1]], "in the main room").await;

    // Within a few seconds every person has a row with traffic both ways.
    let path = format!("/api/v1/rooms/{main}/call/stats");
    let deadline = Instant::now() + Duration::from_secs(15);
    let stats = loop {
        let stats = owner.get(&path).await;
        let people = stats["people"].as_array().unwrap();
        let flowing = people.len() == 3
            && people.iter().all(|p| {
                p["connected"] == true
                    && p["sending_kbps"].as_u64().unwrap() > 0
                    && p["receiving_kbps"].as_u64().unwrap() > 0
                    && p["rtt_ms"].is_number()
            });
        if flowing {
            break stats;
        }
        assert!(Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(stats["room"], main.as_str());
    let row = |id: &str| {
        stats["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["person_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&o.id)["camera_layers"], 3, "{stats}");
    assert_eq!(row(&a.id)["display_name"], "Pia");
    assert_eq!(row(&a.id)["room"], main.as_str());
    // Pia sees the owner's camera in its top layer (she never said how large), of three.
    let pia_video = row(&a.id)["video"].as_array().unwrap().clone();
    let owner_tile = pia_video
        .iter()
        .find(|v| v["person_id"] == o.id.as_str())
        .unwrap();
    assert_eq!(owner_tile["layer"], 2, "{stats}");
    assert_eq!(owner_tile["layers"], 3, "{stats}");
    assert!(
        row(&a.id)["loss_to"].as_f64().unwrap_or(0.0) < 0.05,
        "{stats}"
    );

    // A breakout room's id gives the people of that room only (nobody is in it yet).
    let via = owner
        .get(&format!("/api/v1/rooms/{}/call/stats", rooms[0]))
        .await;
    assert_eq!(via["room"], main.as_str());
    assert_eq!(via["people"], json!([]), "{via}");

    // Nobody else: a participant, a guest and a breakout-only member are refused; those who are
    // not members of the main room are not told it exists.
    let guest = server
        .guest(&owner, &rooms[0], "gus@example.org", "Gus")
        .await;
    let bo = server.user(&owner, "Bo").await;
    owner
        .add_member(&rooms[0], "bo@example.org", "participant")
        .await;
    let stranger = server.user(&owner, "Stella").await;
    let via_breakout = format!("/api/v1/rooms/{}/call/stats", rooms[0]);
    for (who, client, path, status) in [
        ("a participant", &p1, &path, StatusCode::FORBIDDEN),
        (
            "a guest, by its breakout room",
            &guest,
            &via_breakout,
            StatusCode::FORBIDDEN,
        ),
        (
            "a guest, by the main room",
            &guest,
            &path,
            StatusCode::NOT_FOUND,
        ),
        (
            "a breakout-only member",
            &bo,
            &via_breakout,
            StatusCode::FORBIDDEN,
        ),
        (
            "a breakout-only member, by the main room",
            &bo,
            &path,
            StatusCode::NOT_FOUND,
        ),
        ("a stranger", &stranger, &path, StatusCode::NOT_FOUND),
    ] {
        let answer = client.call(Method::GET, path, None).await;
        assert_eq!(answer.0, status, "{who}: {}", answer.1);
    }
    // A breakout room's own moderator (a member of that room only) sees no more than that
    // room: not the three people in the main room's call.
    let mia = server.user(&owner, "Mia").await;
    owner
        .add_member(&rooms[0], "mia@example.org", "moderator")
        .await;
    let theirs = mia.get(&via_breakout).await;
    assert_eq!(theirs["people"], json!([]), "{theirs}");
}

/// The session report counts the call as the media server saw it: Pia joins with camera and
/// microphone, turns her camera off, is muted by the owner and leaves; each is a stay of its own,
/// all starting when she joined. Pavel, a participant, sees his own row only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_who_was_in_the_call_with_camera_and_microphone() {
    let server = TestServer::start().await;
    let (owner, p1, p2, main) = class(&server).await;
    let mut owner_events = owner.events(None).await;
    let mut pia = Person::join(&p1, "Pia", 1, &main).await;
    let pause = || tokio::time::sleep(Duration::from_millis(300));
    pause().await;
    send(
        &mut pia.events,
        json!({"type": "call_media", "room": main, "mic": true, "camera": false, "screen": false}),
    )
    .await;
    pause().await;
    send(
        &mut owner_events,
        json!({"type": "call_mute", "room": main, "person_id": pia.id}),
    )
    .await;
    pia.events.next_of("call_muted").await;
    pause().await;
    send(&mut pia.events, json!({"type": "call_leave", "room": main})).await;
    pia.events.next_of("call_ended").await;

    let path = breakout(&main, "/report");
    let of = |report: &Value, kind: &str| -> Vec<Value> {
        report["people"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["display_name"] == "Pia")
            .flat_map(|p| p["call"].as_array().unwrap().clone())
            .filter(|s| s["kind"] == kind)
            .collect()
    };
    // Until the call's stay has ended (an open one ends at the report's `to`).
    let report = wait_until_async(|| async {
        let report = owner.get(&path).await;
        let call = of(&report, "call");
        (call.len() == 1 && call[0]["to"].as_i64() < report["to"].as_i64()).then_some(report)
    })
    .await;
    let (call, camera, mic) = (
        of(&report, "call"),
        of(&report, "camera"),
        of(&report, "mic"),
    );
    assert_eq!((call.len(), camera.len(), mic.len()), (1, 1, 1), "{report}");
    let at = |s: &Value, end: &str| s[end].as_i64().unwrap();
    assert_eq!(at(&camera[0], "from"), at(&call[0], "from"));
    assert_eq!(at(&mic[0], "from"), at(&call[0], "from"));
    assert!(at(&camera[0], "to") < at(&mic[0], "to"), "{report}");
    assert!(at(&mic[0], "to") < at(&call[0], "to"), "{report}");
    let row = report["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Pia")
        .unwrap();
    let length = |s: &Value| at(s, "to") - at(s, "from");
    assert_eq!(row["call_ms"], length(&call[0]));
    assert_eq!(row["camera_ms"], length(&camera[0]));
    assert_eq!(row["mic_ms"], length(&mic[0]));
    let csv = owner
        .raw_get(&format!("{path}.csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\nPia,call,Class,"), "{csv}");
    assert!(csv.contains("\nPia,camera,Class,"), "{csv}");

    // Pia sees her own call; Pavel, never there, has no row.
    assert_eq!(of(&p1.get(&path).await, "call").len(), 1);
    assert_eq!(p2.get(&path).await["people"], json!([]));
}
