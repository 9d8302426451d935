//! Rooms, members, roles, chat and bad input — through the real server.

mod common;

use common::TestServer;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn rooms_are_created_listed_renamed_and_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "Bob").await;

    let room = admin.create_room("  Maths  ").await;
    let view = admin.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(view["name"], "Maths");
    assert_eq!(view["title"], "Maths");
    assert_eq!(view["role"], "owner");
    assert_eq!(view["member_count"], 1);
    let listed = admin.get("/api/v1/rooms").await;
    assert_eq!(listed["rooms"].as_array().unwrap().len(), 1);
    assert!(
        bob.get("/api/v1/rooms").await["rooms"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let renamed = admin
        .expect(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}"),
            Some(json!({"name": "Algebra"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(renamed["name"], "Algebra");
    assert!(renamed["seq"].as_u64().unwrap() > view["seq"].as_u64().unwrap());

    // Non-members cannot learn the room exists.
    for (method, path) in [
        (Method::GET, format!("/api/v1/rooms/{room}")),
        (Method::DELETE, format!("/api/v1/rooms/{room}")),
        (Method::GET, format!("/api/v1/rooms/{room}/members")),
        (Method::GET, format!("/api/v1/rooms/{room}/messages")),
    ] {
        let body = bob.expect(method, &path, None, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"]["code"], "room_not_found");
    }
    bob.expect(
        Method::PATCH,
        &format!("/api/v1/rooms/{room}"),
        Some(json!({"name": "Mine"})),
        StatusCode::NOT_FOUND,
    )
    .await;
    bob.expect(
        Method::POST,
        &format!("/api/v1/rooms/{room}/messages"),
        Some(json!({"text": "hi"})),
        StatusCode::NOT_FOUND,
    )
    .await;

    admin.post(&room, "before deletion").await;
    admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    admin
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    admin
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{room}/messages"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert!(
        admin.get("/api/v1/rooms").await["rooms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn members_roles_and_their_rules() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let moderator = server.user(&owner, "Mo").await;
    let participant = server.user(&owner, "Pat").await;
    let outsider = server.user(&owner, "Out").await;
    let room = owner.create_room("Workshop").await;
    let members_path = format!("/api/v1/rooms/{room}/members");

    owner.add_member(&room, "mo@example.org", "moderator").await;
    owner
        .add_member(&room, "pat@example.org", "participant")
        .await;
    let dup = owner
        .expect(
            Method::POST,
            &members_path,
            Some(json!({"email": "pat@example.org"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(dup["error"]["code"], "already_member");
    let unknown = owner
        .expect(
            Method::POST,
            &members_path,
            Some(json!({"email": "ghost@example.org"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(unknown["error"]["field"], "email");

    let list = participant.get(&members_path).await;
    let roles: Vec<(String, String)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["display_name"].as_str().unwrap().into(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("Admin".into(), "owner".into()),
            ("Mo".into(), "moderator".into()),
            ("Pat".into(), "participant".into())
        ]
    );

    let pat_id = participant.person_id().await;
    let owner_id = owner.person_id().await;
    let mo_id = moderator.person_id().await;
    let out_id = outsider.person_id().await;

    // Participants manage nothing.
    participant
        .expect(
            Method::POST,
            &members_path,
            Some(json!({"email": "out@example.org"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    participant
        .expect(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}"),
            Some(json!({"name": "Mine"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    participant
        .expect(
            Method::PATCH,
            &format!("{members_path}/{mo_id}"),
            Some(json!({"role": "participant"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    participant
        .expect(
            Method::DELETE,
            &format!("{members_path}/{mo_id}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    participant
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;

    // Moderators manage participants but not owners, and cannot delete the room. (Mo may add
    // Out by address because Mo moderates another room Out is in: see `tests/abuse.rs`.)
    let lobby = owner.create_room("Lobby").await;
    owner
        .add_member(&lobby, "mo@example.org", "moderator")
        .await;
    owner
        .add_member(&lobby, "out@example.org", "participant")
        .await;
    moderator
        .add_member(&room, "out@example.org", "participant")
        .await;
    moderator
        .expect(
            Method::POST,
            &members_path,
            Some(json!({"person_id": out_id})),
            StatusCode::CONFLICT,
        )
        .await;
    moderator
        .expect(
            Method::PATCH,
            &format!("{members_path}/{out_id}"),
            Some(json!({"role": "owner"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    moderator
        .expect(
            Method::PATCH,
            &format!("{members_path}/{owner_id}"),
            Some(json!({"role": "participant"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    moderator
        .expect(
            Method::DELETE,
            &format!("{members_path}/{owner_id}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    moderator
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    let promoted = moderator
        .expect(
            Method::PATCH,
            &format!("{members_path}/{out_id}"),
            Some(json!({"role": "moderator"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(promoted["role"], "moderator");
    moderator
        .expect(
            Method::DELETE,
            &format!("{members_path}/{out_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    outsider
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;

    // The last owner can neither leave nor step down; with a second owner they can.
    let last = owner
        .expect(
            Method::DELETE,
            &format!("{members_path}/{owner_id}"),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(last["error"]["code"], "last_owner");
    owner
        .expect(
            Method::PATCH,
            &format!("{members_path}/{owner_id}"),
            Some(json!({"role": "moderator"})),
            StatusCode::CONFLICT,
        )
        .await;
    owner
        .expect(
            Method::PATCH,
            &format!("{members_path}/{mo_id}"),
            Some(json!({"role": "owner"})),
            StatusCode::OK,
        )
        .await;
    owner
        .expect(
            Method::DELETE,
            &format!("{members_path}/{owner_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    owner
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{room}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;

    // Anyone may leave.
    participant
        .expect(
            Method::DELETE,
            &format!("{members_path}/{pat_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert!(
        participant.get("/api/v1/rooms").await["rooms"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Every change left a system message, oldest first.
    let chat = moderator
        .get(&format!(
            "/api/v1/rooms/{room}/messages?order=oldest&limit=200"
        ))
        .await;
    let texts: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            "Mo joined as moderator",
            "Pat joined as participant",
            "Out joined as participant",
            "Out is now moderator",
            "Mo removed Out",
            "Mo is now owner",
            "Admin left",
            "Pat left",
        ]
    );
    assert!(
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] == "system" && m["author_id"].is_null())
    );
}

#[tokio::test]
async fn chat_pages_both_ways_with_a_cursor() {
    let server = TestServer::start_with(Settings {
        max_message_chars: Some(20),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let room = admin.create_room("Chat").await;
    for i in 1..=7 {
        let posted = admin.post(&room, &format!("message {i}")).await;
        assert_eq!(posted["author_name"], "Admin");
        assert_eq!(posted["kind"], "user");
    }
    let texts = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let path = format!("/api/v1/rooms/{room}/messages");

    let first = admin.get(&format!("{path}?limit=3")).await;
    assert_eq!(texts(&first), ["message 7", "message 6", "message 5"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = admin.get(&format!("{path}?limit=3&cursor={cursor}")).await;
    assert_eq!(texts(&second), ["message 4", "message 3", "message 2"]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let last = admin.get(&format!("{path}?limit=3&cursor={cursor}")).await;
    assert_eq!(texts(&last), ["message 1"]);
    assert!(last["next_cursor"].is_null());

    let oldest = admin.get(&format!("{path}?order=oldest&limit=4")).await;
    assert_eq!(
        texts(&oldest),
        ["message 1", "message 2", "message 3", "message 4"]
    );
    let cursor = oldest["next_cursor"].as_str().unwrap();
    let rest = admin
        .get(&format!("{path}?order=oldest&limit=4&cursor={cursor}"))
        .await;
    assert_eq!(texts(&rest), ["message 5", "message 6", "message 7"]);
    assert!(rest["next_cursor"].is_null());

    // Length limit, counted in characters, with a clear 422; nothing stored.
    let too_long = admin
        .expect(
            Method::POST,
            &path,
            Some(json!({"text": "é".repeat(21)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(too_long["error"]["field"], "text");
    assert!(
        too_long["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 20")
    );
    admin.post(&room, &"é".repeat(20)).await;
    admin
        .expect(
            Method::POST,
            &path,
            Some(json!({"text": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(
        admin.get(&format!("{path}?limit=200")).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "order=sideways",
        "cursor=-1",
        "colour=red",
    ] {
        let (status, body) = admin
            .call(Method::GET, &format!("{path}?{bad}"), None)
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status} {body}"
        );
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn bad_input_gets_a_named_4xx_and_changes_nothing() {
    let server = TestServer::start_with(Settings {
        max_body_bytes: Some(2048),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let room = admin.create_room("Stable").await;
    let raw = |method: Method, path: &str, body: &'static str, content_type: &'static str| {
        let request = admin
            .http
            .request(method, format!("{}{path}", server.url))
            .bearer_auth(admin.token.clone().unwrap())
            .header("content-type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, body) = raw(
        Method::POST,
        "/api/v1/rooms",
        "{\"name\": ",
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_json");
    let (status, body) = raw(
        Method::POST,
        "/api/v1/rooms",
        "{\"name\": 5}",
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("name"),
        "{body}"
    );
    let (status, body) = raw(
        Method::POST,
        "/api/v1/rooms",
        "{\"nmae\": \"x\"}",
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nmae"),
        "{body}"
    );
    let (status, body) = raw(
        Method::POST,
        "/api/v1/rooms",
        "{\"name\": \"x\"}",
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let big = Box::leak(format!("{{\"name\": \"{}\"}}", "x".repeat(4096)).into_boxed_str());
    let (status, body) = raw(Method::POST, "/api/v1/rooms", big, "application/json").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    for name in ["", "   ", &"x".repeat(101), "bell\u{7}", "new\nline"] {
        let body = admin
            .expect(
                Method::POST,
                "/api/v1/rooms",
                Some(json!({"name": name})),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(body["error"]["field"], "name", "{name:?}");
        admin
            .expect(
                Method::PATCH,
                &format!("/api/v1/rooms/{room}"),
                Some(json!({"name": name})),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
    }
    let bad_role = admin
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/members"),
            Some(json!({"email": "admin@example.org", "role": "king"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(
        bad_role["error"]["message"]
            .as_str()
            .unwrap()
            .contains("role"),
        "{bad_role}"
    );

    let bad_id = admin
        .expect(
            Method::GET,
            "/api/v1/rooms/not-an-id",
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(bad_id["error"]["field"], "room");
    let unknown = admin
        .expect(
            Method::GET,
            "/api/v1/rooms/01a20000-0000-7000-8000-000000000000",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(unknown["error"]["code"], "room_not_found");
    let bad_person = admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/members/nobody"),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(bad_person["error"]["field"], "person");
    admin
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/members/01a20000-0000-7000-8000-000000000000"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    let route = admin
        .expect(Method::GET, "/api/v1/nowhere", None, StatusCode::NOT_FOUND)
        .await;
    assert_eq!(route["error"]["code"], "route_not_found");
    let method = admin
        .expect(
            Method::PUT,
            "/api/v1/rooms",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .await;
    assert_eq!(method["error"]["code"], "method_not_allowed");

    // Nothing above changed anything.
    let rooms = admin.get("/api/v1/rooms").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
    assert_eq!(rooms["rooms"][0]["name"], "Stable");
    assert_eq!(
        admin.get(&format!("/api/v1/rooms/{room}/members")).await["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let health = anon.get("/healthz").await;
    assert_eq!(health["database"], "ok");
    let admin = server.admin().await;
    admin.create_room("Counted").await;
    let events = admin.events(None).await;
    let metrics = server.metrics().await;
    for needle in [
        "huddle_http_requests_total{method=\"POST\",route=\"/api/v1/rooms\",status=\"201\"} 1",
        "huddle_ws_connections 1",
        "huddle_room_actors 1",
        "huddle_events_sent_total",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    events.close().await;

    let doc = anon.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/setup",
        "/api/v1/session",
        "/api/v1/rooms/{room}/members/{person}",
        "/api/v1/events",
        "/api/v1/rooms/{room}/content",
        "/api/v1/rooms/{room}/content/{item}/promote",
        "/api/v1/rooms/{room}/invitations",
        "/api/v1/invitations/{token}/accept",
        "/api/v1/rooms/{room}/breakout/assignments.csv",
        "/api/v1/rooms/{room}/meetings/{meeting}/calendar.ics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    // What the probes found wrong in the document (issue 11): query parameters in the query and
    // optional, one schema per name, optional bodies optional, `details` a list, ranges stated,
    // the common answers listed.
    let messages = &doc["paths"]["/api/v1/rooms/{room}/messages"]["get"]["parameters"];
    for name in ["order", "cursor", "limit"] {
        let p = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        assert_eq!(
            (&p["in"], &p["required"]),
            (&json!("query"), &json!(false)),
            "{p}"
        );
    }
    let resume = &doc["paths"]["/api/v1/events"]["get"]["parameters"][0];
    assert_eq!(
        (&resume["name"], &resume["in"]),
        (&json!("resume"), &json!("query"))
    );
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["BreakoutSession"]["properties"]["rooms"].is_object());
    assert!(schemas["SessionView"]["properties"]["token"].is_object());
    let stop = &doc["paths"]["/api/v1/rooms/{room}/breakout/stop"]["post"]["requestBody"];
    assert_ne!(stop["required"], true, "{stop}");
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["details"]["type"],
        json!(["array", "null"])
    );
    let create = &schemas["CreateRoomsBody"]["properties"]["count"];
    assert_eq!(
        (&create["minimum"], &create["maximum"]),
        (&json!(1), &json!(300))
    );
    let answers = &doc["paths"]["/api/v1/rooms/{room}/messages"]["post"]["responses"];
    for status in ["400", "401", "404", "409", "413", "415", "422"] {
        assert!(
            answers[status].is_object(),
            "{status} missing from {answers}"
        );
    }
    let page = reqwest::get(format!("{}/api/docs/", server.url))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"),
        "the docs page has a content security policy"
    );
    assert!(
        page.text().await.unwrap().contains("swagger"),
        "the docs page is served by the binary"
    );
}

#[tokio::test]
async fn conflicting_commands_from_two_owners_are_applied_one_after_the_other() {
    let server = TestServer::start().await;
    let ada = server.admin().await;
    let bea = server.user(&ada, "Bea").await;
    let ada_id = ada.person_id().await;
    let bea_id = bea.person_id().await;
    for round in 0..10 {
        let room = ada.create_room(&format!("Race {round}")).await;
        ada.add_member(&room, "bea@example.org", "owner").await;
        // Each owner demotes the other at the same moment. The actor applies one first; the other
        // is then a participant and is refused, so the room keeps exactly one owner.
        let demote_bea = format!("/api/v1/rooms/{room}/members/{bea_id}");
        let demote_ada = format!("/api/v1/rooms/{room}/members/{ada_id}");
        let a = ada.call(
            Method::PATCH,
            &demote_bea,
            Some(json!({"role": "participant"})),
        );
        let b = bea.call(
            Method::PATCH,
            &demote_ada,
            Some(json!({"role": "participant"})),
        );
        let ((sa, _), (sb, _)) = tokio::join!(a, b);
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::FORBIDDEN],
            "round {round}: {sa} {sb}"
        );
        let members = ada.get(&format!("/api/v1/rooms/{room}/members")).await;
        let owners = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}: {members}");
    }
}

#[tokio::test]
async fn many_members_are_added_in_one_command() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let accounts: Vec<_> = (0..300)
        .map(|i| json!({"email": format!("p{i}@example.org"), "display_name": format!("P{i}")}))
        .collect();
    let imported = admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": accounts, "issue_tokens": true})),
            StatusCode::CREATED,
        )
        .await;
    let ids: Vec<Value> = imported["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    let first = common::Client {
        token: Some(
            imported["accounts"][0]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        ..server.anonymous()
    };
    let room = admin.create_room("Lecture").await;
    let mut events = first.events(None).await;
    let added = admin
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/members"),
            Some(json!({"person_ids": ids})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(added["members"].as_array().unwrap().len(), 300);
    let event = events.next().await;
    assert_eq!(
        event["type"], "members_added",
        "the new member's connection hears of it at once"
    );
    assert_eq!(
        events.next().await["message"]["text"],
        "300 people joined as participant"
    );
    assert_eq!(
        admin.get(&format!("/api/v1/rooms/{room}/members")).await["members"]
            .as_array()
            .unwrap()
            .len(),
        301
    );
    // All or nothing: one already a member refuses the whole list.
    let again = json!({"person_ids": [ids[0], admin.person_id().await]});
    admin
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/members"),
            Some(again),
            StatusCode::CONFLICT,
        )
        .await;
    let unknown = json!({"person_ids": ["01a20000-0000-7000-8000-000000000000"]});
    let refused = admin
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/members"),
            Some(unknown),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(refused["error"]["field"], "person_ids");
}

#[tokio::test]
async fn a_breakout_room_lists_who_belongs_in_it_to_those_who_may_see_it() {
    let server = TestServer::start_with(huddle::config::Settings {
        guests_with_breakouts: Some(true),
        ..huddle::config::Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let pia = server.user(&owner, "Pia").await;
    let pavel = server.user(&owner, "Pavel").await;
    let bo = server.user(&owner, "Bo").await;
    let main = owner.create_room("Class").await;
    for email in ["pia@example.org", "pavel@example.org"] {
        owner.add_member(&main, email, "participant").await;
    }
    owner
        .expect(
            Method::PUT,
            &format!("/api/v1/rooms/{main}/breakout"),
            Some(json!({"enabled": true, "mode": "manual"})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Red", "Blue"]}))
        .await;
    let (red, blue) = (rooms[0].clone(), rooms[1].clone());
    // Bo belongs to Red alone; Gail is a guest of Blue; Pia is assigned to Red, Pavel to Blue.
    owner
        .add_member(&red, "bo@example.org", "participant")
        .await;
    let gail = server
        .guest(&owner, &blue, "gail@example.org", "Gail")
        .await;
    for (who, room) in [(&pia, &red), (&pavel, &blue)] {
        let id = who.person_id().await;
        owner
            .expect(
                Method::PUT,
                &format!("/api/v1/rooms/{main}/breakout/assignments/{id}"),
                Some(json!({"breakout": room})),
                StatusCode::OK,
            )
            .await;
    }
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/breakout/start"),
            None,
            StatusCode::OK,
        )
        .await;
    // Pia is connected (so in Red); Bo is not.
    let _pia_online = pia.events(None).await;
    let names = |view: &Value| -> Vec<(String, bool)> {
        view["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["display_name"].as_str().unwrap().to_owned(),
                    p["present"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let expected = vec![("Bo".to_owned(), false), ("Pia".to_owned(), true)];
    for _ in 0..100 {
        if names(&owner.get(&format!("/api/v1/rooms/{red}")).await) == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for who in [&owner, &pia, &bo] {
        let view = who.get(&format!("/api/v1/rooms/{red}")).await;
        assert_eq!(names(&view), expected, "{view}");
    }
    // Gail sees Blue's people only, and Red not at all; the main room lists no people.
    let blue_view = gail.get(&format!("/api/v1/rooms/{blue}")).await;
    assert_eq!(
        names(&blue_view),
        vec![("Gail".to_owned(), false), ("Pavel".to_owned(), false)]
    );
    let status = gail.raw_get(&format!("/api/v1/rooms/{red}")).await.status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = server.user(&owner, "Stella").await;
    let status = stranger
        .raw_get(&format!("/api/v1/rooms/{red}"))
        .await
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let main_view = owner.get(&format!("/api/v1/rooms/{main}")).await;
    assert_eq!(main_view["people"], json!([]));
}

#[tokio::test]
async fn a_request_sent_again_with_its_idempotency_key_runs_once_even_after_a_restart() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user(&admin, "Bob").await;
    let room = admin.create_room("Retries").await;
    admin
        .add_member(&room, "bob@example.org", "participant")
        .await;

    // The same request twice: one message, the same answer.
    let (status, first) = admin.post_keyed(&room, "once", "retry-1").await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = admin.post_keyed(&room, "once", "retry-1").await;
    assert_eq!((status, &again), (201, &first));
    // Another key is another request; the same key from another person is theirs alone.
    admin.post_keyed(&room, "twice", "retry-2").await;
    let (status, bobs) = bob.post_keyed(&room, "bob's", "retry-1").await;
    assert_eq!(status, 201);
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(admin.chat_texts(&room).await, ["once", "twice", "bob's"]);

    // A bad key is refused, naming the header, and nothing is written.
    for key in ["", "two words", &"k".repeat(256)] {
        let (status, body) = admin.post_keyed(&room, "refused", key).await;
        assert_eq!(status, 400, "{key:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_idempotency_key");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );
    }
    assert_eq!(admin.chat_texts(&room).await.len(), 3);

    // After a restart (the actor's memory is gone) the key is still recognised, from the store.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, Settings::default()).await;
    let admin = common::Client {
        url: server.url.clone(),
        addr: server.addr,
        ..admin
    };
    let (status, after) = admin.post_keyed(&room, "once", "retry-1").await;
    assert_eq!((status, &after), (201, &first));
    assert_eq!(admin.chat_texts(&room).await, ["once", "twice", "bob's"]);
}
