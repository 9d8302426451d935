//! CSV pre-assignment through the real server: the template, an import that creates rooms, adds
//! members and invites unknown addresses, an export that imports back unchanged, and files that
//! are refused whole with every problem listed.

mod common;

use common::{Client, TestServer, invite_link};
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn send_csv(
    client: &Client,
    room: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = client
        .http
        .post(format!(
            "{}/api/v1/rooms/{room}/breakout/assignments.csv",
            client.url
        ))
        .bearer_auth(client.token.as_ref().unwrap())
        .header("content-type", "text/csv")
        .body(body)
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

async fn get_csv(client: &Client, room: &str, file: &str) -> String {
    let response = client
        .raw_get(&format!("/api/v1/rooms/{room}/breakout/{file}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The session's assignments as (room name, display name), sorted.
async fn assignments(client: &Client, main: &str) -> Vec<(String, String)> {
    let session = client.get(&format!("/api/v1/rooms/{main}/breakout")).await;
    let names: std::collections::HashMap<String, String> = session["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["person_id"].as_str().unwrap().to_owned(),
                p["display_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for room in session["rooms"].as_array().unwrap() {
        for person in room["assigned"].as_array().unwrap() {
            let name = names
                .get(person.as_str().unwrap())
                .cloned()
                .unwrap_or_else(|| person.to_string());
            out.push((room["name"].as_str().unwrap().to_owned(), name));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn an_import_creates_rooms_adds_members_invites_and_round_trips() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    for name in ["Ann", "Ben", "Cid"] {
        server.user(&owner, name).await;
    }
    let main = owner.create_room("Seminar").await;
    owner
        .add_member(&main, "ann@example.org", "participant")
        .await;
    owner
        .add_member(&main, "cid@example.org", "participant")
        .await;

    // The template: the header and the participants, with no room yet.
    let template = get_csv(&owner, &main, "template.csv").await;
    assert_eq!(
        template,
        "room_name,first_name,last_name,email\n,Ann,,ann@example.org\n,Cid,,cid@example.org\n"
    );

    // Ben has an account but is not a member yet; Dora has no account.
    let file = "\u{FEFF}room_name,first_name,last_name,email\r\n\
                \"Group, A\",Ann,,ANN@example.org\r\n\
                \"Group, A\",Ben,B,ben@example.org\r\n\
                Group B,Dora,\"D \"\"the\"\" Explorer\",dora@elsewhere.org\r\n\
                ,Cid,,cid@example.org\r\n";
    let (status, summary) = send_csv(&owner, &main, file).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["rows"], 4);
    assert_eq!(summary["rooms_created"], 2);
    assert_eq!(summary["members_added"], 1);
    assert_eq!(summary["assigned"], 2);
    assert_eq!(summary["invited"], 1);
    assert_eq!(
        assignments(&owner, &main).await,
        [
            ("Group, A".to_owned(), "Ann".to_owned()),
            ("Group, A".to_owned(), "Ben".to_owned())
        ]
    );
    let members = owner.get(&format!("/api/v1/rooms/{main}/members")).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 4);
    let email = server.outbox_email("dora@elsewhere.org").await;
    assert!(email.contains("Seminar : Group B"), "{email}");

    // Export, import the export, export again: the same file, and nothing new.
    let first = get_csv(&owner, &main, "assignments.csv").await;
    assert_eq!(
        first,
        "room_name,first_name,last_name,email\nGroup B,,,dora@elsewhere.org\n\
         \"Group, A\",Ann,,ann@example.org\n\"Group, A\",Ben,,ben@example.org\n"
    );
    let (status, again) = send_csv(&owner, &main, first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["rooms_created"].clone(), again["invited"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(get_csv(&owner, &main, "assignments.csv").await, first);

    // Dora accepts; she is in her room, and the export still has her, by her address.
    let link = invite_link(&email);
    let (status, accepted) = server
        .anonymous()
        .call(
            Method::POST,
            &format!(
                "/api/v1/invitations/{}/accept",
                link.trim_start_matches("/invite/")
            ),
            Some(json!({"display_name": "Dora Explorer"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let after = get_csv(&owner, &main, "assignments.csv").await;
    assert!(
        after.contains("Group B,Dora,Explorer,dora@elsewhere.org\n"),
        "{after}"
    );
    let (status, again) = send_csv(&owner, &main, after.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["invited"], 0,
        "a known guest is matched, not invited again"
    );
    assert_eq!(get_csv(&owner, &main, "assignments.csv").await, after);

    // A file is the whole assignment: who is not in it is unassigned.
    let (status, _) = send_csv(
        &owner,
        &main,
        "room_name,first_name,last_name,email\nGroup B,Ann,,ann@example.org\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        assignments(&owner, &main).await,
        [("Group B".to_owned(), "Ann".to_owned())]
    );
}

#[tokio::test]
async fn a_file_with_problems_is_refused_whole_with_every_problem_listed() {
    let server = TestServer::start_with(Settings {
        max_breakout_rooms: Some(3),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let pupil = server.user(&owner, "Pupil").await;
    let main = owner.create_room("Seminar").await;
    owner
        .add_member(&main, "pupil@example.org", "participant")
        .await;
    let before = owner.get(&format!("/api/v1/rooms/{main}/breakout")).await;

    let file = "room_name,first_name,last_name,email\n\
                A,Ann,,ann@example.org\n\
                B,Bob,,not-an-address\n\
                C,Cy\n\
                D,Dee,,ann@example.org\n\
                ,New,Person,new@elsewhere.org\n";
    let (status, body) = send_csv(&owner, &main, file).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_csv");
    let found: Vec<(u64, Value)> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["column"].clone()))
        .collect();
    // Every problem at once: the format's, and the matching's (an unknown address needs a room).
    assert_eq!(
        found,
        [
            (3, json!("email")),
            (4, Value::Null),
            (5, json!("email")),
            (6, json!("room_name"))
        ]
    );
    assert_eq!(
        body["error"]["message"],
        "4 problems in the file; nothing was imported"
    );

    // One problem is named with its row; then the room limit.
    let (status, body) = send_csv(
        &owner,
        &main,
        "room_name,first_name,last_name,email\n,New,,new@elsewhere.org\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["column"], "room_name");
    assert_eq!(
        body["error"]["message"],
        "row 2: new@elsewhere.org has no account: name the breakout room to invite them to; nothing was imported"
    );
    let (status, body) = send_csv(&owner, &main, "room_name,first_name,last_name,email\nA,,,a@x.org\nB,,,b@x.org\nC,,,c@x.org\nD,,,d@x.org\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "room_name");

    // A wrong header, a binary file, an empty file.
    let (status, body) = send_csv(&owner, &main, "name,email\nA,a@x.org\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("room_name,first_name,last_name,email"),
        "{body}"
    );
    let png: Vec<u8> = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
    ];
    let (status, body) = send_csv(&owner, &main, png).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("binary"),
        "{body}"
    );
    let (status, _) = send_csv(&owner, &main, "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Nothing changed.
    assert_eq!(
        owner.get(&format!("/api/v1/rooms/{main}/breakout")).await,
        before
    );
    assert!(
        owner
            .get(&format!("/api/v1/rooms/{main}/invitations"))
            .await["invitations"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Only managers import; not while a round runs. A participant learns nothing of which
    // addresses have accounts: a known and an unknown address get the same refusal.
    let (status, _) = send_csv(&pupil, &main, "room_name,first_name,last_name,email\n").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut answers = Vec::new();
    for email in ["pupil@example.org", "nobody-here@example.org"] {
        let csv = format!("room_name,first_name,last_name,email\nRoom 1,A,B,{email}\n");
        answers.push(send_csv(&pupil, &main, csv).await);
    }
    assert_eq!(answers[0], answers[1], "the same answer for both addresses");
    assert_eq!(answers[0].0, StatusCode::FORBIDDEN, "{:?}", answers[0]);
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/breakout/rooms"),
            Some(json!({"count": 1})),
            StatusCode::CREATED,
        )
        .await;
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/breakout/start"),
            None,
            StatusCode::OK,
        )
        .await;
    let (status, _) = send_csv(
        &owner,
        &main,
        "room_name,first_name,last_name,email\nRoom 1,P,,pupil@example.org\n",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn unknown_addresses_can_be_refused_by_a_setting() {
    let server = TestServer::start_with(Settings {
        csv_invite_unknown: Some(false),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Seminar").await;
    let (status, body) = send_csv(
        &owner,
        &main,
        "room_name,first_name,last_name,email\nA,X,,x@elsewhere.org\nA,Y,,y@elsewhere.org\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2);
    assert!(
        owner.get(&format!("/api/v1/rooms/{main}/breakout")).await["rooms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
