//! Group plans through the real server: saved from the current assignment and from JSON or CSV,
//! edited without touching the live assignment, loaded after the rooms were deleted (they come
//! back by name), refused whole when bad, and hidden from everyone but owners and moderators.

mod common;

use common::{Client, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The session's assignments as (room name, display name), sorted.
async fn assignments(client: &Client, main: &str) -> Vec<(String, String)> {
    let session = client.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    let mut names = std::collections::HashMap::new();
    for p in session["people"].as_array().unwrap() {
        names.insert(
            p["person_id"].as_str().unwrap().to_owned(),
            p["display_name"].as_str().unwrap().to_owned(),
        );
    }
    let mut out = Vec::new();
    for room in session["rooms"].as_array().unwrap() {
        for person in room["assigned"].as_array().unwrap() {
            out.push((
                room["name"].as_str().unwrap().to_owned(),
                names[person.as_str().unwrap()].clone(),
            ));
        }
    }
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn room_names(client: &Client, main: &str) -> Vec<String> {
    let session = client.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    let mut names: Vec<String> = session["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn send_csv(client: &Client, path: &str, body: &str) -> (StatusCode, Value) {
    let response = client
        .http
        .post(format!("{}{path}", client.url))
        .bearer_auth(client.token.as_ref().unwrap())
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn plans_are_saved_edited_and_loaded_by_room_name() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    for name in ["Ann", "Ben", "Cid"] {
        server.user(&owner, name).await;
    }
    let main = owner.create_room("Workshop").await;
    for email in ["ann@example.org", "ben@example.org", "cid@example.org"] {
        owner.add_member(&main, email, "participant").await;
    }
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Red", "Blue", "Quiet"]}))
        .await;
    let ann = server
        .anonymous()
        .login("ann@example.org")
        .await
        .person_id()
        .await;
    let ben = server
        .anonymous()
        .login("ben@example.org")
        .await
        .person_id()
        .await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    for (person, room) in [(&ann, &rooms[0]), (&ben, &rooms[1])] {
        owner
            .expect(
                Method::PUT,
                &format!("{b}/assignments/{person}"),
                Some(json!({"breakout": room})),
                StatusCode::OK,
            )
            .await;
    }

    // Saved from the current assignment: every room, the empty one too, with its people.
    let pairs_plan = owner
        .expect(
            Method::POST,
            &format!("{b}/plans"),
            Some(json!({"name": "Pairs", "from_current": true})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        pairs_plan["rooms"],
        json!([
            {"name": "Red", "people": [{"email": "ann@example.org", "first_name": "Ann", "last_name": ""}]},
            {"name": "Blue", "people": [{"email": "ben@example.org", "first_name": "Ben", "last_name": ""}]},
            {"name": "Quiet", "people": []},
        ])
    );
    let pairs_id = pairs_plan["id"].as_str().unwrap().to_owned();

    // A plan prepared by hand names someone without an account yet.
    let jigsaw = owner
        .expect(
            Method::POST,
            &format!("{b}/plans"),
            Some(json!({"name": "Jigsaw", "rooms": [
                {"name": "Experts", "people": [{"email": "CID@example.org"}, {"email": "dora@elsewhere.org", "first_name": "Dora"}]},
                {"name": "Novices", "people": [{"email": "ann@example.org"}]},
            ]})),
            StatusCode::CREATED,
        )
        .await;
    let jigsaw_id = jigsaw["id"].as_str().unwrap().to_owned();
    assert_eq!(jigsaw["rooms"][0]["people"][0]["email"], "cid@example.org");

    // Bad plans are refused, naming the problem, and change nothing.
    let refusals = [
        (
            json!({"name": "Pairs", "rooms": []}),
            StatusCode::CONFLICT,
            "plan_name_taken",
        ),
        (
            json!({"name": "X", "rooms": [{"name": "A", "people": [{"email": "nope"}]}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "X", "rooms": [{"name": "A"}, {"name": "A"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "X", "rooms": [{"name": "A", "people": [{"email": "a@x.org"}]}, {"name": "B", "people": [{"email": "a@x.org"}]}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "X", "rooms": [], "from_current": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": " ", "rooms": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (body, status, code) in refusals {
        let (got, answer) = owner
            .call(Method::POST, &format!("{b}/plans"), Some(body.clone()))
            .await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let listed = owner.get(&format!("{b}/plans")).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Jigsaw", "Pairs"]);

    // Editing a plan leaves the live assignment alone.
    let edited = owner
        .expect(
            Method::PUT,
            &format!("{b}/plans/{pairs_id}"),
            Some(json!({"rooms": [
                {"name": "Red", "people": [{"email": "ann@example.org"}, {"email": "cid@example.org"}]},
                {"name": "Blue", "people": [{"email": "ben@example.org"}]},
            ]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["name"], "Pairs");
    assert_eq!(
        assignments(&owner, &main).await,
        pairs(&[("Blue", "Ben"), ("Red", "Ann")])
    );
    let (status, answer) = owner
        .call(
            Method::PUT,
            &format!("{b}/plans/{pairs_id}"),
            Some(json!({"name": "Jigsaw"})),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_name_taken"))
    );

    // The rooms are deleted; loading the plan brings them back by name, with their people.
    owner
        .expect(Method::DELETE, &format!("{b}/rooms"), None, StatusCode::OK)
        .await;
    assert!(room_names(&owner, &main).await.is_empty());
    let loaded = owner
        .expect(
            Method::POST,
            &format!("{b}/plans/{pairs_id}/load"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (loaded["rooms_created"].clone(), loaded["assigned"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(
        assignments(&owner, &main).await,
        pairs(&[("Blue", "Ben"), ("Red", "Ann"), ("Red", "Cid")])
    );

    // The other plan: everyone else unassigned, the unknown address invited, and its empty
    // rooms made too.
    let loaded = owner
        .expect(
            Method::POST,
            &format!("{b}/plans/{jigsaw_id}/load"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(loaded["invited"], 1, "{loaded}");
    assert_eq!(
        assignments(&owner, &main).await,
        pairs(&[("Experts", "Cid"), ("Novices", "Ann")])
    );
    assert!(
        server
            .outbox_email("dora@elsewhere.org")
            .await
            .contains("Workshop : Experts")
    );
    assert_eq!(
        room_names(&owner, &main).await,
        ["Blue", "Experts", "Novices", "Red"]
    );
    let with_empty = owner
        .expect(
            Method::PUT,
            &format!("{b}/plans/{jigsaw_id}"),
            Some(json!({"rooms": [{"name": "Experts", "people": [{"email": "cid@example.org"}]}, {"name": "Later"}]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        with_empty["rooms"][1],
        json!({"name": "Later", "people": []})
    );
    let loaded = owner
        .expect(
            Method::POST,
            &format!("{b}/plans/{jigsaw_id}/load"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(loaded["rooms_created"], 1);
    assert!(
        room_names(&owner, &main)
            .await
            .contains(&"Later".to_owned())
    );

    // CSV: a plan's file imports as a new plan with the same rooms; a bad file is refused whole.
    let file = owner.raw_get(&format!("{b}/plans/{pairs_id}/csv")).await;
    assert_eq!(file.status(), StatusCode::OK);
    let file = file.text().await.unwrap();
    assert_eq!(
        file,
        "room_name,first_name,last_name,email\nRed,,,ann@example.org\nRed,,,cid@example.org\nBlue,,,ben@example.org\n"
    );
    let (status, copy) = send_csv(&owner, &format!("{b}/plans/import?name=Copy"), &file).await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["rooms"], edited["rooms"]);
    let (status, refused) = send_csv(
        &owner,
        &format!("{b}/plans/import?name=Broken"),
        "room_name,first_name,last_name,email\nRed,A,,not-an-address\n",
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_csv"))
    );
    assert_eq!(refused["error"]["details"][0]["row"], 2);
    assert_eq!(
        owner
            .get(&format!("{b}/plans"))
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Not while a round runs.
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    owner
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;
    let (status, answer) = owner
        .call(Method::POST, &format!("{b}/plans/{pairs_id}/load"), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("running"))
    );
    owner
        .expect(Method::POST, &format!("{b}/stop"), None, StatusCode::OK)
        .await;

    // Deleted; gone.
    owner
        .expect(
            Method::DELETE,
            &format!("{b}/plans/{pairs_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let (status, _) = owner
        .call(Method::GET, &format!("{b}/plans/{pairs_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_owners_and_moderators_see_or_touch_plans() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let participant = server.user(&owner, "Pat").await;
    let moderator = server.user(&owner, "Mo").await;
    let outsider = server.user(&owner, "Out").await;
    let main = owner.create_room("Class").await;
    owner
        .add_member(&main, "pat@example.org", "participant")
        .await;
    owner.add_member(&main, "mo@example.org", "moderator").await;
    let rooms = owner.breakout_rooms(&main, json!({"names": ["A"]})).await;
    // A guest invited to the breakout room only.
    let guest = server
        .guest(&owner, &rooms[0], "gus@elsewhere.org", "Gus")
        .await;

    let b = format!("/api/v1/rooms/{main}/breakout");
    let plan = moderator
        .expect(
            Method::POST,
            &format!("{b}/plans"),
            Some(json!({"name": "Mine", "rooms": [{"name": "A"}]})),
            StatusCode::CREATED,
        )
        .await;
    let id = plan["id"].as_str().unwrap();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{b}/plans"), None),
        (
            Method::POST,
            format!("{b}/plans"),
            Some(json!({"name": "Theirs", "rooms": []})),
        ),
        (Method::GET, format!("{b}/plans/{id}"), None),
        (
            Method::PUT,
            format!("{b}/plans/{id}"),
            Some(json!({"name": "Taken over"})),
        ),
        (Method::DELETE, format!("{b}/plans/{id}"), None),
        (Method::GET, format!("{b}/plans/{id}/csv"), None),
        (Method::POST, format!("{b}/plans/{id}/load"), None),
        (
            Method::POST,
            format!("{b}/rotate"),
            Some(json!({"size": 2})),
        ),
        (
            Method::POST,
            format!("{b}/schedule"),
            Some(json!({"rounds": 2, "duration_secs": 60, "rotation": {"size": 2}})),
        ),
        (Method::DELETE, format!("{b}/schedule"), None),
    ];
    for (who, client, status) in [
        ("a participant", &participant, StatusCode::FORBIDDEN),
        ("a breakout-only guest", &guest, StatusCode::FORBIDDEN),
        ("a non-member", &outsider, StatusCode::NOT_FOUND),
    ] {
        for (method, path, body) in &routes {
            let (got, answer) = client.call(method.clone(), path, body.clone()).await;
            assert_eq!(got, status, "{who}: {method} {path}: {answer}");
            assert!(
                !answer.to_string().contains("Mine"),
                "{who} sees the plan: {answer}"
            );
        }
        let (got, _) = send_csv(
            client,
            &format!("{b}/plans/import?name=Sneaky"),
            "room_name,first_name,last_name,email\n",
        )
        .await;
        assert_eq!(got, status, "{who}: import");
    }
    // Nothing changed; the owner sees the moderator's plan.
    let listed = owner.get(&format!("{b}/plans")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Mine");
    // A plan of one main room is not found through another.
    let other = owner.create_room("Other").await;
    let (got, _) = owner
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{other}/breakout/plans/{id}"),
            None,
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    // Through a breakout room's id, the main room's plans are not reachable either.
    let (got, _) = owner
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}/breakout/plans", rooms[0]),
            None,
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
}

/// Who shares a room with whom in the current assignment, as sorted pairs of person ids.
async fn assigned_pairs(
    client: &Client,
    main: &str,
) -> std::collections::HashSet<(String, String)> {
    let session = client.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    let mut pairs = std::collections::HashSet::new();
    for room in session["rooms"].as_array().unwrap() {
        let people: Vec<String> = room["assigned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        for (i, a) in people.iter().enumerate() {
            for b in &people[i + 1..] {
                pairs.insert((a.clone().min(b.clone()), a.clone().max(b.clone())));
            }
        }
    }
    pairs
}

#[tokio::test]
async fn rotation_rounds_avoid_pairs_who_already_met() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let main = owner.create_room("Speed networking").await;
    let mut people = Vec::new();
    for i in 0..8 {
        let name = format!("P{i}");
        let client = server.user(&owner, &name).await;
        owner
            .add_member(&main, &format!("p{i}@example.org"), "participant")
            .await;
        people.push(client.person_id().await);
    }
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    let b = format!("/api/v1/rooms/{main}/breakout");

    // Four rounds in pairs: nobody meets the same person twice, and the server says so.
    let mut met = std::collections::HashSet::new();
    for round in 0..4 {
        let rotated = owner
            .expect(
                Method::POST,
                &format!("{b}/rotate"),
                Some(json!({"size": 2})),
                StatusCode::OK,
            )
            .await;
        assert_eq!(rotated["placed"], 8, "{rotated}");
        assert_eq!(rotated["rounds_considered"], round, "{rotated}");
        assert_eq!(rotated["rooms_created"], if round == 0 { 4 } else { 0 });
        let pairs = assigned_pairs(&owner, &main).await;
        assert_eq!(pairs.len(), 4, "four pairs: {pairs:?}");
        let repeats = pairs.intersection(&met).count();
        assert_eq!(
            rotated["repeats"], repeats,
            "the server counts what the rooms show"
        );
        assert_eq!(repeats, 0, "round {round}: {pairs:?} after {met:?}");
        met.extend(pairs);
        owner
            .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
            .await;
        // Not while a round runs.
        let (status, answer) = owner
            .call(
                Method::POST,
                &format!("{b}/rotate"),
                Some(json!({"size": 2})),
            )
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("running"))
        );
        owner
            .expect(Method::POST, &format!("{b}/stop"), None, StatusCode::OK)
            .await;
    }

    // Constraints: two who stay together, two kept apart, a team spread over both rooms.
    let team: serde_json::Map<String, Value> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), json!(if i < 4 { "red" } else { "blue" })))
        .collect();
    for _ in 0..3 {
        let rotated = owner
            .expect(
                Method::POST,
                &format!("{b}/rotate"),
                Some(json!({
                    "rooms": 2,
                    "together": [[people[0], people[5]]],
                    "apart": [[people[1], people[2]]],
                    "attribute": team,
                })),
                StatusCode::OK,
            )
            .await;
        assert_eq!(rotated["imbalance"], 0, "{rotated}");
        let session = owner.get(&b).await;
        let room_of = |p: &str| {
            session["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .position(|r| r["assigned"].as_array().unwrap().iter().any(|x| x == p))
                .unwrap()
        };
        assert_eq!(room_of(&people[0]), room_of(&people[5]));
        assert_ne!(room_of(&people[1]), room_of(&people[2]));
        for room in 0..2 {
            let reds = (0..4).filter(|i| room_of(&people[*i]) == room).count();
            assert_eq!(reds, 2, "two of the red team in each room");
        }
    }

    // The team by email address, as a column of a CSV file gives it (case and spaces as typed).
    let by_email: serde_json::Map<String, Value> = (0..8)
        .map(|i| {
            let email = if i == 0 {
                " P0@Example.org ".to_owned()
            } else {
                format!("p{i}@example.org")
            };
            (email, json!(if i % 2 == 0 { "even" } else { "odd" }))
        })
        .collect();
    let rotated = owner
        .expect(
            Method::POST,
            &format!("{b}/rotate"),
            Some(json!({"rooms": 2, "attribute_by_email": by_email})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(rotated["imbalance"], 0, "{rotated}");
    let session = owner.get(&b).await;
    let used = session["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["assigned"] != json!([]));
    for room in used {
        let evens = room["assigned"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| people.iter().position(|q| *p == q.as_str()).unwrap() % 2 == 0)
            .count();
        assert_eq!(evens, 2, "two of the even team in each room: {session}");
    }

    // Bad requests name the problem and change nothing.
    let before = owner.get(&b).await["rooms"].clone();
    let (status, answer) = owner
        .call(
            Method::POST,
            &format!("{b}/rotate"),
            Some(json!({"rooms": 2, "attribute_by_email": {"p1@example.org": "a", "nobody@example.org": "b"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "attribute_by_email");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody@example.org"),
        "{answer}"
    );
    for body in [
        json!({"rooms": 0}),
        json!({}),
        json!({"rooms": 2, "size": 2}),
        json!({"rooms": 2, "apart": [[people[0], people[1], people[2]]]}),
        json!({"rooms": 2, "together": [[people[0], people[1]]], "apart": [[people[1], people[0]]]}),
        json!({"rooms": 301}),
        json!({"size": 2, "colour": "red"}),
    ] {
        let (status, answer) = owner
            .call(Method::POST, &format!("{b}/rotate"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    assert_eq!(owner.get(&b).await["rooms"], before);
}

#[tokio::test]
async fn a_schedule_of_three_rounds_runs_by_itself() {
    use huddle::clock::ManualClock;
    use std::time::Duration;
    const START: i64 = 1_900_000_000_000;
    let clock = ManualClock::new(START);
    let server =
        TestServer::start_with_clock(huddle::config::Settings::default(), clock.clone()).await;
    let owner = server.admin().await;
    let main = owner.create_room("Think, pair, share").await;
    let mut participant = None;
    for i in 0..6 {
        let client = server.user(&owner, &format!("S{i}")).await;
        owner
            .add_member(&main, &format!("s{i}@example.org"), "participant")
            .await;
        participant.get_or_insert(client);
    }
    let participant = participant.unwrap();
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    owner
        .breakout_setting(&main, "countdown_secs", json!(10))
        .await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    let mut events = owner.events(None).await;
    let mut theirs = participant.events(None).await;

    owner
        .expect(
            Method::POST,
            &format!("{b}/schedule"),
            Some(json!({"rounds": 3, "duration_secs": 60, "break_secs": 30, "rotation": {"size": 2}})),
            StatusCode::OK,
        )
        .await;
    let mut met = std::collections::HashSet::new();
    let mut at = START;
    for round in 1..=3 {
        // The round starts: planned, then under way for a minute, then the countdown.
        let changed = events.next_of("schedule_changed").await;
        assert_eq!(changed["schedule"]["done"], round - 1, "{changed}");
        assert_eq!(changed["schedule"]["next_at"], Value::Null);
        let started = events.next_of("breakout_started").await;
        assert_eq!(
            (started["round"].clone(), started["started_at"].clone()),
            (json!(round), json!(at))
        );
        assert_eq!(started["ends_at"], at + 60_000);
        // Participants hear of the round, not of the schedule's constraints.
        let heard = loop {
            let frame = theirs.next().await;
            assert_ne!(frame["type"], "schedule_changed", "{frame}");
            if frame["type"] == "breakout_started" {
                break frame;
            }
        };
        assert_eq!(heard["round"], round);
        let view = participant.get(&b).await;
        assert_eq!(view["schedule"]["rounds"], 3);
        assert_eq!(view["schedule"]["rotation"], Value::Null, "{view}");
        assert_eq!(owner.get(&b).await["schedule"]["rotation"]["size"], 2);
        // Three pairs, none of them together before.
        let pairs = assigned_pairs(&owner, &main).await;
        assert_eq!(pairs.len(), 3, "{pairs:?}");
        assert!(
            pairs.is_disjoint(&met),
            "round {round} repeats a pair: {pairs:?} after {met:?}"
        );
        met.extend(pairs);
        // A round by hand is refused while the schedule runs.
        let (status, answer) = owner.call(Method::POST, &format!("{b}/start"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");

        clock.advance(Duration::from_secs(60));
        assert_eq!(
            events.next_of("breakout_closing").await["closes_at"],
            at + 70_000
        );
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            events.next_of("breakout_stopped").await["reason"],
            "time_up"
        );
        let changed = events.next_of("schedule_changed").await;
        at += 70_000;
        if round < 3 {
            assert_eq!(changed["schedule"]["done"], round);
            assert_eq!(changed["schedule"]["next_at"], at + 30_000);
            // The break: everyone in the main room; a hand start is still refused.
            assert_eq!(owner.get(&b).await["status"], "idle");
            let (status, _) = owner.call(Method::POST, &format!("{b}/start"), None).await;
            assert_eq!(status, StatusCode::CONFLICT);
            clock.advance(Duration::from_secs(30));
            at += 30_000;
        } else {
            assert_eq!(
                changed["schedule"],
                Value::Null,
                "the schedule is done: {changed}"
            );
        }
    }
    // Done: no fourth round, however long one waits.
    clock.advance(Duration::from_secs(3_600));
    let view = owner.get(&b).await;
    assert_eq!(
        (
            view["status"].clone(),
            view["round"].clone(),
            view["schedule"].clone()
        ),
        (json!("idle"), json!(3), Value::Null)
    );
    // Participants never receive the schedule's events (checked above, frame by frame).
    theirs.close().await;

    // A schedule stopped mid-round ends the round and starts no other.
    owner
        .expect(
            Method::POST,
            &format!("{b}/schedule"),
            Some(json!({"rounds": 5, "duration_secs": 60, "rotation": {"rooms": 2}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(events.next_of("breakout_started").await["round"], 4);
    let (status, answer) = owner
        .call(
            Method::POST,
            &format!("{b}/schedule"),
            Some(json!({"rounds": 1, "duration_secs": 60, "rotation": {"rooms": 2}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    owner
        .expect(
            Method::DELETE,
            &format!("{b}/schedule"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        events.next_of("schedule_changed").await["schedule"],
        Value::Null
    );
    assert_eq!(
        events.next_of("breakout_stopped").await["reason"],
        "stopped"
    );
    clock.advance(Duration::from_secs(3_600));
    let view = owner.get(&b).await;
    assert_eq!(
        (view["status"].clone(), view["round"].clone()),
        (json!("idle"), json!(4))
    );

    // Bad schedules name the problem and start nothing.
    for body in [
        json!({"rounds": 0, "duration_secs": 60, "rotation": {"rooms": 2}}),
        json!({"rounds": 51, "duration_secs": 60, "rotation": {"rooms": 2}}),
        json!({"rounds": 2, "duration_secs": 0, "rotation": {"rooms": 2}}),
        json!({"rounds": 2, "duration_secs": 60, "break_secs": 3601, "rotation": {"rooms": 2}}),
        json!({"rounds": 2, "duration_secs": 60, "rotation": {}}),
        json!({"rounds": 2, "duration_secs": 60}),
    ] {
        let (status, answer) = owner
            .call(Method::POST, &format!("{b}/schedule"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    assert_eq!(owner.get(&b).await["round"], 4);
}

#[tokio::test]
async fn a_schedule_goes_on_after_huddle_was_down() {
    use huddle::clock::ManualClock;
    use std::time::Duration;
    const START: i64 = 1_900_000_000_000;
    let clock = ManualClock::new(START);
    let settings = huddle::config::Settings::default;
    let server = TestServer::start_full(
        tempfile::tempdir().unwrap(),
        settings(),
        std::sync::Arc::new(clock.clone()),
    )
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Rounds").await;
    for i in 0..4 {
        server.user(&owner, &format!("R{i}")).await;
        owner
            .add_member(&main, &format!("r{i}@example.org"), "participant")
            .await;
    }
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    owner
        .breakout_setting(&main, "countdown_secs", json!(0))
        .await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    owner
        .expect(
            Method::POST,
            &format!("{b}/schedule"),
            Some(json!({"rounds": 2, "duration_secs": 60, "break_secs": 30, "rotation": {"size": 2}})),
            StatusCode::OK,
        )
        .await;
    let first = assigned_pairs(&owner, &main).await;
    let dir = server.stop().await;

    // Back 75 s later: round 1 ended while Huddle was down (at once, no countdown), the break
    // runs from now, and then round 2 starts by itself, avoiding round 1's pairs.
    clock.advance(Duration::from_secs(75));
    let server = TestServer::start_full(dir, settings(), std::sync::Arc::new(clock.clone())).await;
    let owner = server.anonymous().login("admin@example.org").await;
    let view = owner.get(&b).await;
    assert_eq!(view["status"], "idle", "{view}");
    assert_eq!(view["schedule"]["done"], 1, "{view}");
    assert_eq!(view["schedule"]["next_at"], START + 75_000 + 30_000);
    let mut events = owner.events(None).await;
    clock.advance(Duration::from_secs(30));
    let started = events.next_of("breakout_started").await;
    assert_eq!(started["round"], 2);
    let second = assigned_pairs(&owner, &main).await;
    assert!(first.is_disjoint(&second), "{first:?} then {second:?}");
}
