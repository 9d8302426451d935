//! Content items through the real server: uploads streamed past the request-body limit, safe
//! downloads, links, sharing and promoting with their access rules, and bad input.

mod common;

use common::{Client, TestServer, titles};
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A main room owned by `owner` with `count` breakout rooms; returns (main, breakout ids).
async fn workshop(owner: &Client, count: u32) -> (String, Vec<String>) {
    let main = owner.create_room("Workshop").await;
    let rooms = owner.breakout_rooms(&main, json!({"count": count})).await;
    (main, rooms)
}

#[tokio::test]
async fn a_file_larger_than_the_body_limit_streams_up_and_down_intact() {
    // Requests are limited to 64 KiB; uploads to 8 MiB and are streamed, never buffered whole.
    let server = TestServer::start_with(Settings {
        max_body_bytes: Some(64 * 1024),
        max_upload_bytes: Some(8 << 20),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let room = owner.create_room("Maths").await;
    let mut events = owner.events(None).await;

    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (status, item) = owner
        .upload(
            &room,
            "Résumé final.pdf",
            "application/pdf",
            bytes.clone(),
            &[("title", "Slides")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["kind"], "file");
    assert_eq!(item["title"], "Slides");
    assert_eq!(item["file"]["size"], 3_000_000);
    assert_eq!(item["file"]["name"], "Résumé final.pdf");
    let added = events.next_of("content_added").await;
    assert_eq!(added["item"]["id"], item["id"]);

    // Stored under its hash, never under the user's name.
    let sha = item["file"]["sha256"].as_str().unwrap();
    let stored = server.dir.path().join("content").join(&sha[..2]).join(sha);
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), 3_000_000);

    let id = item["id"].as_str().unwrap();
    let response = owner
        .raw_get(&format!("/api/v1/rooms/{room}/content/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-disposition"],
        "inline; filename=\"R_sum_ final.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let body = response.bytes().await.unwrap();
    assert!(
        body.as_ref() == bytes.as_slice(),
        "the download differs from the upload"
    );

    // A page uploaded as HTML is offered as a download, never shown as Huddle.
    let (_, page) = owner
        .upload(
            &room,
            "x.html",
            "text/html",
            b"<script>alert(1)</script>".to_vec(),
            &[],
        )
        .await;
    let response = owner
        .raw_get(&format!(
            "/api/v1/rooms/{room}/content/{}",
            page["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );

    // A meeting recording is a file of kind `recording`.
    let (status, recording) = owner
        .upload(
            &room,
            "call.webm",
            "video/webm",
            vec![1; 1000],
            &[("kind", "recording"), ("title", "Monday's call")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{recording}");
    assert_eq!(recording["kind"], "recording");
    assert_eq!(recording["file"]["content_type"], "video/webm");
    owner
        .expect(
            Method::DELETE,
            &format!(
                "/api/v1/rooms/{room}/content/{}",
                recording["id"].as_str().unwrap()
            ),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(
        events.next_of("content_deleted").await["id"],
        recording["id"]
    );

    // Listing and deleting.
    let list = owner.get(&format!("/api/v1/rooms/{room}/content")).await;
    assert_eq!(titles(&list), ["Slides", "x.html"]);
    owner
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/content/{id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let deleted = events.next_of("content_deleted").await;
    assert_eq!(deleted["id"], id);
    let list = owner.get(&format!("/api/v1/rooms/{room}/content")).await;
    assert_eq!(titles(&list), ["x.html"]);
    let gone = owner
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{room}/content/{id}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(gone["error"]["code"], "content_item_not_found");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let server = TestServer::start_with(Settings {
        max_upload_bytes: Some(100_000),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let room = owner.create_room("Maths").await;

    let (status, body) = owner
        .upload(
            &room,
            "../../etc/passwd",
            "text/plain",
            b"root".to_vec(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "file_name");

    let (status, body) = owner
        .upload(
            &room,
            "big.bin",
            "application/octet-stream",
            vec![0; 100_001],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large");

    let (status, body) = owner
        .upload(
            &room,
            "a.txt",
            "text/plain",
            b"a".to_vec(),
            &[("kind", "link")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    for (request, field) in [
        (
            json!({"kind": "link", "title": "x", "url": "javascript:alert(1)"}),
            "url",
        ),
        (
            json!({"kind": "app", "title": " ", "url": "https://example.org"}),
            "title",
        ),
    ] {
        let body = owner
            .expect(
                Method::POST,
                &format!("/api/v1/rooms/{room}/content"),
                Some(request),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let response = owner
        .http
        .post(format!("{}/api/v1/rooms/{room}/content", server.url))
        .bearer_auth(owner.token.as_ref().unwrap())
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing was listed, and no file is left on disk.
    let list = owner.get(&format!("/api/v1/rooms/{room}/content")).await;
    assert!(titles(&list).is_empty());
    let files: Vec<_> = walk(&server.dir.path().join("content"));
    assert!(files.is_empty(), "left behind: {files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

#[tokio::test]
async fn sharing_and_promoting_follow_the_access_rules() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let pupil = server.user(&owner, "Pupil").await;
    let (main, rooms) = workshop(&owner, 2).await;
    owner
        .add_member(&main, "pupil@example.org", "participant")
        .await;
    let pupil_id = pupil.person_id().await;
    owner
        .expect(
            Method::PUT,
            &format!("/api/v1/rooms/{main}/breakout/assignments/{pupil_id}"),
            Some(json!({"breakout": rooms[0]})),
            StatusCode::OK,
        )
        .await;
    // A guest invited to room 1 only: a breakout-only member.
    let guest = server
        .guest(&owner, &rooms[0], "guest@elsewhere.org", "Gail")
        .await;

    let link = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content"),
            Some(json!({"kind": "link", "title": "Agenda", "url": "https://example.org/agenda"})),
            StatusCode::CREATED,
        )
        .await;
    let doc = link["id"].as_str().unwrap().to_owned();
    let (_, app_item) = (
        (),
        owner
            .expect(
                Method::POST,
                &format!("/api/v1/rooms/{main}/content"),
                Some(json!({"kind": "app", "title": "Whiteboard", "url": "https://board.example.org/x"})),
                StatusCode::CREATED,
            )
            .await,
    );
    assert_eq!(app_item["kind"], "app");

    // The guest never sees the main room, its content or its chat.
    for path in [
        format!("/api/v1/rooms/{main}"),
        format!("/api/v1/rooms/{main}/content"),
        format!("/api/v1/rooms/{main}/content/{doc}"),
        format!("/api/v1/rooms/{main}/messages"),
    ] {
        guest
            .expect(Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
    }
    let mine = guest.get(&format!("/api/v1/rooms/{}", rooms[0])).await;
    assert_eq!(mine["title"], "Workshop : Room 1");
    assert!(
        titles(
            &guest
                .get(&format!("/api/v1/rooms/{}/content", rooms[0]))
                .await
        )
        .is_empty()
    );
    // Main-room members see the breakout rooms among the room's resources.
    let seen = pupil.get(&format!("/api/v1/rooms/{main}")).await;
    assert_eq!(
        seen["breakout_rooms"].as_array().unwrap().len(),
        2,
        "{seen}"
    );

    // Only managers share, and only main-room items.
    pupil
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content/{doc}/share"),
            Some(json!({"all": true})),
            StatusCode::FORBIDDEN,
        )
        .await;
    let mut guest_events = guest.events(None).await;
    let shared = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content/{doc}/share"),
            Some(json!({"rooms": [rooms[0]]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(shared["shared_with"], json!([rooms[0]]));
    let event = guest_events.next_of("content_shared").await;
    assert_eq!(event["id"], doc);
    assert_eq!(
        titles(
            &guest
                .get(&format!("/api/v1/rooms/{}/content", rooms[0]))
                .await
        ),
        ["Agenda"]
    );
    guest
        .get(&format!("/api/v1/rooms/{}/content/{doc}", rooms[0]))
        .await;
    assert!(
        titles(
            &owner
                .get(&format!("/api/v1/rooms/{}/content", rooms[1]))
                .await
        )
        .is_empty()
    );
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content/{doc}/share"),
            Some(json!({"rooms": ["00000000-0000-0000-0000-000000000001"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;

    // The guest adds a file in their room and promotes it; it shows in the main room, marked.
    let (status, notes) = guest
        .upload(
            &rooms[0],
            "notes.txt",
            "text/plain",
            b"our findings".to_vec(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{notes}");
    let notes_id = notes["id"].as_str().unwrap();
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{}/content/{notes_id}/share", rooms[0]),
            Some(json!({"all": true})),
            StatusCode::CONFLICT,
        )
        .await;
    let copy = guest
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{}/content/{notes_id}/promote", rooms[0]),
            None,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(copy["promoted_from"]["room"], rooms[0]);
    assert_eq!(copy["promoted_from"]["room_name"], "Room 1");
    assert_eq!(copy["promoted_from"]["by_name"], "Gail");
    guest
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{}/content/{notes_id}/promote", rooms[0]),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    let main_list = pupil.get(&format!("/api/v1/rooms/{main}/content")).await;
    assert_eq!(titles(&main_list), ["Agenda", "Whiteboard", "notes.txt"]);
    // The original stays in the breakout room, marked as promoted; the copy's bytes download from
    // the main room.
    let here = guest
        .get(&format!("/api/v1/rooms/{}/content", rooms[0]))
        .await;
    let original = here["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == notes_id)
        .unwrap();
    assert_eq!(original["promoted"], true);
    assert_eq!(
        titles(
            &guest
                .get(&format!("/api/v1/rooms/{}/content", rooms[0]))
                .await
        ),
        ["Agenda", "notes.txt"]
    );
    let copy_id = copy["id"].as_str().unwrap();
    let bytes = pupil
        .raw_get(&format!("/api/v1/rooms/{main}/content/{copy_id}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"our findings");

    // A participant may not promote once the setting forbids it; a moderator still may.
    let (_, second) = pupil
        .upload(&rooms[0], "draft.txt", "text/plain", b"draft".to_vec(), &[])
        .await;
    let second = second["id"].as_str().unwrap();
    owner
        .breakout_setting(&main, "participants_promote", json!(false))
        .await;
    pupil
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{}/content/{second}/promote", rooms[0]),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{}/content/{second}/promote", rooms[0]),
            None,
            StatusCode::CREATED,
        )
        .await;

    // Deleting the breakout rooms keeps the promoted copies in the main room.
    owner
        .expect(
            Method::DELETE,
            &format!("/api/v1/rooms/{main}/breakout/rooms"),
            None,
            StatusCode::OK,
        )
        .await;
    let main_list = owner.get(&format!("/api/v1/rooms/{main}/content")).await;
    assert_eq!(
        titles(&main_list),
        ["Agenda", "Whiteboard", "notes.txt", "draft.txt"]
    );
    assert_eq!(main_list["items"][0]["shared_with"], json!([]));
}

#[tokio::test]
async fn content_survives_a_restart() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let (main, rooms) = workshop(&owner, 1).await;
    let (_, item) = owner
        .upload(&main, "a.txt", "text/plain", b"hello".to_vec(), &[])
        .await;
    let id = item["id"].as_str().unwrap();
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/content/{id}/share"),
            Some(json!({"all": true})),
            StatusCode::OK,
        )
        .await;
    let token = owner.token.clone().unwrap();
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, Settings::default()).await;
    let owner = server.anonymous().with_token(&token);
    let list = owner
        .get(&format!("/api/v1/rooms/{}/content", rooms[0]))
        .await;
    assert_eq!(list["items"][0]["id"], id);
    assert_eq!(list["items"][0]["shared_with"], json!([rooms[0]]));
}

#[tokio::test]
async fn a_stored_file_is_removed_when_no_item_uses_it_any_more() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let room = owner.create_room("Maths").await;
    // Two items with the same bytes share one stored file.
    let (_, first) = owner
        .upload(&room, "a.txt", "text/plain", b"same".to_vec(), &[])
        .await;
    let (_, second) = owner
        .upload(&room, "b.txt", "text/plain", b"same".to_vec(), &[])
        .await;
    let sha = first["file"]["sha256"].as_str().unwrap();
    assert_eq!(second["file"]["sha256"], sha);
    let stored = server.dir.path().join("content").join(&sha[..2]).join(sha);
    // Young files are never swept (an upload may be between its rename and its commit): age it.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stored)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();

    let delete = |item: &Value| {
        format!(
            "/api/v1/rooms/{room}/content/{}",
            item["id"].as_str().unwrap()
        )
    };
    owner
        .expect(
            Method::DELETE,
            &delete(&first),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    // A sweep ran after that deletion; the file is still used by the second item.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(stored.exists(), "still used by b.txt");
    let bytes = owner.raw_get(&delete(&second)).await.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), b"same");

    owner
        .expect(
            Method::DELETE,
            &delete(&second),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    common::wait_until(|| (!stored.exists()).then_some(())).await;
}
