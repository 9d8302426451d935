//! The session report through the real server, on a clock the test moves: two rounds, a break,
//! someone leaving mid-round; every person's time per room adds up to the time they were
//! connected, each stay is where the rounds put them, and only owners and moderators see others'
//! rows.

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
            clock.advance(Duration::from_secs(60));
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

    // The CSV: a row per stay.
    let csv = owner.raw_get(&format!("{b}/report.csv?from={START}")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    let stays: usize = rows
        .values()
        .map(|r| r["stays"].as_array().unwrap().len())
        .sum();
    assert_eq!(text.lines().count(), 1 + stays, "{text}");
    assert!(text.starts_with("person,room,from,to,minutes\n"), "{text}");
    // W3's break in the main room: 60 to 90 s.
    assert!(
        text.contains("W3,Workshop,2030-03-17T17:47:40Z,2030-03-17T17:48:10Z,0.5\n"),
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
