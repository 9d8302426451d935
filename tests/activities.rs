//! Activities through the real server: a moderator gives the breakout rooms a task with a
//! worksheet; each room sees its own task only once the round starts (a participant, a
//! breakout-only guest), hands in a text or a file, and at the end of the round the results land
//! in the main room named by their rooms. Who may do what, bad input, and a restart.

mod common;

use common::{Client, Events, TestServer, titles};
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Skips frames until one of type `kind`.
async fn next_of(events: &mut Events, kind: &str) -> Value {
    loop {
        let frame = events.next_raw().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// Each breakout room's `activity` in `client`'s view of the session, by room name.
async fn tasks(client: &Client, main: &str) -> Vec<(String, Value)> {
    let session = client.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    session["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["activity"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn rooms_get_a_task_at_the_start_and_their_results_land_in_the_main_room() {
    let server = TestServer::start_with(Settings {
        guests_with_breakouts: Some(true),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Geography").await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::PUT,
            &b,
            Some(json!({"enabled": true, "mode": "manual", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let created = owner
        .expect(
            Method::POST,
            &format!("{b}/rooms"),
            Some(json!({"names": ["Alps", "Baltic"]})),
            StatusCode::CREATED,
        )
        .await;
    let alps = created["rooms"][0]["id"].as_str().unwrap().to_owned();
    let baltic = created["rooms"][1]["id"].as_str().unwrap().to_owned();
    let pia = server.user(&owner, "Pia").await;
    owner
        .add_member(&main, "pia@example.org", "participant")
        .await;
    let pia_id = pia.person_id().await;
    owner
        .expect(
            Method::PUT,
            &format!("{b}/assignments/{pia_id}"),
            Some(json!({"breakout": alps})),
            StatusCode::OK,
        )
        .await;
    let gus = server
        .guest(&owner, &baltic, "gus@example.org", "Gus")
        .await;
    let outsider = server.user(&owner, "Out").await;
    // Bo: an account that is a direct member of Baltic only (a breakout-only member).
    let bo = server.user(&owner, "Bo").await;
    owner
        .add_member(&baltic, "bo@example.org", "participant")
        .await;
    let sheet = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content"),
            Some(json!({"kind": "link", "title": "Worksheet", "url": "https://example.org/sheet"})),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only owners and moderators set tasks; bad input is refused and changes nothing.
    let activity = format!("{b}/activity");
    let task = json!({"task": "Plan a three-day trip", "documents": [sheet]});
    for (client, status) in [
        (&pia, StatusCode::FORBIDDEN),
        (&gus, StatusCode::FORBIDDEN),
        (&bo, StatusCode::FORBIDDEN),
        (&outsider, StatusCode::NOT_FOUND),
    ] {
        let (got, answer) = client
            .call(Method::PUT, &activity, Some(task.clone()))
            .await;
        assert_eq!(got, status, "{answer}");
    }
    for (body, status, code) in [
        (
            json!({"task": "x".repeat(4_001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"task": "x", "documents": [alps]}),
            StatusCode::NOT_FOUND,
            "content_item_not_found",
        ),
        (
            json!({"task": "x", "rooms": [main]}),
            StatusCode::NOT_FOUND,
            "breakout_room_not_found",
        ),
        (
            json!({"task": "x", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
    ] {
        let (got, answer) = owner.call(Method::PUT, &activity, Some(body)).await;
        assert_eq!(got, status, "{answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"]["code"], code, "{answer}");
        }
    }
    assert!(tasks(&owner, &main).await.iter().all(|(_, a)| a.is_null()));

    let mut pia_events = pia.events(None).await;
    let mut gus_events = gus.events(None).await;
    let mut bo_events = bo.events(None).await;
    let mut outsider_events = outsider.events(None).await;
    let mut watch = owner.events(None).await;
    owner
        .expect(Method::PUT, &activity, Some(task), StatusCode::OK)
        .await;
    let set = next_of(&mut watch, "activity_set").await;
    assert_eq!(set["activity"]["task"], "Plan a three-day trip");
    // Prepared before the round: the moderators see it, the rooms' people not yet.
    let seen = tasks(&owner, &main).await;
    assert!(
        seen.iter()
            .all(|(_, a)| a["task"] == "Plan a three-day trip")
    );
    assert_eq!(seen[0].1["documents"][0]["title"], "Worksheet");
    assert!(tasks(&pia, &main).await.iter().all(|(_, a)| a.is_null()));
    assert!(tasks(&gus, &main).await.iter().all(|(_, a)| a.is_null()));
    assert!(tasks(&bo, &main).await.iter().all(|(_, a)| a.is_null()));
    // The worksheet is shared with the rooms.
    let listed = gus.get(&format!("/api/v1/rooms/{baltic}/content")).await;
    assert_eq!(titles(&listed), ["Worksheet"]);

    owner
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;
    next_of(&mut pia_events, "breakout_started").await;
    next_of(&mut gus_events, "breakout_started").await;
    next_of(&mut bo_events, "breakout_started").await;
    // Each sees their own room's task, and no other.
    let pia_sees = tasks(&pia, &main).await;
    assert_eq!(pia_sees[0].0, "Alps");
    assert_eq!(pia_sees[0].1["task"], "Plan a three-day trip");
    assert!(pia_sees[1].1.is_null(), "{pia_sees:?}");
    let gus_sees = tasks(&gus, &main).await;
    assert_eq!(gus_sees.len(), 1, "a guest sees their own room only");
    assert_eq!(gus_sees[0].1["documents"][0]["title"], "Worksheet");
    let bo_sees = tasks(&bo, &main).await;
    assert_eq!(
        bo_sees.len(),
        1,
        "a breakout-only member sees their own room only"
    );
    assert_eq!(bo_sees[0].1["task"], "Plan a three-day trip");

    // Handing in: Pia a text, Gus a file of his room; the owner is in no breakout room.
    let result = format!("{b}/result");
    let handed = pia
        .expect(
            Method::POST,
            &result,
            Some(json!({"text": "Day 1: Zermatt", "title": "Itinerary"})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(handed["by_name"], "Pia");
    let frame = next_of(&mut pia_events, "activity_set").await;
    assert_eq!(frame["activity"]["result"]["item"], handed["item"]);
    let (status, file) = gus
        .upload(&baltic, "map.svg", "image/svg+xml", b"<svg/>".to_vec(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    gus.expect(
        Method::POST,
        &result,
        Some(json!({"content_id": file["id"]})),
        StatusCode::CREATED,
    )
    .await;
    for (client, body, status) in [
        (&owner, json!({"text": "x"}), StatusCode::CONFLICT),
        (&outsider, json!({"text": "x"}), StatusCode::NOT_FOUND),
        (
            &pia,
            json!({"text": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &pia,
            json!({"text": "x", "content_id": file["id"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // Gus's map lives in Baltic, not in Pia's room.
        (
            &pia,
            json!({"content_id": file["id"]}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, answer) = client.call(Method::POST, &result, Some(body)).await;
        assert_eq!(got, status, "{answer}");
    }
    let alps_task = &tasks(&pia, &main).await[0].1;
    assert_eq!(alps_task["result"]["title"], "Itinerary");

    // The round ends: both results land in the main room, named by their rooms.
    owner
        .expect(Method::POST, &format!("{b}/stop"), None, StatusCode::OK)
        .await;
    next_of(&mut pia_events, "breakout_stopped").await;
    // Gus heard of his own room's task and result, never of Pia's.
    loop {
        let frame = gus_events.next_raw().await;
        if frame["type"] == "activity_set" {
            assert_eq!(frame["breakout"], baltic.as_str(), "{frame}");
        }
        if frame["type"] == "breakout_stopped" {
            break;
        }
    }
    let listed = pia.get(&format!("/api/v1/rooms/{main}/content")).await;
    let landed: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["promoted_from"].is_null())
        .collect();
    let mut names: Vec<&str> = landed
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Alps: Itinerary", "Baltic: map.svg"]);
    let itinerary = landed
        .iter()
        .find(|i| i["title"] == "Alps: Itinerary")
        .unwrap();
    assert_eq!(itinerary["promoted_from"]["room_name"], "Alps");
    let text = pia
        .raw_get(&format!(
            "/api/v1/rooms/{main}/content/{}",
            itinerary["id"].as_str().unwrap()
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "Day 1: Zermatt");
    // Between rounds: the task stays (for the moderators), the results are cleared.
    assert!(tasks(&pia, &main).await.iter().all(|(_, a)| a.is_null()));
    let kept = tasks(&owner, &main).await;
    assert!(
        kept.iter()
            .all(|(_, a)| a["task"] == "Plan a three-day trip" && a["result"].is_null())
    );

    // The tasks survive a restart.
    // Bo, in Baltic, heard of Baltic's task and result only; the outsider of nothing here.
    loop {
        let frame = bo_events.next_raw().await;
        if frame["type"] == "activity_set" {
            assert_eq!(frame["breakout"], baltic.as_str(), "{frame}");
        }
        if frame["type"] == "breakout_stopped" {
            break;
        }
    }
    let own = outsider.create_room("Elsewhere").await;
    outsider.post(&own, "outsider's marker").await;
    for frame in outsider_events
        .frames_until_message("outsider's marker")
        .await
    {
        let text = frame.to_string();
        assert!(
            !text.contains(&main) && !text.contains(&alps) && !text.contains(&baltic),
            "{frame}"
        );
    }
    drop((pia_events, gus_events, bo_events, outsider_events, watch));
    let dir = server.stop().await;
    let server = TestServer::start_full(
        dir,
        Settings::default(),
        std::sync::Arc::new(huddle::clock::SystemClock),
    )
    .await;
    let owner = server.anonymous().login("admin@example.org").await;
    let kept = tasks(&owner, &main).await;
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|(_, a)| a["task"] == "Plan a three-day trip")
    );
}
