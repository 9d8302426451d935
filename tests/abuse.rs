//! Abuse and leaks by people who are signed in, through the real server: one account flooding
//! the call server from many connections, connections that outlive their session or their
//! membership, breakout-only members and guests hearing of other rooms. (Attacks from outside,
//! before sign-in, are in `hardening.rs`.)

mod common;

use std::time::Instant;

use common::call::send;
use common::{Client, Events, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
    assert_eq!(sockets[0].close_code().await, Some(4008));
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
    assert_eq!(laptop_events.close_code().await, Some(4001));
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
    assert_eq!(phone_events.close_code().await, Some(4001));

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

/// Posts `marker` in `own` and in the main room and returns what each listener received up to it
/// (the listeners in `own`, the control in the main room), checking that no listener's frame
/// names any of `foreign`.
async fn heard(
    owner: &Client,
    (main, own): (&str, &str),
    ears: &mut [(&str, Events)],
    control: &mut Events,
    marker: &str,
    foreign: &[String],
) -> (Vec<Vec<Value>>, Vec<Value>) {
    owner.post(own, marker).await;
    owner.post(main, marker).await;
    let mut all = Vec::new();
    for (name, events) in ears.iter_mut() {
        let frames = events.frames_until_message(marker).await;
        for frame in &frames {
            let text = frame.to_string();
            for needle in foreign {
                assert!(
                    !text.contains(needle.as_str()),
                    "{name} heard of {needle} ({marker}): {text}"
                );
            }
        }
        all.push(frames);
    }
    (all, control.frames_until_message(marker).await)
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

/// The ids of the main room's breakout rooms other than `own`, as the owner sees them.
async fn rooms_besides(owner: &Client, main: &str, own: &str) -> Vec<String> {
    let view = owner.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    view["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .filter(|id| id != own)
        .collect()
}

#[tokio::test]
async fn breakout_only_members_and_guests_hear_nothing_of_other_rooms_on_the_event_stream() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let main = owner.create_room("Workshop").await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let p = server.user(&owner, &format!("P{i}")).await;
        owner
            .add_member(&main, &format!("p{i}@example.org"), "participant")
            .await;
        ids.push(p.person_id().await);
    }
    let p3 = server.anonymous().login("p3@example.org").await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "mode": "manual"})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Room 1", "Room 2"]}))
        .await;
    let (other, own) = (rooms[0].clone(), rooms[1].clone());
    // Bo is a member of Room 2 only; Gus a guest invited to it. Each listens twice: with the
    // dashboard open and without. P3, a main-room participant with the dashboard, is the control.
    let bo = server.user(&owner, "Bo").await;
    owner
        .add_member(&own, "bo@example.org", "participant")
        .await;
    let gus = server.guest(&owner, &own, "gus@example.org", "Gus").await;
    let mut ears = vec![
        ("Bo", bo.events(None).await),
        ("Bo with the dashboard", bo.events(None).await),
        ("Gus", gus.events(None).await),
        ("Gus with the dashboard", gus.events(None).await),
    ];
    ears[1].1.open_dashboard(&main).await;
    ears[3].1.open_dashboard(&main).await;
    let mut control = p3.events(None).await;
    control.open_dashboard(&main).await;
    let mut foreign = vec![other.clone(), "Room 1".to_owned()];

    // A new room that is not theirs.
    let secret = owner
        .breakout_rooms(&main, json!({"names": ["Secret"]}))
        .await;
    foreign.extend([secret[0].clone(), "Secret".to_owned()]);
    let (_, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m1",
        &foreign,
    )
    .await;
    assert_eq!(of_type(&seen, "breakout_rooms_created").len(), 1);

    // Another room renamed is not theirs to hear; their own is.
    for (room, name) in [(&other, "Hidden"), (&own, "Ours")] {
        owner
            .expect(
                Method::PATCH,
                &format!("/api/v1/rooms/{room}"),
                Some(json!({"name": name})),
                StatusCode::OK,
            )
            .await;
    }
    foreign.push("Hidden".to_owned());
    let (all, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m2",
        &foreign,
    )
    .await;
    for frames in &all {
        let renamed = of_type(frames, "room_renamed");
        assert_eq!(renamed.len(), 1, "{frames:?}");
        assert_eq!(renamed[0]["name"], "Ours");
    }
    assert_eq!(of_type(&seen, "room_renamed").len(), 2);

    // A CSV import places P1 in another room, P2 in theirs and P3 in a new one: the dashboards
    // get only the assignment to their room, and nobody hears of the new room.
    let csv = "room_name,first_name,last_name,email\n\
               Hidden,P,1,p1@example.org\n\
               Ours,P,2,p2@example.org\n\
               Brand new,P,3,p3@example.org\n";
    let response = owner
        .http
        .post(format!("{}{b}/assignments.csv", owner.url))
        .bearer_auth(owner.token.as_ref().unwrap())
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    foreign.extend(rooms_besides(&owner, &main, &own).await);
    foreign.extend(["Brand new".to_owned(), ids[0].clone(), ids[2].clone()]);
    foreign.dedup();
    let (all, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m3",
        &foreign,
    )
    .await;
    for (i, frames) in all.iter().enumerate() {
        let imported = of_type(frames, "assignments_imported");
        if i % 2 == 0 {
            assert!(imported.is_empty(), "without the dashboard: {frames:?}");
        } else {
            assert_eq!(imported.len(), 1, "{frames:?}");
            assert_eq!(
                imported[0]["assignments"],
                json!([{"person_id": ids[1], "breakout": own}])
            );
        }
        assert!(of_type(frames, "breakout_rooms_created").is_empty());
    }
    assert_eq!(
        of_type(&seen, "assignments_imported")[0]["assignments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(of_type(&seen, "breakout_rooms_created").len(), 1);
    foreign.retain(|f| f != &ids[0] && f != &ids[2]);

    // A rotation: the dashboards get only the assignments to their room.
    owner
        .expect(
            Method::POST,
            &format!("{b}/rotate"),
            Some(json!({"size": 2})),
            StatusCode::OK,
        )
        .await;
    foreign.extend(rooms_besides(&owner, &main, &own).await);
    foreign.dedup();
    let (all, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m4",
        &foreign,
    )
    .await;
    for (i, frames) in all.iter().enumerate() {
        let imported = of_type(frames, "assignments_imported");
        assert_eq!(imported.len(), i % 2, "{frames:?}");
        for a in imported
            .iter()
            .flat_map(|f| f["assignments"].as_array().unwrap())
        {
            assert_eq!(a["breakout"], own.as_str(), "{a}");
        }
    }
    assert_eq!(of_type(&seen, "assignments_imported").len(), 1);

    // A round: another room brought back early is not theirs to hear.
    owner
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;
    owner
        .expect(
            Method::POST,
            &format!("{b}/stop"),
            Some(json!({"rooms": [other]})),
            StatusCode::OK,
        )
        .await;
    let (all, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m5",
        &foreign,
    )
    .await;
    for frames in &all {
        assert!(
            of_type(frames, "rooms_brought_back").is_empty(),
            "{frames:?}"
        );
    }
    assert_eq!(of_type(&seen, "rooms_brought_back").len(), 1);
    owner
        .expect(Method::POST, &format!("{b}/stop"), None, StatusCode::OK)
        .await;

    // A document shared with another room and theirs: they hear of theirs only.
    let doc = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content"),
            Some(json!({"kind": "link", "title": "Agenda", "url": "https://example.org/agenda"})),
            StatusCode::CREATED,
        )
        .await;
    owner
        .expect(
            Method::POST,
            &format!(
                "/api/v1/rooms/{main}/content/{}/share",
                doc["id"].as_str().unwrap()
            ),
            Some(json!({"rooms": [other, own]})),
            StatusCode::OK,
        )
        .await;
    let (all, _) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m6",
        &foreign,
    )
    .await;
    for frames in &all {
        let shared = of_type(frames, "content_shared");
        assert_eq!(shared.len(), 1, "{frames:?}");
        assert_eq!(shared[0]["rooms"], json!([own]));
    }

    // Another room deleted is not theirs to hear.
    owner
        .expect(
            Method::DELETE,
            &format!("{b}/rooms/{other}"),
            None,
            StatusCode::OK,
        )
        .await;
    let (all, seen) = heard(
        &owner,
        (&main, &own),
        &mut ears,
        &mut control,
        "m7",
        &foreign,
    )
    .await;
    for frames in &all {
        assert!(of_type(frames, "breakout_rooms_deleted").is_empty());
    }
    assert_eq!(of_type(&seen, "breakout_rooms_deleted").len(), 1);

    // Replayed from the start on a new connection, the stream says no more.
    for who in [&bo, &gus] {
        let mut replay = who.events(Some(&format!("{main}:0"))).await;
        owner.post(&own, "m8").await;
        for frame in replay.frames_until_message("m8").await {
            let text = frame.to_string();
            for needle in &foreign {
                assert!(
                    !text.contains(needle.as_str()),
                    "replay: {needle} in {text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_owner_adds_by_id_only_people_they_may_see_and_a_guest_stays_in_their_room() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ada = server.user(&admin, "Ada").await;
    let mine = ada.create_room("Ada's class").await;
    let theirs = admin.create_room("Another class").await;
    let sam = server.user(&admin, "Sam").await;
    admin
        .add_member(&theirs, "sam@example.org", "participant")
        .await;
    let gus = server
        .guest(&admin, &theirs, "gus@example.org", "Gus")
        .await;
    // Ada moderates the staff room Pia is in.
    let pia = server.user(&admin, "Pia").await;
    let staff = admin.create_room("Staff").await;
    admin
        .add_member(&staff, "ada@example.org", "moderator")
        .await;
    admin
        .add_member(&staff, "pia@example.org", "participant")
        .await;
    let (sam_id, gus_id, pia_id) = (
        sam.person_id().await,
        gus.person_id().await,
        pia.person_id().await,
    );
    let members = format!("/api/v1/rooms/{mine}/members");

    // Someone Ada may not see, another room's guest and an id nobody has get the same answer.
    let nobody = huddle::ids::PersonId::new().to_string();
    let mut answers = Vec::new();
    for id in [&sam_id, &gus_id, &nobody] {
        let (status, body) = ada
            .call(Method::POST, &members, Some(json!({"person_id": id})))
            .await;
        answers.push((status, body["error"].clone()));
    }
    assert_eq!(answers[0].0, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let (status, body) = ada
        .call(
            Method::POST,
            &members,
            Some(json!({"person_ids": [pia_id, sam_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string()
            .contains(&format!("no such person: {sam_id}"))
    );
    // Nothing changed: only Ada is a member.
    let list = ada.get(&members).await;
    assert_eq!(list["members"].as_array().unwrap().len(), 1, "{list}");

    // Someone of a room she moderates she may add by id.
    ada.expect(
        Method::POST,
        &members,
        Some(json!({"person_id": pia_id})),
        StatusCode::CREATED,
    )
    .await;

    // A guest stays in the room they were invited to, whoever adds them.
    let staff_members = format!("/api/v1/rooms/{staff}/members");
    let (status, body) = admin
        .call(
            Method::POST,
            &staff_members,
            Some(json!({"person_id": gus_id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("invited to"), "{body}");
    let (status, _) = gus
        .call(Method::GET, &format!("/api/v1/rooms/{mine}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An administrator may add any account by id (to a room they manage).
    admin
        .expect(
            Method::POST,
            &staff_members,
            Some(json!({"person_id": sam_id})),
            StatusCode::CREATED,
        )
        .await;
}

#[tokio::test]
async fn the_smaller_holes_are_closed() {
    let server = TestServer::start_with(huddle::config::Settings {
        max_upload_bytes: Some(10_000),
        metrics_token: Some("scrape-me".into()),
        ..huddle::config::Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let main = admin.create_room("Class").await;
    let b = format!("/api/v1/rooms/{main}/breakout");

    // A JSON body must be an object: an array is not read as the fields in order.
    let (status, body) = admin
        .call(Method::POST, "/api/v1/rooms", Some(json!(["Array room"])))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("expected a JSON object"),
        "{body}"
    );
    let (status, body) = admin
        .call(Method::PUT, &b, Some(json!([true, "manual"])))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Meetings and the breakout schedule have schemas of their own names.
    let doc = admin.get("/api/v1/openapi.json").await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("MeetingRequest"));
    let meeting_body = &doc["paths"]["/api/v1/rooms/{room}/meetings"]["post"]["requestBody"];
    assert!(
        meeting_body.to_string().contains("MeetingRequest"),
        "{meeting_body}"
    );

    // Spreadsheet formulas in names are written as text in the plans' CSV.
    let plan = admin
        .expect(
            Method::POST,
            &format!("{b}/plans"),
            Some(json!({"name": "Formulas", "rooms": [
                {"name": "=HYPERLINK(\"http://evil.example\")", "people": [
                    {"email": "x@example.org", "first_name": "@SUM(A1)", "last_name": "+1"}]}]})),
            StatusCode::CREATED,
        )
        .await;
    let csv = admin
        .raw_get(&format!("{b}/plans/{}/csv", plan["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("'@SUM(A1),'+1"), "{csv}");

    // A file over the limit by far more than the form's framing is 413, not 400.
    let (status, body) = admin
        .upload(
            &main,
            "big.bin",
            "application/octet-stream",
            vec![7; 300_000],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // A name that disguises its type is refused, and says why.
    let (status, body) = admin
        .upload(
            &main,
            "invoice\u{202E}fdp.exe",
            "application/pdf",
            b"%PDF".to_vec(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("text-direction"), "{body}");

    // Deleting a breakout room through the rooms route: a moderator is refused for who they are
    // (403) before being told what the room is (409, for the owner).
    admin
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "mode": "manual"})),
            StatusCode::OK,
        )
        .await;
    let rooms = admin.breakout_rooms(&main, json!({"count": 1})).await;
    let mo = server.user(&admin, "Mo").await;
    admin.add_member(&main, "mo@example.org", "moderator").await;
    let path = format!("/api/v1/rooms/{}", rooms[0]);
    mo.expect(Method::DELETE, &path, None, StatusCode::FORBIDDEN)
        .await;
    admin
        .expect(Method::DELETE, &path, None, StatusCode::CONFLICT)
        .await;

    // Call messages: a room that is not an id, and a pin of someone of another main room, are
    // answered with what is wrong.
    let other = admin.create_room("Elsewhere").await;
    let stranger = server.user(&admin, "Stella").await;
    admin
        .add_member(&other, "stella@example.org", "participant")
        .await;
    let stella_id = stranger.person_id().await;
    let mut events = mo.events(None).await;
    send(
        &mut events,
        json!({"type": "call_join", "room": "lobby", "sdp": "v=0"}),
    )
    .await;
    let error = events.next_of("call_error").await;
    assert_eq!(error["code"], "bad_request", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("room"),
        "{error}"
    );
    send(
        &mut events,
        json!({"type": "call_pin", "room": main, "person_id": stella_id}),
    )
    .await;
    let error = events.next_of("call_error").await;
    assert_eq!(error["code"], "bad_request", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("person_id"),
        "{error}"
    );

    // `/metrics` asks for its token when one is set.
    let anonymous = server.anonymous();
    let (status, _) = anonymous.call(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let scraper = anonymous.with_token("scrape-me");
    let (status, text) = scraper.call(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.to_string().contains("huddle_"), "{text}");
}

#[tokio::test]
async fn an_address_tells_nobody_whether_it_has_an_account() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ada = server.user(&admin, "Ada").await;
    let main = ada.create_room("Ada's class").await;
    server.user(&admin, "Secret").await;
    let pia = server.user(&admin, "Pia").await;
    let staff = admin.create_room("Staff").await;
    admin
        .add_member(&staff, "ada@example.org", "moderator")
        .await;
    admin
        .add_member(&staff, "pia@example.org", "participant")
        .await;
    let members = format!("/api/v1/rooms/{main}/members");

    // Adding by address: an account Ada shares no room with, and an address nobody has, get the
    // same answer.
    let mut answers = Vec::new();
    for email in ["secret@example.org", "nobody@example.org"] {
        let (status, body) = ada
            .call(Method::POST, &members, Some(json!({"email": email})))
            .await;
        answers.push((status, body));
    }
    assert_eq!(
        answers[0].0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{answers:?}"
    );
    assert_eq!(answers[0], answers[1]);
    // Someone she may see she adds by address.
    ada.add_member(&main, "pia@example.org", "participant")
        .await;
    let _ = pia;

    // A rotation's attribute by address: someone not in this room is refused the same way,
    // whether or not the address has an account.
    let b = format!("/api/v1/rooms/{main}/breakout");
    ada.expect(
        Method::PUT,
        &b,
        Some(json!({"enabled": true, "mode": "manual"})),
        StatusCode::OK,
    )
    .await;
    let mut refusals = Vec::new();
    for email in ["secret@example.org", "nobody@example.org"] {
        let (status, body) = ada
            .call(
                Method::POST,
                &format!("{b}/rotate"),
                Some(
                    json!({"rooms": 1, "attribute_by_email": {"pia@example.org": "a", email: "b"}}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        refusals.push(body.to_string().replace(email, "ADDRESS"));
    }
    assert_eq!(refusals[0], refusals[1]);
    // An administrator may add any account by address.
    admin
        .add_member(&staff, "secret@example.org", "participant")
        .await;
}

#[tokio::test]
async fn uploads_have_a_quota_per_room_and_per_person() {
    let server = TestServer::start_with(huddle::config::Settings {
        upload_quota_per_room_mb: Some(2),
        upload_quota_per_person_mb: Some(1),
        ..huddle::config::Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let (a, b) = (admin.create_room("A").await, admin.create_room("B").await);
    let pat = server.user(&admin, "Pat").await;
    let mo = server.user(&admin, "Mo").await;
    admin.add_member(&a, "pat@example.org", "participant").await;
    admin.add_member(&a, "mo@example.org", "moderator").await;
    let file = || vec![1u8; 600_000];
    let upload = |who: &Client, room: &str| {
        let (who, room) = (who.clone(), room.to_owned());
        async move {
            who.upload(&room, "notes.bin", "application/octet-stream", file(), &[])
                .await
        }
    };

    // The administrator's second file, in another room, is over their own 1 MiB.
    assert_eq!(upload(&admin, &a).await.0, StatusCode::CREATED);
    let (status, body) = upload(&admin, &b).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"]["code"], "upload_quota");
    assert!(body.to_string().contains("your files"), "{body}");
    // Room A holds 2 MiB: three files of 600 kB fit, a fourth does not, whoever adds it.
    assert_eq!(upload(&mo, &a).await.0, StatusCode::CREATED);
    assert_eq!(upload(&pat, &a).await.0, StatusCode::CREATED);
    let (status, body) = upload(&pat, &a).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert!(body.to_string().contains("this room's files"), "{body}");
    // Nothing of the refused files was kept.
    let items = admin.get(&format!("/api/v1/rooms/{a}/content")).await;
    assert_eq!(items["items"].as_array().unwrap().len(), 3, "{items}");
    assert!(
        admin.get(&format!("/api/v1/rooms/{b}/content")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
