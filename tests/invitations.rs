//! Invitations through the real server: emails written to the outbox or sent to a real SMTP
//! server (Python's aiosmtpd), links followed by guests and by accounts, one use, expiry,
//! revocation, the guest policy, and retries of a failed delivery.

mod common;

use std::time::Duration;

use common::{Client, SmtpSink, TestServer, free_port, invite_link};
use huddle::clock::ManualClock;
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn invite(client: &Client, room: &str, emails: &[&str], role: &str) -> Value {
    client
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{room}/invitations"),
            Some(json!({"emails": emails, "role": role})),
            StatusCode::CREATED,
        )
        .await
}

fn token(link: &str) -> &str {
    link.trim_start_matches("/invite/")
}

async fn accept_as_guest(server: &TestServer, link: &str, name: &str) -> (StatusCode, Value) {
    server
        .anonymous()
        .call(
            Method::POST,
            &format!("/api/v1/invitations/{}/accept", token(link)),
            Some(json!({"display_name": name})),
        )
        .await
}

#[tokio::test]
async fn a_guest_follows_the_link_once_into_their_room_only() {
    let clock = ManualClock::new(1_800_000_000_000);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let owner = server.admin().await;
    let main = owner.create_room("Workshop").await;
    let rooms = owner.breakout_rooms(&main, json!({"count": 2})).await;

    let answer = invite(&owner, &rooms[1], &["Gail@Elsewhere.org"], "participant").await;
    let invitation = &answer["invitations"][0];
    assert_eq!(invitation["email"], "gail@elsewhere.org");
    assert_eq!(invitation["external"], true);
    assert_eq!(invitation["status"], "pending");

    // No SMTP server is configured: the email is a file in the data directory, with the link.
    let email = server.outbox_email("gail@elsewhere.org").await;
    assert!(
        email.contains("Subject: Invitation to Workshop : Room 2"),
        "{email}"
    );
    let link = invite_link(&email);
    let page = reqwest::get(format!("{}{link}", server.url)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the link opens the web app");
    let preview = server
        .anonymous()
        .get(&format!("/api/v1/invitations/{}", token(&link)))
        .await;
    assert_eq!(preview["title"], "Workshop : Room 2");
    assert_eq!(preview["invited_by_name"], "Admin");
    assert_eq!(preview["guests_allowed"], true);
    let listed = owner
        .get(&format!("/api/v1/rooms/{}/invitations", rooms[1]))
        .await;
    assert_eq!(listed["invitations"][0]["mail_status"], "sent");

    // A guest needs a name; then they get a session for that room only.
    let (status, body) = server
        .anonymous()
        .call(
            Method::POST,
            &format!("/api/v1/invitations/{}/accept", token(&link)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A page of another site cannot accept for its visitor (a login CSRF): neither with a plain
    // form's `text/plain` body nor with its `Origin`. The link still works afterwards.
    let accept_url = format!("{}/api/v1/invitations/{}/accept", server.url, token(&link));
    let forged = reqwest::Client::new()
        .post(&accept_url)
        .header("content-type", "text/plain")
        .body(r#"{"display_name":"Forged"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(forged.headers().get("set-cookie").is_none());
    let foreign = reqwest::Client::new()
        .post(&accept_url)
        .header("origin", "https://elsewhere.example")
        .json(&json!({"display_name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.headers().get("set-cookie").is_none());
    let (status, accepted) = accept_as_guest(&server, &link, "Gail").await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let guest = server
        .anonymous()
        .with_token(accepted["session"]["token"].as_str().unwrap());
    let me = guest.get("/api/v1/session").await;
    assert_eq!(me["display_name"], "Gail");
    let list = guest.get("/api/v1/rooms").await;
    assert_eq!(list["rooms"].as_array().unwrap().len(), 1);
    assert_eq!(list["rooms"][0]["title"], "Workshop : Room 2");
    guest.post(&rooms[1], "hello from a guest").await;
    for path in [
        format!("/api/v1/rooms/{main}"),
        format!("/api/v1/rooms/{}", rooms[0]),
    ] {
        guest
            .expect(Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
    }
    guest
        .expect(
            Method::POST,
            "/api/v1/rooms",
            Some(json!({"name": "Mine"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    // The guest is a person like any other: a moderator can move them.
    let guest_id = me["id"].as_str().unwrap();
    owner
        .expect(
            Method::PUT,
            &format!("/api/v1/rooms/{main}/breakout/assignments/{guest_id}"),
            Some(json!({"breakout": rooms[1]})),
            StatusCode::OK,
        )
        .await;
    let listed = owner
        .get(&format!("/api/v1/rooms/{}/invitations", rooms[1]))
        .await;
    assert_eq!(listed["invitations"][0]["status"], "accepted");

    // The link works once.
    let (status, body) = accept_as_guest(&server, &link, "Mallory").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "invitation_used");
    let members = owner
        .get(&format!("/api/v1/rooms/{}/members", rooms[1]))
        .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");

    // An unknown token, a revoked invitation and an expired one.
    let (status, _) = accept_as_guest(&server, "/invite/not-a-token", "X").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let revoked = invite(&owner, &rooms[0], &["r@x.org"], "participant").await;
    let revoked_link = invite_link(&server.outbox_email("r@x.org").await);
    owner
        .expect(
            Method::DELETE,
            &format!(
                "/api/v1/rooms/{}/invitations/{}",
                rooms[0],
                revoked["invitations"][0]["id"].as_str().unwrap()
            ),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    let (status, body) = accept_as_guest(&server, &revoked_link, "R").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::GONE, json!("invitation_revoked"))
    );
    invite(&owner, &rooms[0], &["late@x.org"], "participant").await;
    let late_link = invite_link(&server.outbox_email("late@x.org").await);
    clock.advance(Duration::from_secs(15 * 86_400));
    let (status, body) = accept_as_guest(&server, &late_link, "Late").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::GONE, json!("invitation_expired"))
    );
    let members = owner
        .get(&format!("/api/v1/rooms/{}/members", rooms[0]))
        .await;
    assert!(
        members["members"].as_array().unwrap().is_empty(),
        "{members}"
    );

    // Signed in as a guest, following another invitation adds the same guest (one identity).
    invite(&owner, &main, &["gail.again@elsewhere.org"], "participant").await;
    let again = invite_link(&server.outbox_email("gail.again@elsewhere.org").await);
    let answer = guest
        .expect(
            Method::POST,
            &format!("/api/v1/invitations/{}/accept", token(&again)),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(answer.get("session").is_none(), "{answer}");
    let members = owner.get(&format!("/api/v1/rooms/{main}/members")).await;
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["person_id"] == guest_id),
        "{members}"
    );
    guest.get(&format!("/api/v1/rooms/{main}")).await;
}

#[tokio::test]
async fn a_signed_in_account_follows_the_link_and_the_guest_policy_holds() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let bob = server.user(&owner, "Bob").await;
    let main = owner.create_room("Workshop").await;
    let rooms = owner.breakout_rooms(&main, json!({"count": 1})).await;

    // Participants may not invite; nobody is invited as owner; addresses are checked.
    owner
        .add_member(&main, "bob@example.org", "participant")
        .await;
    bob.expect(
        Method::POST,
        &format!("/api/v1/rooms/{main}/invitations"),
        Some(json!({"emails": ["x@y.org"]})),
        StatusCode::FORBIDDEN,
    )
    .await;
    for (body, field) in [
        (json!({"emails": ["x@y.org"], "role": "owner"}), "role"),
        (json!({"emails": ["not an address"]}), "emails"),
        (json!({"emails": []}), "emails"),
    ] {
        let answer = owner
            .expect(
                Method::POST,
                &format!("/api/v1/rooms/{main}/invitations"),
                Some(body),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }

    // With breakout rooms enabled, external guests cannot be invited to the main room (seed
    // 004), but accounts can, and guests can be invited to a breakout room.
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    let refused = owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/invitations"),
            Some(json!({"emails": ["outsider@x.org"]})),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("breakout"),
        "{refused}"
    );
    let carol = server.user(&owner, "Carol").await;
    invite(&owner, &main, &["carol@example.org"], "moderator").await;
    invite(&owner, &rooms[0], &["outsider@x.org"], "participant").await;

    let link = invite_link(&server.outbox_email("carol@example.org").await);
    let accepted = carol
        .expect(
            Method::POST,
            &format!("/api/v1/invitations/{}/accept", token(&link)),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(accepted["room"], main);
    assert!(accepted.get("session").is_none());
    let room = carol.get(&format!("/api/v1/rooms/{main}")).await;
    assert_eq!(room["role"], "moderator");
}

#[tokio::test]
async fn emails_go_out_over_smtp_with_the_rooms_meetings_and_the_link_works() {
    let sink = SmtpSink::start(free_port());
    let server = TestServer::start_with(Settings {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port)),
        mail_from: Some("Huddle <huddle@school.example>".into()),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let dave = server.user(&owner, "Dave").await;
    let main = owner.create_room("Physics").await;
    let soon = huddle::clock::Clock::now_ms(&huddle::clock::SystemClock) + 7 * 86_400_000;
    owner
        .expect(
            Method::POST,
            &format!("/api/v1/rooms/{main}/meetings"),
            Some(json!({"title": "Lab review", "starts_at": soon, "duration_mins": 45})),
            StatusCode::CREATED,
        )
        .await;

    invite(&owner, &main, &["dave@example.org"], "participant").await;
    let email = sink.wait_for(1).await.remove(0);
    assert!(
        email.contains("From: Huddle <huddle@school.example>"),
        "{email}"
    );
    assert!(email.contains("To: dave@example.org"), "{email}");
    assert!(email.contains("Subject: Invitation to Physics"), "{email}");
    assert!(
        email.contains("text/calendar"),
        "the meeting is attached: {email}"
    );
    assert!(
        email.contains("Lab review.ics"),
        "the calendar is named by the meeting: {email}"
    );
    let link = invite_link(&email);
    assert!(
        !server.dir.path().join("outbox").exists(),
        "SMTP is used, not files"
    );

    dave.expect(
        Method::POST,
        &format!("/api/v1/invitations/{}/accept", token(&link)),
        None,
        StatusCode::OK,
    )
    .await;
    let room = dave.get(&format!("/api/v1/rooms/{main}")).await;
    assert_eq!(room["role"], "participant");
    let listed = owner
        .get(&format!("/api/v1/rooms/{main}/invitations"))
        .await;
    assert_eq!(listed["invitations"][0]["mail_status"], "sent");
    assert_eq!(listed["invitations"][0]["status"], "accepted");
}

#[tokio::test]
async fn a_failed_delivery_is_visible_and_retried_until_it_goes_out() {
    let port = free_port();
    let clock = ManualClock::new(1_800_000_000_000);
    let server = TestServer::start_with_clock(
        Settings {
            smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
            ..Settings::default()
        },
        clock.clone(),
    )
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Physics").await;
    invite(&owner, &main, &["erin@example.org"], "participant").await;

    // Nothing listens on the port yet: the inviter sees the failure and when it is tried again.
    let failed = owner.wait_for_mail_status(&main, "retrying").await;
    assert_eq!(failed["mail_attempts"], 1);
    assert!(failed["mail_error"].as_str().unwrap().len() > 5, "{failed}");
    assert_eq!(failed["mail_next_at"], 1_800_000_000_000i64 + 30_000);

    // The server comes up; when the retry is due, the email goes out and its link works.
    let sink = SmtpSink::start(port);
    clock.advance(Duration::from_secs(31));
    let email = sink.wait_for(1).await.remove(0);
    let link = invite_link(&email);
    let (status, body) = accept_as_guest(&server, &link, "Erin").await;
    // A main room without breakout rooms enabled takes guests.
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = owner
        .get(&format!("/api/v1/rooms/{main}/invitations"))
        .await;
    assert_eq!(listed["invitations"][0]["mail_status"], "sent");
    assert_eq!(listed["invitations"][0]["mail_attempts"], 2);
}

/// Runs openssl with these arguments in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl must be installed");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test]
async fn starttls_is_required_and_the_servers_certificate_checked() {
    // A test CA and a certificate for localhost signed by it.
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Huddle Test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    let sink = SmtpSink::start_tls(
        free_port(),
        &dir.join("server.pem"),
        &dir.join("server.key"),
    );
    let url = format!("smtp://localhost:{}?tls=required", sink.port);

    // Without trusting the CA, nothing is sent: the certificate is checked.
    let untrusting = TestServer::start_with(Settings {
        smtp_url: Some(url.clone()),
        ..Settings::default()
    })
    .await;
    let owner = untrusting.admin().await;
    let main = owner.create_room("Secure").await;
    invite(&owner, &main, &["first@example.org"], "participant").await;
    let failed = owner.wait_for_mail_status(&main, "retrying").await;
    assert!(
        failed["mail_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{failed}"
    );
    assert!(sink.messages().is_empty());

    // Trusting it, the email goes out over STARTTLS and its link works.
    let server = TestServer::start_with(Settings {
        smtp_url: Some(url),
        smtp_ca_file: Some(dir.join("ca.pem")),
        ..Settings::default()
    })
    .await;
    let owner = server.admin().await;
    let main = owner.create_room("Secure").await;
    invite(&owner, &main, &["second@example.org"], "participant").await;
    let email = sink.wait_for(1).await.remove(0);
    assert!(email.contains("To: second@example.org"), "{email}");
    let (status, body) = accept_as_guest(&server, &invite_link(&email), "Second").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_guest_is_moved_during_a_round_like_anyone() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let main = owner.create_room("Workshop").await;
    let rooms = owner.breakout_rooms(&main, json!({"count": 2})).await;
    owner.breakout_setting(&main, "enabled", json!(true)).await;
    owner.breakout_setting(&main, "mode", json!("manual")).await;
    let guest = server
        .guest(&owner, &rooms[0], "gail@elsewhere.org", "Gail")
        .await;
    let guest_id = guest.person_id().await;
    let mut events = guest.events(None).await;
    let b = format!("/api/v1/rooms/{main}/breakout");
    let location = |view: &Value| {
        view["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["person_id"] == guest_id.as_str())
            .map(|p| p["location"].clone())
            .unwrap()
    };
    assert_eq!(location(&owner.get(&b).await), json!(rooms[0]));
    owner
        .expect(Method::POST, &format!("{b}/start"), None, StatusCode::OK)
        .await;

    owner
        .expect(
            Method::PUT,
            &format!("{b}/assignments/{guest_id}"),
            Some(json!({"breakout": rooms[1]})),
            StatusCode::OK,
        )
        .await;
    let moved = events.next_of("assigned").await;
    assert_eq!(moved["breakout"], rooms[1]);
    assert_eq!(location(&owner.get(&b).await), json!(rooms[1]));
    guest.get(&format!("/api/v1/rooms/{}", rooms[1])).await;
    guest.post(&rooms[1], "hello, Room 2").await;
    guest
        .expect(
            Method::GET,
            &format!("/api/v1/rooms/{main}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;

    // When the round ends, the guest is back in their own room, not in the main room.
    owner
        .expect(Method::POST, &format!("{b}/stop"), None, StatusCode::OK)
        .await;
    events.next_of("breakout_stopped").await;
    assert_eq!(location(&owner.get(&b).await), json!(rooms[0]));
}

#[tokio::test]
async fn invitation_emails_have_hourly_quotas_and_carry_no_links_from_non_administrators() {
    let server = TestServer::start_with(Settings {
        invitations_per_person_per_hour: Some(5),
        invitations_per_room_per_hour: Some(8),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let mo = server.user(&admin, "Mo").await;
    server.user(&admin, "Kit").await;
    let kit = server.anonymous().login("kit@example.org").await;
    // Mo moderates the staff room Kit and the administrator are in: Mo may add them by address.
    let staff = admin.create_room("Staff").await;
    admin
        .add_member(&staff, "mo@example.org", "moderator")
        .await;
    admin
        .add_member(&staff, "kit@example.org", "participant")
        .await;
    let room = mo.create_room("Win big at www.spam.example now").await;
    mo.add_member(&room, "kit@example.org", "moderator").await;
    mo.add_member(&room, "admin@example.org", "moderator").await;
    let in_a_day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 86_400_000;
    mo.expect(
        Method::POST,
        &format!("/api/v1/rooms/{room}/meetings"),
        Some(json!({"title": "Prizes", "description": "Claim at https://spam.example/win", "starts_at": in_a_day, "duration_mins": 30})),
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/rooms/{room}/invitations");
    let listed = |client: &Client| {
        let path = path.clone();
        let client = client.clone();
        async move {
            client.get(&path).await["invitations"]
                .as_array()
                .unwrap()
                .len()
        }
    };

    // Mo may send 5 an hour: the sixth address is refused whole, with why, and nothing is made.
    invite(
        &mo,
        &room,
        &["a1@example.org", "a2@example.org", "a3@example.org"],
        "participant",
    )
    .await;
    invite(
        &mo,
        &room,
        &["a4@example.org", "a5@example.org"],
        "participant",
    )
    .await;
    let (status, body) = mo
        .call(
            Method::POST,
            &path,
            Some(json!({"emails": ["a6@example.org"]})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one person may send 5"),
        "{body}"
    );
    assert_eq!(listed(&mo).await, 5);
    // Kit, in the same room, fills its 8 and is then refused for the room; a resend counts too.
    invite(
        &kit,
        &room,
        &["b1@example.org", "b2@example.org"],
        "participant",
    )
    .await;
    let first = mo.get(&path).await["invitations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    kit.expect(
        Method::POST,
        &format!("{path}/{first}/resend"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let (status, body) = kit
        .call(
            Method::POST,
            &path,
            Some(json!({"emails": ["b3@example.org"]})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one room may send 8"),
        "{body}"
    );
    // An administrator is not limited.
    invite(
        &admin,
        &room,
        &["c1@example.org", "c2@example.org"],
        "participant",
    )
    .await;
    assert_eq!(listed(&mo).await, 9);

    // What Mo chose reaches the stranger short and without links: the title's address is gone,
    // and the meeting goes without its description.
    let email = server
        .outbox_email("a1@example.org")
        .await
        .replace("=\r\n", "");
    assert!(email.contains("Win big at [link] now"), "{email}");
    assert!(!email.contains("spam.example"), "{email}");
    assert!(email.contains("SUMMARY:Prizes"), "{email}");
    assert!(!email.contains("DESCRIPTION"), "{email}");
    // The administrator's email carries what was written.
    let from_admin = server
        .outbox_email("c1@example.org")
        .await
        .replace("=\r\n", "");
    assert!(from_admin.contains("www.spam.example"), "{from_admin}");
}
