//! Scheduled meetings through the real server: scheduling from inside a breakout room, the list of
//! upcoming meetings, the `.ics` file read back by an independent parser, and bad input.

mod common;

use std::time::Duration;

use common::TestServer;
use huddle::clock::ManualClock;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::json;

const NOW: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

#[tokio::test]
async fn meetings_are_scheduled_in_a_breakout_room_listed_and_exported_as_ics() {
    let clock = ManualClock::new(NOW);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let owner = server.admin().await;
    let pupil = server.user(&owner, "Pupil").await;
    let outsider = server.user(&owner, "Outsider").await;
    let main = owner.create_room("Physics; Lab, 2").await;
    owner
        .add_member(&main, "pupil@example.org", "participant")
        .await;
    let created = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/breakout/rooms"),
            Some(json!({"names": ["Optics"]})),
            StatusCode::CREATED,
        )
        .await;
    let breakout = created["rooms"][0]["id"].as_str().unwrap().to_owned();
    let pupil_id = pupil.person_id().await;
    owner
        .expect(
            Method::PUT,
            &format!("/api/v1/rooms/{main}/breakout/assignments/{pupil_id}"),
            Some(json!({"breakout": breakout})),
            StatusCode::OK,
        )
        .await;

    // From inside the breakout room, the meeting is that room's.
    let mut events = owner.events(None).await;
    let meeting = pupil
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{breakout}/meetings"),
            Some(json!({
                "title": "Write-up, part 1",
                "starts_at": "2027-01-15T10:00:00+01:00",
                "duration_mins": 90,
                "description": "Bring the measurements;\nand the graphs.",
            })),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(meeting["room_id"], breakout);
    assert_eq!(meeting["starts_at"], NOW + 3_600_000);
    let event = events.next_of("meeting_scheduled").await;
    assert_eq!(event["meeting"]["id"], meeting["id"]);
    let later = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{breakout}/meetings"),
            Some(json!({"title": "Presentation", "starts_at": NOW + 86_400_000, "duration_mins": 30})),
            StatusCode::CREATED,
        )
        .await;
    let list = pupil
        .get(&format!("/api/v1/rooms/{breakout}/meetings"))
        .await;
    let titles: Vec<_> = list["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].clone())
        .collect();
    assert_eq!(titles, [json!("Write-up, part 1"), json!("Presentation")]);
    assert!(
        owner.get(&format!("/api/v1/rooms/{main}/meetings")).await["meetings"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The .ics file, read back by an independent parser.
    let id = meeting["id"].as_str().unwrap();
    let response = pupil
        .raw_get(&format!(
            "/api/v1/rooms/{breakout}/meetings/{id}/calendar.ics"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"Write-up, part 1.ics\"; filename*=UTF-8''Write-up%2C%20part%201.ics",
        "saved under the meeting's title"
    );
    let text = response.text().await.unwrap();
    let calendar = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()))
        .next()
        .expect("one calendar")
        .expect("a valid calendar");
    assert_eq!(calendar.events.len(), 1);
    let prop = |name: &str| {
        calendar.events[0]
            .properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(prop("SUMMARY"), "Write-up\\, part 1");
    assert_eq!(prop("DTSTART"), "20270115T090000Z");
    assert_eq!(prop("DTEND"), "20270115T103000Z");
    assert_eq!(prop("LOCATION"), "Physics\\; Lab\\, 2 : Optics");
    assert_eq!(
        prop("DESCRIPTION"),
        "Bring the measurements\\;\\nand the graphs."
    );
    assert!(prop("UID").starts_with(id));
    assert_eq!(prop("URL"), format!("{}/rooms/{breakout}", server.url));

    // Outsiders see nothing; only the author or a manager cancels.
    outsider
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{breakout}/meetings"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    outsider
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{breakout}/meetings/{id}/calendar.ics"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    let later_id = later["id"].as_str().unwrap();
    pupil
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{breakout}/meetings/{later_id}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    owner
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{breakout}/meetings/{later_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;

    // A meeting that has ended leaves the list of upcoming ones.
    clock.advance(Duration::from_secs(3 * 3600));
    let list = pupil
        .get(&format!("/api/v1/rooms/{breakout}/meetings"))
        .await;
    assert!(list["meetings"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn bad_meetings_are_refused_with_the_field_named() {
    let clock = ManualClock::new(NOW);
    let server = TestServer::start_with_clock(Settings::default(), clock).await;
    let owner = server.admin().await;
    let room = owner.create_room("Physics").await;
    for (body, field) in [
        (
            json!({"title": "x", "starts_at": "tomorrow", "duration_mins": 30}),
            "starts_at",
        ),
        (
            json!({"title": "x", "starts_at": NOW - 3_600_000, "duration_mins": 30}),
            "starts_at",
        ),
        (
            json!({"title": "x", "starts_at": NOW + 60_000, "duration_mins": 0}),
            "duration_mins",
        ),
        (
            json!({"title": "x", "starts_at": NOW + 60_000, "duration_mins": 2000}),
            "duration_mins",
        ),
        (
            json!({"title": "  ", "starts_at": NOW + 60_000, "duration_mins": 30}),
            "title",
        ),
        (
            json!({"title": "x", "starts_at": NOW + 60_000, "duration_mins": 30, "description": "a\u{0}b"}),
            "description",
        ),
    ] {
        let answer = owner
            .expect(
                Method::POST,
                &format!("/api/v1/rooms/{room}/meetings"),
                Some(body),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert!(
        owner.get(&format!("/api/v1/rooms/{room}/meetings")).await["meetings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn scheduling_a_meeting_can_turn_on_the_rooms_breakout_rooms() {
    let clock = ManualClock::new(NOW);
    let server = TestServer::start_with_clock(Settings::default(), clock).await;
    let owner = server.admin().await;
    let pupil = server.user(&owner, "Pupil").await;
    let room = owner.create_room("Seminar").await;
    owner
        .add_member(&room, "pupil@example.org", "participant")
        .await;
    let path = format!("/api/v1/rooms/{room}/meetings");
    let body = |title: &str| json!({"title": title, "starts_at": NOW + 3_600_000, "duration_mins": 60, "breakout_rooms": true});

    // Only a manager may; a refused request schedules nothing either.
    pupil
        .expect(
            Method::POST,
            &path,
            Some(body("Mine")),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert!(
        owner.get(&path).await["meetings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let settings = format!("/api/v1/rooms/{room}/breakout");
    assert_eq!(owner.get(&settings).await["settings"]["enabled"], false);

    let mut events = owner.events(None).await;
    owner
        .expect(
            Method::POST,
            &path,
            Some(body("Group work")),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        events.next_of("breakout_configured").await["config"]["enabled"],
        true
    );
    assert_eq!(owner.get(&settings).await["settings"]["enabled"], true);
    assert_eq!(owner.get(&path).await["meetings"][0]["title"], "Group work");
}
