//! The breakout engine through the real server, with real WebSocket clients and a clock the test
//! moves by hand.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Client, Events, TestServer};
use huddle::clock::ManualClock;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const START: i64 = 1_800_000_000_000;

struct Workshop {
    server: TestServer,
    clock: ManualClock,
    owner: Client,
    moderator: Client,
    participants: Vec<Client>,
    room: String,
}

impl Workshop {
    /// An owner, a moderator and `n` participants in one main room.
    async fn new(n: usize) -> Workshop {
        let clock = ManualClock::new(START);
        let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
        let owner = server.admin().await;
        let moderator = server.user(&owner, "Mo").await;
        let room = owner.create_room("Workshop").await;
        owner.add_member(&room, "mo@example.org", "moderator").await;
        let mut participants = Vec::new();
        for i in 1..=n {
            let p = server.user(&owner, &format!("P{i}")).await;
            owner
                .add_member(&room, &format!("p{i}@example.org"), "participant")
                .await;
            participants.push(p);
        }
        Workshop {
            server,
            clock,
            owner,
            moderator,
            participants,
            room,
        }
    }

    fn path(&self, tail: &str) -> String {
        format!("/api/v1/rooms/{}/breakout{tail}", self.room)
    }

    async fn configure(&self, settings: Value) -> Value {
        self.owner
            .expect(Method::PUT, &self.path(""), Some(settings), StatusCode::OK)
            .await
    }

    async fn create_rooms(&self, count: u32) -> Vec<String> {
        let body = self
            .owner
            .expect(
                Method::POST,
                &self.path("/rooms"),
                Some(json!({"count": count})),
                StatusCode::CREATED,
            )
            .await;
        body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn session(&self, who: &Client) -> Value {
        who.get(&self.path("")).await
    }
}

/// Locations by person id, from the session view.
fn locations(view: &Value) -> HashMap<String, Option<String>> {
    view["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["person_id"].as_str().unwrap().to_owned(),
                p["location"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_whole_session_from_configuration_to_the_timer_closing_the_rooms() {
    let w = Workshop::new(3).await;
    let ids: Vec<String> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.person_id())).await;
    let mut mod_events = w.moderator.events(None).await;
    let mut streams: Vec<Events> = Vec::new();
    for p in &w.participants {
        streams.push(p.events(None).await);
    }

    // Configure: automatic mode, a ten-minute round with the default one-minute countdown.
    let view = w
        .configure(json!({"enabled": true, "mode": "automatic", "duration_secs": 600}))
        .await;
    assert_eq!(view["settings"]["countdown_secs"], 60);
    assert_eq!(view["status"], "idle");
    let rooms = w.create_rooms(2).await;
    for s in streams.iter_mut() {
        assert_eq!(s.next().await["type"], "breakout_configured");
        let created = s.next().await;
        assert_eq!(created["type"], "breakout_rooms_created");
        assert_eq!(created["rooms"][0]["name"], "Room 1");
    }
    let dashboard = w.session(&w.participants[0]).await;
    assert_eq!(dashboard["can_manage"], false);
    assert_eq!(dashboard["rooms"][1]["title"], "Workshop : Room 2");

    // Pre-assign P1 to Room 1; only P1 (and the moderators) hear of it.
    w.owner
        .expect(
            Method::PUT,
            &w.path(&format!("/assignments/{}", ids[0])),
            Some(json!({"breakout": rooms[0]})),
            StatusCode::OK,
        )
        .await;
    let assigned = streams[0].next().await;
    assert_eq!(assigned["type"], "assigned");
    assert_eq!(assigned["breakout"], rooms[0].as_str());

    // Start: each participant is told where *they* go, nothing more; the moderator sees it all.
    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;
    let mut placed = HashMap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        let started = s.next().await;
        assert_eq!(started["type"], "breakout_started", "{started}");
        assert_eq!(started["round"], 1);
        assert!(
            started.get("assignments").is_none(),
            "participants get no roster: {started}"
        );
        let room = started["your_room"]["id"].as_str().unwrap().to_owned();
        assert!(
            started["your_room"]["title"]
                .as_str()
                .unwrap()
                .starts_with("Workshop : Room ")
        );
        placed.insert(ids[i].clone(), room);
    }
    assert_eq!(placed[&ids[0]], rooms[0], "the pre-assignment is kept");
    assert!(
        placed.values().any(|r| *r == rooms[1]),
        "automatic assignment balances the rooms"
    );
    let full = mod_events.next_of("breakout_started").await;
    assert_eq!(full["assignments"].as_array().unwrap().len(), 3);
    let view = w.session(&w.moderator).await;
    assert_eq!(view["status"], "running");
    assert_eq!(view["ends_at"], START + 600_000);
    let here = locations(&view);
    for id in &ids {
        assert_eq!(
            here[id].as_ref(),
            Some(&placed[id]),
            "connected people are in their rooms at once"
        );
    }

    // Broadcast with a call to action: a banner for everyone and a chat message in each room.
    let cta = json!({"label": "Open the form", "url": "https://example.org/form"});
    w.owner
        .expect(
            Method::POST,
            &w.path("/broadcast"),
            Some(json!({"text": "Five minutes left", "cta": cta})),
            StatusCode::OK,
        )
        .await;
    let mut last_seen = 0;
    for (i, s) in streams.iter_mut().enumerate() {
        let banner = s.next().await;
        last_seen = banner["seq"].as_u64().unwrap();
        assert_eq!(banner["type"], "broadcast");
        assert_eq!(banner["text"], "Five minutes left");
        assert_eq!(banner["cta"]["url"], "https://example.org/form");
        assert_eq!(
            banner["message"]["room_id"],
            placed[&ids[i]].as_str(),
            "the message of their own room"
        );
    }
    // P3 is away when the next one goes out; resuming, P3 gets it with their room's message.
    streams.pop().unwrap().close().await;
    w.owner
        .expect(
            Method::POST,
            &w.path("/broadcast"),
            Some(json!({"text": "Two minutes left"})),
            StatusCode::OK,
        )
        .await;
    for s in streams.iter_mut() {
        assert_eq!(s.next().await["text"], "Two minutes left");
    }
    let mut back = w.participants[2]
        .events(Some(&format!("{}:{last_seen}", w.room)))
        .await;
    let replayed = back.next_of("broadcast").await;
    assert_eq!(replayed["text"], "Two minutes left");
    assert_eq!(
        replayed["message"]["room_id"],
        placed[&ids[2]].as_str(),
        "a replayed broadcast carries the message of their room: {replayed}"
    );
    streams.push(back);
    let breakout_view = w.participants[0]
        .get(&format!("/api/v1/rooms/{}", rooms[0]))
        .await;
    assert_eq!(
        breakout_view["title"], "Workshop : Room 1",
        "a participant opens the room they were sent to"
    );
    assert_eq!(breakout_view["role"], "participant");
    assert_eq!(breakout_view["parent_id"], w.room.as_str());
    let chat = w.participants[0]
        .get(&format!("/api/v1/rooms/{}/messages", rooms[0]))
        .await;
    assert_eq!(chat["messages"][0]["text"], "Two minutes left");
    assert_eq!(chat["messages"][1]["text"], "Five minutes left");
    assert_eq!(chat["messages"][1]["kind"], "broadcast");
    let bad_cta = json!({"text": "x", "cta": {"label": "Go", "url": "javascript:alert(1)"}});
    let refused = w
        .owner
        .expect(
            Method::POST,
            &w.path("/broadcast"),
            Some(bad_cta),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(refused["error"]["field"], "cta.url");

    // Help: P1 asks from Room 1; the moderators are told which room; the moderator accepts and joins.
    let request = w.participants[0]
        .expect(Method::POST, &w.path("/help"), None, StatusCode::CREATED)
        .await;
    assert_eq!(request["breakout"], rooms[0].as_str());
    let asked = mod_events.next_of("help_requested").await;
    assert_eq!(asked["request"]["breakout"], rooms[0].as_str());
    assert_eq!(asked["request"]["display_name"], "P1");
    assert_eq!(
        streams[0].next().await["type"],
        "help_requested",
        "the asker sees the request"
    );
    let again = w.participants[0]
        .expect(Method::POST, &w.path("/help"), None, StatusCode::CONFLICT)
        .await;
    assert_eq!(again["error"]["code"], "help_pending");
    let help_id = request["id"].as_str().unwrap();
    w.moderator
        .expect(
            Method::PATCH,
            &w.path(&format!("/help/{help_id}")),
            Some(json!({"action": "accept"})),
            StatusCode::OK,
        )
        .await;
    let answered = streams[0].next().await;
    assert_eq!(answered["type"], "help_answered");
    assert_eq!(answered["accepted"], true);
    let mo_id = w.moderator.person_id().await;
    let moved = mod_events.next_of("located").await;
    assert_eq!(
        (moved["person_id"].as_str(), moved["location"].as_str()),
        (Some(mo_id.as_str()), Some(rooms[0].as_str()))
    );
    assert!(
        w.session(&w.moderator).await["help"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Move P2 to the other room while running: it takes effect at once.
    let target = if placed[&ids[1]] == rooms[0] {
        &rooms[1]
    } else {
        &rooms[0]
    };
    w.owner
        .expect(
            Method::POST,
            &w.path("/move"),
            Some(json!({"person_id": ids[1], "breakout": target})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(streams[1].next().await["breakout"], target.as_str());
    assert_eq!(
        locations(&w.session(&w.owner).await)[&ids[1]].as_deref(),
        Some(target.as_str())
    );

    // The timer: at ten minutes the countdown starts, a minute later everyone is back.
    w.clock.advance(Duration::from_secs(600));
    for s in streams.iter_mut() {
        let closing = s.next().await;
        assert_eq!(closing["type"], "breakout_closing");
        assert_eq!(closing["closes_at"], START + 660_000);
    }
    w.clock.advance(Duration::from_secs(60));
    for s in streams.iter_mut() {
        let stopped = s.next().await;
        assert_eq!(stopped["type"], "breakout_stopped");
        assert_eq!(stopped["reason"], "time_up");
    }
    let view = w.session(&w.owner).await;
    assert_eq!(view["status"], "idle");
    let main = w.room.clone();
    let here = locations(&view);
    assert_eq!(
        here.values().filter(|l| l.is_some()).count(),
        4,
        "the moderator and three participants are connected"
    );
    assert!(
        here.values().flatten().all(|l| *l == main),
        "everyone connected is back: {view}"
    );

    // A new round keeps the rooms and the assignments.
    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;
    let again = streams[0].next().await;
    assert_eq!(again["round"], 2);
    assert_eq!(again["your_room"]["id"], rooms[0].as_str());
    w.owner
        .expect(Method::POST, &w.path("/stop"), None, StatusCode::OK)
        .await;
    let stopped = streams[0].next().await;
    assert_eq!(stopped["reason"], "stopped");

    // Renaming a breakout room: everyone hears it, and its title follows.
    w.owner
        .expect(
            Method::PATCH,
            &w.path(&format!("/rooms/{}", rooms[0])),
            Some(json!({"name": "Garden"})),
            StatusCode::OK,
        )
        .await;
    let renamed = streams[1].next_of("room_renamed").await;
    assert_eq!(
        (renamed["type"].as_str(), renamed["name"].as_str()),
        (Some("room_renamed"), Some("Garden"))
    );
    let view = w.session(&w.participants[1]).await;
    assert!(
        view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["title"] == "Workshop : Garden"),
        "{view}"
    );
    // Whoever is assigned to a breakout room writes in its chat (also between rounds).
    let said = w.participants[0].post(&rooms[0], "Hello, Garden").await;
    assert_eq!(said["room_id"], rooms[0].as_str());
}

/// Expected statuses for: owner, moderator, participant, breakout-only member, outsider.
type Row<'a> = (&'a str, Method, String, Option<Value>, [u16; 5]);

async fn check_table(who: &[&Client; 5], rows: Vec<Row<'_>>, mode: &str) {
    for (what, method, path, body, expected) in rows {
        for (i, client) in who.iter().enumerate() {
            if expected[i] == 0 {
                continue; // not asked of this role in this row
            }
            let (status, answer) = client.call(method.clone(), &path, body.clone()).await;
            assert_eq!(
                status.as_u16(),
                expected[i],
                "{mode}: {what} by {}: {answer}",
                [
                    "owner",
                    "moderator",
                    "participant",
                    "breakout-only",
                    "outsider"
                ][i]
            );
            if status.as_u16() >= 400 {
                assert!(
                    answer["error"]["code"].is_string(),
                    "{mode}: {what}: a JSON error"
                );
            }
        }
    }
}

#[tokio::test]
async fn who_may_do_what_in_every_mode() {
    for mode in ["automatic", "manual", "free"] {
        let w = Workshop::new(1).await;
        let p = &w.participants[0];
        let p_id = p.person_id().await;
        let outsider = w.server.user(&w.owner, "Out").await;
        let guest = w.server.user(&w.owner, "Bo").await;
        let closed = json!({"enabled": true, "mode": mode, "free_movement": false, "return_to_main": false, "everyone_broadcasts": false});
        w.configure(closed.clone()).await;
        let rooms = w.create_rooms(2).await;
        // Bo is a direct member of Room 2 only: a breakout-only member.
        w.owner
            .add_member(&rooms[1], "bo@example.org", "participant")
            .await;
        w.owner
            .expect(
                Method::PUT,
                &w.path(&format!("/assignments/{p_id}")),
                Some(json!({"breakout": rooms[0]})),
                StatusCode::OK,
            )
            .await;
        let _events: Vec<Events> = futures_util::future::join_all(
            [&w.owner, &w.moderator, p, &guest].map(|c| c.events(None)),
        )
        .await;
        let who = [&w.owner, &w.moderator, p, &guest, &outsider];

        // Between rounds.
        check_table(
            &who,
            vec![
                (
                    "start",
                    Method::POST,
                    w.path("/start"),
                    None,
                    [0, 0, 403, 403, 404],
                ),
                (
                    "see the dashboard",
                    Method::GET,
                    w.path(""),
                    None,
                    [200, 200, 200, 200, 404],
                ),
                (
                    "ask for help",
                    Method::POST,
                    w.path("/help"),
                    None,
                    [0, 403, 409, 409, 404],
                ),
            ],
            mode,
        )
        .await;
        // The dashboard says beforehand what each may do (`may`: null, or why not), as the
        // commands then answer: the moderators may start, the others are told why not.
        for (i, client) in who[..4].iter().enumerate() {
            let view = w.session(client).await;
            assert_eq!(view["may"]["start"].is_null(), i < 2, "{mode} {i}: {view}");
            assert_eq!(view["may"]["reset"].is_null(), i < 2, "{mode} {i}: {view}");
        }
        w.moderator
            .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
            .await;
        for (i, client) in who[..4].iter().enumerate() {
            let view = w.session(client).await;
            // During the round: help for those in breakout rooms, no reset for anyone.
            assert_eq!(view["may"]["help"].is_null(), i >= 2, "{mode} {i}: {view}");
            let why = if i < 2 {
                "breakout rooms are running; stop the round first"
            } else {
                "only owners and moderators may do this"
            };
            assert_eq!(view["may"]["reset"], why, "{mode} {i}");
        }
        // The participant may go into the other room on their own only in free mode.
        let view = w.session(p).await;
        let other = view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rooms[1].as_str())
            .unwrap();
        assert_eq!(
            other["may_join"].is_null(),
            mode == "free",
            "{mode}: {other}"
        );

        let help_rows = vec![(
            "ask for help",
            Method::POST,
            w.path("/help"),
            None,
            [403, 403, 201, 201, 404],
        )];
        check_table(&who, help_rows, mode).await;
        let open: Vec<String> = w.session(&w.owner).await["help"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(open.len(), 2, "{mode}: one request from each room");
        let answer = json!({"action": "dismiss"});
        check_table(
            &who,
            vec![
                (
                    "answer help",
                    Method::PATCH,
                    w.path(&format!("/help/{}", open[0])),
                    Some(answer.clone()),
                    [0, 200, 403, 403, 404],
                ),
                (
                    "answer help",
                    Method::PATCH,
                    w.path(&format!("/help/{}", open[1])),
                    Some(answer),
                    [200, 0, 0, 0, 0],
                ),
                (
                    "configure",
                    Method::PUT,
                    w.path(""),
                    Some(closed.clone()),
                    [200, 200, 403, 403, 404],
                ),
                (
                    "create a room",
                    Method::POST,
                    w.path("/rooms"),
                    Some(json!({"name": "Extra"})),
                    [0, 201, 403, 403, 404],
                ),
                (
                    "move",
                    Method::POST,
                    w.path("/move"),
                    Some(json!({"person_id": p_id, "breakout": rooms[0]})),
                    [200, 200, 403, 403, 404],
                ),
                (
                    "broadcast",
                    Method::POST,
                    w.path("/broadcast"),
                    Some(json!({"text": "hi"})),
                    [200, 200, 403, 403, 404],
                ),
                (
                    "message one room",
                    Method::POST,
                    w.path("/broadcast"),
                    Some(json!({"text": "hi", "breakout": rooms[0]})),
                    [200, 200, 403, 403, 404],
                ),
                (
                    "join another room",
                    Method::POST,
                    w.path("/join"),
                    Some(json!({"breakout": rooms[1]})),
                    [200, 200, if mode == "free" { 200 } else { 403 }, 0, 404],
                ),
                (
                    "join another room",
                    Method::POST,
                    w.path("/join"),
                    Some(json!({"breakout": rooms[0]})),
                    [0, 0, 0, 403, 0],
                ),
                (
                    "go back to the main room",
                    Method::POST,
                    w.path("/leave"),
                    None,
                    [200, 200, 403, 403, 404],
                ),
            ],
            mode,
        )
        .await;

        // Opened up: participants broadcast, move and return; breakout-only members still may not.
        let open_settings = json!({"enabled": true, "mode": mode, "free_movement": true, "return_to_main": true, "everyone_broadcasts": true});
        w.configure(open_settings).await;
        check_table(
            &who,
            vec![
                (
                    "broadcast",
                    Method::POST,
                    w.path("/broadcast"),
                    Some(json!({"text": "hi"})),
                    [0, 0, 200, 403, 404],
                ),
                (
                    "broadcast with a call to action",
                    Method::POST,
                    w.path("/broadcast"),
                    Some(
                        json!({"text": "hi", "cta": {"label": "Go", "url": "https://example.org"}}),
                    ),
                    [200, 0, 403, 403, 404],
                ),
                (
                    "join another room",
                    Method::POST,
                    w.path("/join"),
                    Some(json!({"breakout": rooms[1]})),
                    [0, 0, 200, 0, 404],
                ),
                (
                    "join another room",
                    Method::POST,
                    w.path("/join"),
                    Some(json!({"breakout": rooms[0]})),
                    [0, 0, 0, 403, 0],
                ),
                (
                    "go back to the main room",
                    Method::POST,
                    w.path("/leave"),
                    None,
                    [0, 0, 200, 403, 404],
                ),
                (
                    "stop",
                    Method::POST,
                    w.path("/stop"),
                    None,
                    [0, 0, 403, 403, 404],
                ),
                (
                    "bring back a room",
                    Method::POST,
                    w.path("/stop"),
                    Some(json!({"rooms": [rooms[1]]})),
                    [0, 200, 403, 403, 404],
                ),
                (
                    "stop",
                    Method::POST,
                    w.path("/stop"),
                    None,
                    [200, 0, 0, 0, 0],
                ),
                (
                    "reset",
                    Method::POST,
                    w.path("/reset"),
                    None,
                    [0, 200, 403, 403, 404],
                ),
                (
                    "delete all rooms",
                    Method::DELETE,
                    w.path("/rooms"),
                    None,
                    [0, 0, 403, 403, 404],
                ),
                (
                    "rename a room",
                    Method::PATCH,
                    w.path(&format!("/rooms/{}", rooms[0])),
                    Some(json!({"name": "Renamed"})),
                    [200, 200, 403, 403, 404],
                ),
                (
                    "delete a room",
                    Method::DELETE,
                    w.path(&format!("/rooms/{}", rooms[0])),
                    None,
                    [0, 200, 403, 403, 404],
                ),
            ],
            mode,
        )
        .await;
        let bo_view = guest.get(&w.path("")).await;
        assert_eq!(bo_view["can_manage"], false);
        let bo_rooms: Vec<&str> = bo_view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            bo_rooms,
            vec![rooms[1].as_str()],
            "{mode}: a breakout-only member sees only their room"
        );
        guest
            .expect(
                Method::GET,
                &format!("/api/v1/rooms/{}", w.room),
                None,
                StatusCode::NOT_FOUND,
            )
            .await;
        guest
            .expect(
                Method::GET,
                &format!("/api/v1/rooms/{}/messages", w.room),
                None,
                StatusCode::NOT_FOUND,
            )
            .await;
    }
}

#[tokio::test]
async fn two_moderators_at_the_same_moment_get_a_consistent_result() {
    let w = Workshop::new(6).await;
    let ids: Vec<String> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.person_id())).await;
    let _streams: Vec<Events> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.events(None))).await;
    w.configure(json!({"enabled": true, "mode": "automatic"}))
        .await;
    let rooms = w.create_rooms(3).await;
    let start = w.path("/start");
    let (a, b) = tokio::join!(
        w.owner.call(Method::POST, &start, None),
        w.moderator.call(Method::POST, &start, None)
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one start wins, the other is told it is running"
    );
    let move_path = w.path("/move");
    for round in 0..5 {
        let moves: Vec<_> = ids
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                let to_a = &rooms[(i + round) % 3];
                let to_b = &rooms[(i + round + 1) % 3];
                [
                    w.owner.call(
                        Method::POST,
                        &move_path,
                        Some(json!({"person_id": id, "breakout": to_a})),
                    ),
                    w.moderator.call(
                        Method::POST,
                        &move_path,
                        Some(json!({"person_id": id, "breakout": to_b})),
                    ),
                ]
            })
            .collect();
        for (status, body) in futures_util::future::join_all(moves).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let view = w.session(&w.owner).await;
        for person in view["people"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["role"] == "participant")
        {
            assert!(person["assignment"].is_string());
            assert_eq!(
                person["location"], person["assignment"],
                "each person is in exactly the room they were last moved to"
            );
        }
        let present: usize = view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["present"].as_array().unwrap().len())
            .sum();
        assert_eq!(present, 6, "nobody in two rooms, nobody lost");
    }
}

#[tokio::test]
async fn a_timer_that_ran_out_while_huddle_was_down_closes_the_rooms_at_start_up() {
    let clock = ManualClock::new(START);
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::start_full(dir, Settings::default(), std::sync::Arc::new(clock.clone())).await;
    let owner = server.admin().await;
    let room = owner.create_room("Timed").await;
    let path = format!("/api/v1/rooms/{room}/breakout");
    owner
        .expect(
            Method::PUT,
            &path,
            Some(json!({"enabled": true, "duration_secs": 60, "countdown_secs": 60})),
            StatusCode::OK,
        )
        .await;
    owner
        .expect(
            Method::POST,
            &format!("{path}/rooms"),
            Some(json!({"count": 2})),
            StatusCode::CREATED,
        )
        .await;
    owner
        .expect(Method::POST, &format!("{path}/start"), None, StatusCode::OK)
        .await;
    let dir = server.stop().await;

    // Huddle comes back 61 s later: past the deadline, within what would have been the
    // countdown. Nobody saw a countdown, so none starts now: the round ends at once.
    clock.advance(Duration::from_secs(61));
    let server =
        TestServer::start_full(dir, Settings::default(), std::sync::Arc::new(clock.clone())).await;
    let owner = server.anonymous().login("admin@example.org").await;
    let view = owner.get(&path).await;
    assert_eq!(view["status"], "idle", "{view}");
    assert_eq!(view["round"], 1);
    let mut events = owner.events(Some(&format!("{room}:0"))).await;
    let mut kinds = Vec::new();
    let stopped = loop {
        let event = events.next().await;
        kinds.push(event["type"].as_str().unwrap_or_default().to_owned());
        if event["type"] == "breakout_stopped" {
            break event;
        }
    };
    assert_eq!(stopped["reason"], "time_up");
    assert!(!kinds.contains(&"breakout_closing".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn in_free_mode_participants_choose_and_the_open_dashboard_shows_where_everyone_is() {
    let w = Workshop::new(2).await;
    let ids: Vec<String> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.person_id())).await;
    w.configure(json!({"enabled": true, "mode": "free"})).await;
    let rooms = w.create_rooms(2).await;
    let mut p1 = w.participants[0].events(None).await;
    let mut p2 = w.participants[1].events(None).await;
    // P2 opens the dashboard: it now hears where people go, not only where P2 goes.
    p2.open_dashboard(&w.room).await;

    // Before the round, choosing is a choice (an assignment), not a move.
    w.participants[0]
        .expect(
            Method::POST,
            &w.path("/join"),
            Some(json!({"breakout": rooms[1]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(p1.next().await["breakout"], rooms[1].as_str());
    let seen = p2.next_of("assigned").await;
    assert_eq!(
        (seen["person_id"].as_str(), seen["breakout"].as_str()),
        (Some(ids[0].as_str()), Some(rooms[1].as_str()))
    );

    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;
    assert_eq!(
        p1.next_of("breakout_started").await["your_room"]["id"],
        rooms[1].as_str()
    );
    let started = p2.next_of("breakout_started").await;
    assert!(
        started["your_room"].is_null(),
        "P2 chose no room: {started}"
    );
    assert!(
        started.get("assignments").is_none(),
        "the roster is not in a participant's frame"
    );
    let dashboard = w.session(&w.participants[1]).await;
    let p1_row = dashboard["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person_id"] == ids[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(
        p1_row["location"],
        rooms[1].as_str(),
        "the open dashboard reloads the roster"
    );

    // During the round P2 picks a room and P1 switches.
    w.participants[1]
        .expect(
            Method::POST,
            &w.path("/join"),
            Some(json!({"breakout": rooms[0]})),
            StatusCode::OK,
        )
        .await;
    w.participants[0]
        .expect(
            Method::POST,
            &w.path("/join"),
            Some(json!({"breakout": rooms[0]})),
            StatusCode::OK,
        )
        .await;
    let view = w.session(&w.participants[0]).await;
    let present: Vec<&str> = view["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rooms[0].as_str())
        .unwrap()["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut expected = vec![ids[0].as_str(), ids[1].as_str()];
    expected.sort();
    assert_eq!(present, expected);
    // P1 can read Room 1's chat now, not Room 2's any more.
    w.participants[0]
        .get(&format!("/api/v1/rooms/{}/messages", rooms[0]))
        .await;
    w.participants[0]
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{}/messages", rooms[1]),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
}

/// The frames about `person` (places and help) among `frames`.
fn about<'a>(frames: &'a [Value], person: &str) -> Vec<&'a str> {
    frames
        .iter()
        .filter(|f| f["person_id"] == person || f["request"]["person_id"] == person)
        .map(|f| f["type"].as_str().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn breakout_only_members_and_guests_see_their_own_room_and_who_is_in_it_nothing_else() {
    let w = Workshop::new(3).await;
    let ids: Vec<String> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.person_id())).await;
    w.configure(json!({"enabled": true, "mode": "manual"}))
        .await;
    let rooms = w.create_rooms(2).await;
    // Bo is a direct member of Room 2 only; Gus is a guest invited to Room 2.
    let bo = w.server.user(&w.owner, "Bo").await;
    w.owner
        .add_member(&rooms[1], "bo@example.org", "participant")
        .await;
    let gus = w
        .server
        .guest(&w.owner, &rooms[1], "gus@example.org", "Gus")
        .await;
    for (i, room) in [(0, &rooms[1]), (1, &rooms[0])] {
        w.owner
            .expect(
                Method::PUT,
                &w.path(&format!("/assignments/{}", ids[i])),
                Some(json!({"breakout": room})),
                StatusCode::OK,
            )
            .await;
    }
    let mut streams: Vec<Events> = Vec::new();
    for p in &w.participants {
        streams.push(p.events(None).await);
    }
    let mut bo_events = bo.events(None).await;
    let mut gus_events = gus.events(None).await;
    for events in [&mut bo_events, &mut gus_events, &mut streams[2]] {
        events.open_dashboard(&w.room).await;
    }
    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;

    // The dashboard: their room, and in it Bo, Gus and P1 (assigned there), without roles and
    // without anyone's place outside it. A main-room participant sees everyone.
    for who in [&bo, &gus] {
        let view = w.session(who).await;
        let rooms_seen: Vec<&str> = view["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(rooms_seen, vec![rooms[1].as_str()]);
        let mut names: Vec<&str> = view["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["display_name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["Bo", "Gus", "P1"], "{view}");
        for p in view["people"].as_array().unwrap() {
            assert!(p["role"].is_null(), "no roles: {p}");
            for place in [&p["assignment"], &p["location"]] {
                assert!(
                    place.is_null() || *place == rooms[1].as_str(),
                    "no place outside their room: {p}"
                );
            }
        }
    }
    assert_eq!(
        w.session(&w.participants[2]).await["people"]
            .as_array()
            .unwrap()
            .len(),
        7,
        "owner, moderator, P1–P3, Bo and Gus"
    );

    // P2 is moved into Room 2 and back out: Bo and Gus hear both (the second through where P2
    // was). P3 moved into Room 1 and P2 asking for help there are not theirs to hear.
    let owner = &w.owner;
    let path = w.path("/move");
    let move_to = |person: &str, room: &str| {
        let body = json!({"person_id": person, "breakout": room});
        let path = path.clone();
        async move {
            owner
                .expect(Method::POST, &path, Some(body), StatusCode::OK)
                .await
        }
    };
    move_to(&ids[1], &rooms[1]).await;
    move_to(&ids[1], &rooms[0]).await;
    move_to(&ids[2], &rooms[0]).await;
    w.participants[1]
        .expect(Method::POST, &w.path("/help"), None, StatusCode::CREATED)
        .await;
    w.owner.post(&rooms[1], "marker in Room 2").await;
    w.owner.post(&w.room, "marker in the main room").await;
    for events in [&mut bo_events, &mut gus_events] {
        let frames = events.frames_until_message("marker in Room 2").await;
        assert_eq!(
            about(&frames, &ids[1]),
            ["assigned", "assigned"],
            "P2 came and went (a move in a round is one `assigned`): {frames:?}"
        );
        // Into their room, named; out of it, but not where to.
        let places: Vec<&Value> = frames
            .iter()
            .filter(|f| f["person_id"] == ids[1].as_str())
            .map(|f| &f["breakout"])
            .collect();
        assert_eq!(places, [&json!(rooms[1]), &Value::Null], "{frames:?}");
        assert!(about(&frames, &ids[2]).is_empty(), "{frames:?}");
        assert!(
            frames.iter().all(|f| f["type"] != "help_requested"),
            "{frames:?}"
        );
    }
    // P3, a participant with the dashboard open, hears every move but not P2's help request,
    // which is for moderators and P2.
    let frames = streams[2]
        .frames_until_message("marker in the main room")
        .await;
    assert_eq!(about(&frames, &ids[2]), ["assigned"], "{frames:?}");
    // A main-room participant may see every room: P2's moves name both.
    let places: Vec<&Value> = frames
        .iter()
        .filter(|f| f["person_id"] == ids[1].as_str() && f["type"] == "assigned")
        .map(|f| &f["breakout"])
        .collect();
    assert_eq!(places, [&json!(rooms[1]), &json!(rooms[0])], "{frames:?}");
    assert!(
        frames.iter().all(|f| f["type"] != "help_requested"),
        "{frames:?}"
    );
    assert_eq!(
        streams[1].next_of("help_requested").await["request"]["person_id"],
        ids[1].as_str()
    );
    // P2's disconnecting is not Bo's to hear either; P1's (in Room 2) is.
    drop(streams.remove(1));
    drop(streams.remove(0));
    w.owner.post(&rooms[1], "second marker").await;
    let frames = bo_events.frames_until_message("second marker").await;
    assert!(about(&frames, &ids[1]).is_empty(), "{frames:?}");
    assert_eq!(about(&frames, &ids[0]), ["disconnected"], "{frames:?}");
}

#[tokio::test]
async fn closed_rooms_stay_closed_settings_change_one_at_a_time_and_conflicts_say_why() {
    let w = Workshop::new(2).await;
    let ids: Vec<String> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.person_id())).await;
    // Settings change one at a time: what is left out keeps its value.
    w.configure(
        json!({"enabled": true, "mode": "manual", "duration_secs": 600, "return_to_main": false}),
    )
    .await;
    let view = w.configure(json!({"free_movement": true})).await;
    let s = &view["settings"];
    assert_eq!(
        (
            &s["enabled"],
            &s["mode"],
            &s["duration_secs"],
            &s["return_to_main"],
            &s["free_movement"]
        ),
        (
            &json!(true),
            &json!("manual"),
            &json!(600),
            &json!(false),
            &json!(true)
        ),
        "{view}"
    );
    assert!(
        w.configure(json!({"duration_secs": null})).await["settings"]["duration_secs"].is_null()
    );
    let refused = w
        .owner
        .expect(
            Method::PUT,
            &w.path(""),
            Some(json!({"colour": "red"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{refused}"
    );

    let rooms = w.create_rooms(2).await;
    for (i, room) in rooms.iter().enumerate() {
        w.owner
            .expect(
                Method::PUT,
                &w.path(&format!("/assignments/{}", ids[i])),
                Some(json!({"breakout": room})),
                StatusCode::OK,
            )
            .await;
    }
    let _streams: Vec<Events> =
        futures_util::future::join_all(w.participants.iter().map(|p| p.events(None))).await;
    let _mo = w.moderator.events(None).await;
    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;

    // Between-round actions during a round: 409 `running`, saying to stop first.
    for (method, path) in [(Method::POST, w.path("/reset"))] {
        let body = w
            .owner
            .expect(method, &path, None, StatusCode::CONFLICT)
            .await;
        assert_eq!(body["error"]["code"], "running", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("stop the round first")
        );
    }
    let csv = w
        .owner
        .http
        .post(format!("{}{}", w.owner.url, w.path("/assignments.csv")))
        .bearer_auth(w.owner.token.as_ref().unwrap())
        .header("content-type", "text/csv")
        .body("room_name,first_name,last_name,email\n")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::CONFLICT);
    assert_eq!(
        csv.json::<Value>().await.unwrap()["error"]["code"],
        "running"
    );

    // A help request answered twice: the second answer is a conflict, not "not found".
    let help = w.participants[0]
        .expect(Method::POST, &w.path("/help"), None, StatusCode::CREATED)
        .await;
    let answer = w.path(&format!("/help/{}", help["id"].as_str().unwrap()));
    w.moderator
        .expect(
            Method::PATCH,
            &answer,
            Some(json!({"action": "dismiss"})),
            StatusCode::OK,
        )
        .await;
    let again = w
        .owner
        .expect(
            Method::PATCH,
            &answer,
            Some(json!({"action": "accept"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(again["error"]["code"], "help_answered");

    // Room 1 is brought back: nobody goes into it again this round, moderators included.
    w.owner
        .expect(
            Method::POST,
            &w.path("/stop"),
            Some(json!({"rooms": [rooms[0]]})),
            StatusCode::OK,
        )
        .await;
    for (path, body) in [
        (
            w.path("/move"),
            json!({"person_id": ids[1], "breakout": rooms[0]}),
        ),
        (
            w.path(&format!("/assignments/{}", ids[0])),
            json!({"breakout": rooms[0]}),
        ),
        (w.path("/join"), json!({"breakout": rooms[0]})),
    ] {
        let method = if path.contains("/assignments/") {
            Method::PUT
        } else {
            Method::POST
        };
        let refused = w
            .moderator
            .expect(method, &path, Some(body), StatusCode::CONFLICT)
            .await;
        assert_eq!(refused["error"]["code"], "room_closed", "{path}: {refused}");
    }
    // The next round opens it again.
    w.owner
        .expect(Method::POST, &w.path("/stop"), None, StatusCode::OK)
        .await;
    w.owner
        .expect(Method::POST, &w.path("/start"), None, StatusCode::OK)
        .await;
    w.moderator
        .expect(
            Method::POST,
            &w.path("/move"),
            Some(json!({"person_id": ids[1], "breakout": rooms[0]})),
            StatusCode::OK,
        )
        .await;
}
