//! The session report through the real server, on a clock the test moves: two rounds, a break,
//! someone leaving mid-round, help requests and a broadcast; every person's time per room adds up
//! to the time they were connected, each stay is where the rounds put them, each help request's
//! wait is as long as it was, and only owners and moderators see others' rows. (The call's part of
//! the report is tested with real calls in `tests/calls.rs`.)

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Client, Events, TestServer};
use huddle::clock::ManualClock;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const START: i64 = 1_900_000_000_000;

/// Skips frames (presence ones included) until one of type `kind` about `person`, if given.
async fn wait_for(events: &mut Events, kind: &str, person: Option<&str>) -> Value {
    loop {
        let frame = events.next_raw().await;
        if frame["type"] == kind && person.is_none_or(|p| frame["person_id"] == p) {
            return frame;
        }
    }
}

/// Each breakout room's people, by room id.
async fn rooms_of(owner: &Client, main: &str) -> HashMap<String, String> {
    let session = owner.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    let mut at = HashMap::new();
    for room in session["rooms"].as_array().unwrap() {
        for p in room["assigned"].as_array().unwrap() {
            at.insert(
                p.as_str().unwrap().to_owned(),
                room["id"].as_str().unwrap().to_owned(),
            );
        }
    }
    at
}

#[tokio::test]
async fn a_report_after_two_rounds_adds_up_to_the_time_connected() {
    let clock = ManualClock::new(START);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let owner = server.admin().await;
    let owner_id = owner.person_id().await;
    let main = owner.create_room("Workshop").await;
    let mut people = Vec::new();
    for i in 0..4 {
        let client = server.user(&owner, &format!("W{i}")).await;
        owner
            .add_member(&main, &format!("w{i}@example.org"), "participant")
            .await;
        let id = client.person_id().await;
        people.push((client, id));
    }
    let outsider = server.user(&owner, "Out").await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "duration_secs": 60, "countdown_secs": 0})),
            StatusCode::OK,
        )
        .await;
    let mut events = owner.events(None).await;
    let mut streams = Vec::new();
    for (client, id) in &people {
        streams.push(client.events(None).await);
        wait_for(&mut events, "connected", Some(id)).await;
    }

    // Round 1 (0–60 s), a break (60–90 s), round 2 (90–150 s) which W3 leaves at 110 s, then the
    // main room until the report at 160 s.
    let mut placed = Vec::new();
    for round in 0..2 {
        owner
            .expect(
                Method::POST,
                &format!("{b}/rotate"),
                Some(json!({"size": 2})),
                StatusCode::OK,
            )
            .await;
        placed.push(rooms_of(&owner, &main).await);
        owner
            .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
            .await;
        wait_for(&mut events, "breakout_started", None).await;
        if round == 1 {
            clock.advance(Duration::from_secs(20));
            streams.pop().unwrap().close().await;
            wait_for(&mut events, "disconnected", Some(&people[3].1)).await;
            clock.advance(Duration::from_secs(40));
        } else {
            // W0 asks for help at 10 s and is dismissed at 25 s; W1 asks at 30 s and the round
            // ends first; the owner broadcasts at 40 s.
            clock.advance(Duration::from_secs(10));
            let help = format!("{b}/help");
            let asked = people[0]
                .0
                .expect(Method::POST, &help, None, StatusCode::CREATED)
                .await;
            let request = asked["id"].as_str().unwrap().to_owned();
            clock.advance(Duration::from_secs(15));
            owner
                .expect(
                    Method::PATCH,
                    &format!("{b}/help/{request}"),
                    Some(json!({"action": "dismiss"})),
                    StatusCode::OK,
                )
                .await;
            clock.advance(Duration::from_secs(5));
            people[1]
                .0
                .expect(Method::POST, &help, None, StatusCode::CREATED)
                .await;
            clock.advance(Duration::from_secs(10));
            owner
                .expect(
                    Method::POST,
                    &format!("{b}/broadcast"),
                    Some(json!({"text": "Ten minutes left"})),
                    StatusCode::OK,
                )
                .await;
            clock.advance(Duration::from_secs(20));
        }
        wait_for(&mut events, "breakout_stopped", None).await;
        clock.advance(Duration::from_secs(if round == 0 { 30 } else { 10 }));
    }

    let report = owner.get(&format!("{b}/report?from={START}")).await;
    assert_eq!(report["to"], START + 160_000);
    let rows: HashMap<String, &Value> = report["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["person_id"].as_str().unwrap().to_owned(), p))
        .collect();
    assert_eq!(rows.len(), 5, "the owner and four participants: {report}");
    let ms_in = |row: &Value, room: &str| -> i64 {
        row["by_room"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["room_id"] == room)
            .map(|t| t["ms"].as_i64().unwrap())
            .sum()
    };
    for (i, (_, id)) in people.iter().enumerate() {
        let row = rows[id];
        let left = i == 3;
        let connected = if left { 110_000 } else { 160_000 };
        let by_room: i64 = row["by_room"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["ms"].as_i64().unwrap())
            .sum();
        assert_eq!(row["connected_ms"], connected, "{row}");
        assert_eq!(
            by_room, connected,
            "minutes per room add up to the time connected: {row}"
        );
        assert_eq!(
            ms_in(row, &main),
            if left { 30_000 } else { 40_000 },
            "{row}"
        );
        // Each round's room, for as long as the round kept them there.
        let (first, second) = (&placed[0][id], &placed[1][id]);
        let in_rounds = if first == second {
            ms_in(row, first)
        } else {
            assert_eq!(ms_in(row, first), 60_000, "{row}");
            ms_in(row, second)
        };
        let earlier = if first == second { 60_000 } else { 0 };
        let last = if left { 20_000 } else { 60_000 };
        assert_eq!(in_rounds, earlier + last, "{row}");
        // The stays, in order, tile the time connected.
        let stays = row["stays"].as_array().unwrap();
        assert_eq!(stays[0]["from"], START);
        for pair in stays.windows(2) {
            assert_eq!(pair[0]["to"], pair[1]["from"], "{row}");
        }
        assert_eq!(stays.last().unwrap()["to"], START + connected);
    }
    assert_eq!(rows[&owner_id]["connected_ms"], 160_000);
    // The help requests: W0 waited 15 s until dismissed, W1 30 s until the round ended.
    let waits = |i: usize| rows[&people[i].1]["help"].as_array().unwrap().clone();
    let (w0, w1) = (waits(0), waits(1));
    assert_eq!(w0.len(), 1, "{w0:?}");
    assert_eq!(
        (&w0[0]["from"], &w0[0]["waited_ms"], &w0[0]["room_id"]),
        (
            &json!(START + 10_000),
            &json!(15_000),
            &json!(placed[0][&people[0].1])
        ),
    );
    assert_eq!(w0[0]["outcome"], "dismissed by Admin");
    assert_eq!(
        (&w1[0]["waited_ms"], &w1[0]["outcome"]),
        (&json!(30_000), &json!("unanswered"))
    );
    assert!(waits(2).is_empty());
    let broadcasts = report["broadcasts"].as_array().unwrap();
    assert_eq!(broadcasts.len(), 1, "{report}");
    assert_eq!(
        (
            &broadcasts[0]["at"],
            &broadcasts[0]["text"],
            &broadcasts[0]["person_id"]
        ),
        (
            &json!(START + 40_000),
            &json!("Ten minutes left"),
            &json!(owner_id)
        )
    );
    // Nobody was in a call.
    assert!(
        rows.values()
            .all(|r| r["call_ms"] == 0 && r["call"] == json!([]))
    );
    assert_eq!(
        ms_in(rows[&owner_id], &main),
        160_000,
        "moderators stay in the main room"
    );

    // A participant sees their own row only; someone who is not a member, nothing.
    let mine = people[0].0.get(&format!("{b}/report?from={START}")).await;
    let listed: Vec<&str> = mine["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [people[0].1.as_str()]);
    assert_eq!(mine["people"][0]["help"].as_array().unwrap().len(), 1);
    assert_eq!(mine["broadcasts"], json!([]), "not theirs");
    let (status, _) = outsider
        .call(Method::GET, &format!("{b}/report"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider
        .call(Method::GET, &format!("{b}/report.csv"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A bad window is refused.
    let (status, answer) = owner
        .call(
            Method::GET,
            &format!("{b}/report?from={}&to={START}", START + 1),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    // The CSV: a row per stay, help request and broadcast.
    let csv = owner.raw_get(&format!("{b}/report.csv?from={START}")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    let stays: usize = rows
        .values()
        .map(|r| r["stays"].as_array().unwrap().len())
        .sum();
    assert_eq!(text.lines().count(), 1 + stays + 2 + 1, "{text}");
    assert!(
        text.starts_with("person,what,room,from,to,minutes,detail\n"),
        "{text}"
    );
    // W3's break in the main room: 60 to 90 s.
    assert!(
        text.contains("W3,room,Workshop,2030-03-17T17:47:40Z,2030-03-17T17:48:10Z,0.5,\n"),
        "{text}"
    );
    assert!(
        text.contains(",2030-03-17T17:46:50Z,2030-03-17T17:47:05Z,0.2,dismissed by Admin\n"),
        "{text}"
    );
    assert!(
        text.contains("Admin,broadcast,Workshop,2030-03-17T17:47:20Z,2030-03-17T17:47:20Z,0.0,Ten minutes left\n"),
        "{text}"
    );

    // After a restart the stays written before it are still there, and new ones begin.
    drop(streams);
    let dir = server.stop().await;
    let server =
        TestServer::start_full(dir, Settings::default(), std::sync::Arc::new(clock.clone())).await;
    let owner = server.anonymous().login("admin@example.org").await;
    let again = owner
        .get(&format!(
            "/api/v1/rooms/{main}/breakout/report?from={START}"
        ))
        .await;
    let w0 = again["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person_id"] == people[0].1.as_str())
        .expect("W0's row after the restart");
    assert_eq!(w0["connected_ms"], 160_000, "{w0}");
}

#[tokio::test]
async fn a_report_covers_at_most_the_days_its_stays_are_kept() {
    let settings = Settings {
        report_days: Some(2),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let owner = server.admin().await;
    let main = owner.create_room("Kept").await;
    let path = format!("/api/v1/rooms/{main}/breakout/report");
    let now = owner.get(&path).await["to"].as_i64().unwrap();
    let (status, answer) = owner
        .call(
            Method::GET,
            &format!("{path}?from={}", now - 3 * 86_400_000),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2 days"),
        "{answer}"
    );
    owner
        .expect(
            Method::GET,
            &format!("{path}?from={}", now - 86_400_000),
            None,
            StatusCode::OK,
        )
        .await;
}

/// Who sees what of the report, and of a schedule: the owner sees every row; a participant, a
/// breakout-only member and a breakout-only guest see their own; someone else gets 404. A
/// schedule's `schedule_changed` (its rotation names who is kept apart) reaches the owner only.
#[tokio::test]
async fn the_breakout_only_see_their_own_row_and_no_schedule() {
    let server = TestServer::start_with(Settings {
        guests_with_breakouts: Some(true),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Seminar").await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "mode": "manual", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner.breakout_rooms(&main, json!({"count": 2})).await;
    let pia = server.user(&owner, "Pia").await;
    owner
        .add_member(&main, "pia@example.org", "participant")
        .await;
    let bea = server.user(&owner, "Bea").await;
    owner
        .add_member(&rooms[0], "bea@example.org", "participant")
        .await;
    let gus = server
        .guest(&owner, &rooms[1], "gus@example.org", "Gus")
        .await;
    let outsider = server.user(&owner, "Out").await;

    let mut watch = owner.events(None).await;
    let mut streams = Vec::new();
    for client in [&pia, &bea, &gus] {
        streams.push(client.events(None).await);
        wait_for(&mut watch, "connected", Some(&client.person_id().await)).await;
    }
    owner
        .expect(
            Method::POST,
            &format!("{b}/schedule"),
            Some(json!({"rounds": 2, "duration_secs": 60, "rotation": {"size": 2}})),
            StatusCode::OK,
        )
        .await;
    wait_for(&mut watch, "schedule_changed", None).await;
    let guest_stream = streams.last_mut().unwrap();
    loop {
        let frame = guest_stream.next().await;
        assert_ne!(frame["type"], "schedule_changed", "{frame}");
        if frame["type"] == "breakout_started" {
            break;
        }
    }

    let everyone = owner.get(&format!("{b}/report")).await;
    assert_eq!(
        everyone["people"].as_array().unwrap().len(),
        4,
        "{everyone}"
    );
    for client in [&pia, &bea, &gus] {
        let id = client.person_id().await;
        let mine = client.get(&format!("{b}/report")).await;
        let rows: Vec<&Value> = mine["people"].as_array().unwrap().iter().collect();
        assert_eq!(rows.len(), 1, "{mine}");
        assert_eq!(rows[0]["person_id"], id.as_str());
        let csv = client
            .raw_get(&format!("{b}/report.csv"))
            .await
            .text()
            .await
            .unwrap();
        let name = rows[0]["display_name"].as_str().unwrap();
        assert!(
            csv.lines()
                .skip(1)
                .all(|l| l.starts_with(&format!("{name},"))),
            "{csv}"
        );
    }
    for path in [format!("{b}/report"), format!("{b}/report.csv")] {
        let (status, _) = outsider.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

/// A wait for help goes on across a restart: the request is stored with its time, so the wait is
/// one row from the request to its answer, however many times Huddle stopped in between.
#[tokio::test]
async fn a_wait_for_help_goes_on_across_a_restart() {
    let clock = ManualClock::new(START);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let owner = server.admin().await;
    let main = owner.create_room("Lab").await;
    let pat = server.user(&owner, "Pat").await;
    owner
        .add_member(&main, "pat@example.org", "participant")
        .await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "duration_secs": 3600})),
            StatusCode::OK,
        )
        .await;
    owner.breakout_rooms(&main, json!({"count": 1})).await;
    let mut watch = owner.events(None).await;
    let pat_events = pat.events(None).await;
    wait_for(&mut watch, "connected", Some(&pat.person_id().await)).await;
    owner
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;
    wait_for(&mut watch, "breakout_started", None).await;
    clock.advance(Duration::from_secs(5));
    let asked = pat
        .expect(
            Method::POST,
            &format!("{b}/help"),
            None,
            StatusCode::CREATED,
        )
        .await;
    clock.advance(Duration::from_secs(10));

    drop((watch, pat_events));
    let dir = server.stop().await;
    let server =
        TestServer::start_full(dir, Settings::default(), std::sync::Arc::new(clock.clone())).await;
    let owner = server.anonymous().login("admin@example.org").await;
    let waits = |report: &Value| -> Vec<Value> {
        report["people"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["help"].as_array().unwrap().clone())
            .collect()
    };
    let report = owner.get(&format!("{b}/report?from={START}")).await;
    let open = waits(&report);
    assert_eq!(open.len(), 1, "{report}");
    assert_eq!(
        (&open[0]["from"], &open[0]["waited_ms"], &open[0]["outcome"]),
        (&json!(START + 5_000), &json!(10_000), &json!("waiting"))
    );
    clock.advance(Duration::from_secs(5));
    owner
        .expect(
            Method::PATCH,
            &format!("{b}/help/{}", asked["id"].as_str().unwrap()),
            Some(json!({"action": "dismiss"})),
            StatusCode::OK,
        )
        .await;
    let report = owner.get(&format!("{b}/report?from={START}")).await;
    let done = waits(&report);
    assert_eq!(done.len(), 1, "one wait, not one per run: {report}");
    assert_eq!(
        (&done[0]["waited_ms"], &done[0]["outcome"]),
        (&json!(15_000), &json!("dismissed by Admin"))
    );
}

/// A stay of a kind this version does not know (written by a newer one, or damaged) makes the
/// report fail rather than count it as time in a room.
#[tokio::test]
async fn a_stay_of_an_unknown_kind_is_an_error_never_room_time() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let main = owner.create_room("Kinds").await;
    let me = owner.person_id().await;
    let path = format!("/api/v1/rooms/{main}/breakout/report");
    let to = owner.get(&path).await["to"].as_i64().unwrap();
    let url = format!("sqlite://{}", server.dir.path().join("huddle.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO stays (main_id, person_id, room_id, room_name, started_at, ended_at, kind, \
         detail, under_way) VALUES ($1, $2, $1, 'Kinds', $3, $4, 'poll', '', 0)",
    )
    .bind(&main)
    .bind(&me)
    .bind(to - 60_000)
    .bind(to - 1_000)
    .execute(&db)
    .await
    .unwrap();
    let (status, answer) = owner.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert!(answer["people"].is_null(), "{answer}");
}
