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
    for (i, s) in streams.iter_mut().enumerate() {
        let banner = s.next().await;
        assert_eq!(banner["type"], "broadcast");
        assert_eq!(banner["text"], "Five minutes left");
        assert_eq!(banner["cta"]["url"], "https://example.org/form");
        assert_eq!(
            banner["message"]["room_id"],
            placed[&ids[i]].as_str(),
            "the message of their own room"
        );
    }
    let chat = w.participants[0]
        .get(&format!("/api/v1/rooms/{}/messages", rooms[0]))
        .await;
    assert_eq!(chat["messages"][0]["text"], "Five minutes left");
    assert_eq!(chat["messages"][0]["kind"], "broadcast");
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
}
