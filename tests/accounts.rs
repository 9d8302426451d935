//! Setup, sign-in, sessions, cookies and CSRF, rate limits, account creation — through the real
//! server.

mod common;

use common::{PASSWORD, TestServer};
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn setup_creates_the_first_administrator_once() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let bad = anon
        .expect(
            Method::POST,
            "/api/v1/setup",
            Some(json!({"email": "nope", "password": PASSWORD, "display_name": "A"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(bad["error"]["field"], "email");
    let short = anon
        .expect(
            Method::POST,
            "/api/v1/setup",
            Some(json!({"email": "a@x.org", "password": "short", "display_name": "A"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(short["error"]["field"], "password");

    let admin = anon
        .expect(
            Method::POST,
            "/api/v1/setup",
            Some(
                json!({"email": "Root@Example.org", "password": PASSWORD, "display_name": "Root"}),
            ),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["email"], "root@example.org");

    let again = anon
        .expect(
            Method::POST,
            "/api/v1/setup",
            Some(json!({"email": "b@x.org", "password": PASSWORD, "display_name": "B"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(again["error"]["code"], "already_set_up");
    // The refused setup changed nothing: b cannot sign in.
    anon.expect(
        Method::POST,
        "/api/v1/session",
        Some(json!({"email": "b@x.org", "password": PASSWORD})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn sign_in_sign_out_and_accounts() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let me = admin.get("/api/v1/session").await;
    assert_eq!(me["display_name"], "Admin");

    let anon = server.anonymous();
    let wrong = anon
        .expect(
            Method::POST,
            "/api/v1/session",
            Some(json!({"email": "admin@example.org", "password": "wrong password"})),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
    anon.expect(
        Method::POST,
        "/api/v1/session",
        Some(json!({"email": "nobody@example.org", "password": PASSWORD})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    anon.expect(Method::GET, "/api/v1/rooms", None, StatusCode::UNAUTHORIZED)
        .await;

    // Administrators create accounts; others may not.
    let bob = server.user(&admin, "Bob").await;
    let refused = bob
        .expect(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"email": "c@x.org", "password": PASSWORD, "display_name": "C"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(refused["error"]["code"], "forbidden");
    let taken = admin
        .expect(
            Method::POST,
            "/api/v1/accounts",
            Some(
                json!({"email": "BOB@example.org", "password": PASSWORD, "display_name": "Bob 2"}),
            ),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(taken["error"]["code"], "email_taken");

    // Sign-out revokes the token.
    bob.expect(
        Method::DELETE,
        "/api/v1/session",
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    bob.expect(
        Method::GET,
        "/api/v1/session",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    admin.get("/api/v1/session").await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_changes() {
    let server = TestServer::start().await;
    server.admin().await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"email": "admin@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("huddle_session="))
        .expect("session cookie");
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();

    // Reads work with the cookie alone.
    let rooms = http
        .get(format!("{}/api/v1/rooms", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(rooms.status(), StatusCode::OK);
    // A change without the CSRF header is refused and changes nothing.
    let forged = http
        .post(format!("{}/api/v1/rooms", server.url))
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(forged["error"]["code"], "csrf_failed");
    let wrong = http
        .post(format!("{}/api/v1/rooms", server.url))
        .header("x-csrf-token", "guess")
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let list: serde_json::Value = http
        .get(format!("{}/api/v1/rooms", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["rooms"].as_array().unwrap().len(), 0);
    // With the header it works.
    let made = http
        .post(format!("{}/api/v1/rooms", server.url))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Real"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);

    // Sign-out through the cookie clears the session.
    let out = http
        .delete(format!("{}/api/v1/session", server.url))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = http
        .get(format!("{}/api/v1/rooms", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account_and_per_address() {
    let settings = Settings {
        login_per_account_per_minute: Some(3),
        login_per_address_per_minute: Some(5),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let admin = server.admin().await; // one attempt for admin@ from this address
    server.user(&admin, "Carol").await; // one attempt for carol@
    let anon = server.anonymous();
    let attempt = |email: &'static str, password: &'static str| {
        let anon = anon.clone();
        async move {
            anon.call(
                Method::POST,
                "/api/v1/session",
                Some(json!({"email": email, "password": password})),
            )
            .await
        }
    };
    // Two more wrong attempts exhaust admin@'s three.
    assert_eq!(
        attempt("admin@example.org", "bad password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt("admin@example.org", "bad password").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = attempt("admin@example.org", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {body}"
    );
    assert_eq!(body["error"]["code"], "rate_limited");
    // The flood came from 127.0.0.1: the owner signing in from elsewhere is not locked out.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap()
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"email": "admin@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
    // Carol's account still has attempts, but the address has now used all five.
    let (status, _) = attempt("carol@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"email": "carol@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn administrators_import_accounts_with_api_tokens() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let accounts: Vec<_> = (0..50)
        .map(|i| json!({"email": format!("Student{i}@School.example"), "display_name": format!("Student {i}")}))
        .collect();
    let imported = admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": accounts, "issue_tokens": true})),
            StatusCode::CREATED,
        )
        .await;
    let rows = imported["accounts"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[7]["email"], "student7@school.example");
    // Each token works at once, without any password.
    let student = common::Client {
        token: Some(rows[7]["token"].as_str().unwrap().to_owned()),
        ..server.anonymous()
    };
    assert_eq!(
        student.get("/api/v1/session").await["display_name"],
        "Student 7"
    );
    let no_password = server
        .anonymous()
        .call(
            Method::POST,
            "/api/v1/session",
            Some(json!({"email": "student7@school.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(no_password.0, StatusCode::UNAUTHORIZED);

    // Bad rows are named, and nothing of a refused import is kept.
    let bad = json!({"accounts": [{"email": "ok@x.example", "display_name": "Ok"}, {"email": "broken", "display_name": "B"}]});
    let refused = admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("row 1"),
        "{refused}"
    );
    let taken = json!({"accounts": [{"email": "new@x.example", "display_name": "New"}, {"email": "student1@school.example", "display_name": "Dup"}]});
    admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(taken),
            StatusCode::CONFLICT,
        )
        .await;
    let twice = json!({"accounts": [{"email": "a@x.example", "display_name": "A"}, {"email": "A@x.example", "display_name": "A"}]});
    admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(twice),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let retry = json!({"accounts": [{"email": "new@x.example", "display_name": "New", "password": PASSWORD}]});
    admin
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(retry),
            StatusCode::CREATED,
        )
        .await;
    server.anonymous().login("new@x.example").await;
    let nobody = json!({"accounts": [{"email": "z@x.example", "display_name": "Z"}]});
    student
        .expect(
            Method::POST,
            "/api/v1/accounts/import",
            Some(nobody),
            StatusCode::FORBIDDEN,
        )
        .await;
}

#[tokio::test]
async fn administrators_list_search_and_reset_accounts() {
    let server = TestServer::start_with(Settings {
        guests_with_breakouts: Some(true),
        ..Settings::default()
    })
    .await;
    let admin = server.admin().await;
    let pia = server.user(&admin, "Pia").await;
    server.user(&admin, "Pavel").await;
    server.user(&admin, "Quinn_Q").await;
    let room = admin.create_room("Class").await;
    let guest = server
        .guest(&admin, &room, "gail@example.org", "Gail")
        .await;

    // Everyone with an account, by email, no guests; searched by name or email; paged.
    let emails = |page: &serde_json::Value| -> Vec<String> {
        page["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = admin.get("/api/v1/accounts").await;
    assert_eq!(
        emails(&all),
        [
            "admin@example.org",
            "pavel@example.org",
            "pia@example.org",
            "quinn_q@example.org"
        ]
    );
    assert!(all["next_cursor"].is_null());
    let first = admin.get("/api/v1/accounts?limit=2").await;
    assert_eq!(emails(&first), ["admin@example.org", "pavel@example.org"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = admin
        .get(&format!("/api/v1/accounts?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(emails(&second), ["pia@example.org", "quinn_q@example.org"]);
    assert_eq!(
        emails(&admin.get("/api/v1/accounts?q=PA").await),
        ["pavel@example.org"]
    );
    assert_eq!(
        emails(&admin.get("/api/v1/accounts?q=_q").await),
        ["quinn_q@example.org"],
        "an underscore means itself"
    );
    let (status, body) = admin
        .call(Method::GET, "/api/v1/accounts?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "limit");
    let (status, body) = admin
        .call(Method::GET, "/api/v1/accounts?sort=name", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Participants and guests may neither list nor reset.
    let pia_id = pia.person_id().await;
    for who in [&pia, &guest] {
        let (status, _) = who.call(Method::GET, "/api/v1/accounts", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = who
            .call(
                Method::PUT,
                &format!("/api/v1/accounts/{pia_id}/password"),
                Some(json!({"password": "a brand new secret"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let anon = server.anonymous();
    let (status, _) = anon.call(Method::GET, "/api/v1/accounts", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A reset: a short password is refused and changes nothing; a good one signs Pia out
    // everywhere, the old password stops working and the new one works.
    let reset = format!("/api/v1/accounts/{pia_id}/password");
    let (status, body) = admin
        .call(Method::PUT, &reset, Some(json!({"password": "short"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "password");
    assert_eq!(pia.get("/api/v1/session").await["email"], "pia@example.org");
    let (status, _) = admin
        .call(
            Method::PUT,
            &reset,
            Some(json!({"password": "a brand new secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = pia.call(Method::GET, "/api/v1/session", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "Pia's session ended");
    let (status, _) = anon
        .call(
            Method::POST,
            "/api/v1/session",
            Some(json!({"email": "pia@example.org", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = anon
        .call(
            Method::POST,
            "/api/v1/session",
            Some(json!({"email": "pia@example.org", "password": "a brand new secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Guests have no password to set; unknown ids are not found.
    let gail_id = guest.person_id().await;
    for id in [gail_id, huddle::ids::PersonId::new().to_string()] {
        let (status, body) = admin
            .call(
                Method::PUT,
                &format!("/api/v1/accounts/{id}/password"),
                Some(json!({"password": "a brand new secret"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

#[tokio::test]
async fn a_large_import_fits_in_one_request_and_many_passwords_run_as_a_job_with_progress() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    // 20,000 accounts without passwords: a 1.5 MB body, over the default 1 MiB limit.
    let many: Vec<_> = (0..20_000)
        .map(|i| json!({"email": format!("student{i}@school.example"), "display_name": format!("Student {i}")}))
        .collect();
    let (status, body) = admin
        .call(
            Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": many})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        &body.to_string()[..200.min(body.to_string().len())]
    );
    assert_eq!(body["accounts"].as_array().unwrap().len(), 20_000);

    // 201 passwords to hash: a background job, followed to its end; nothing exists before.
    let rows: Vec<_> = (0..201)
        .map(|i| json!({"email": format!("staff{i}@school.example"), "display_name": format!("Staff {i}"), "password": PASSWORD}))
        .collect();
    let (status, job) = admin
        .call(
            Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": rows, "issue_tokens": true})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(
        (job["status"].as_str(), job["passwords"].as_u64()),
        (Some("running"), Some(201))
    );
    let path = format!("/api/v1/accounts/import/{}", job["id"].as_str().unwrap());
    // Only the administrator who started it may read it (it will hold tokens).
    server.user(&admin, "Second").await;
    let other = server.anonymous().login("second@example.org").await;
    assert_eq!(
        other.call(Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    let mut seen = Vec::new();
    let done = loop {
        let now = admin.get(&path).await;
        seen.push(now["hashed"].as_u64().unwrap());
        if now["status"] != "running" {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["hashed"], 201);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {seen:?}"
    );
    let accounts = done["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 201);
    let token = accounts[200]["token"].as_str().unwrap();
    let staff = server.anonymous().with_token(token);
    assert_eq!(
        staff.get("/api/v1/session").await["email"],
        "staff200@school.example"
    );
    let signed_in = server.anonymous().login("staff7@school.example").await;
    assert_eq!(
        signed_in.get("/api/v1/session").await["display_name"],
        "Staff 7"
    );

    // A taken address refuses the whole import at once, before any hashing.
    let (status, body) = admin
        .call(
            Method::POST,
            "/api/v1/accounts/import",
            Some(json!({"accounts": [{"email": "new@school.example", "display_name": "New"}, {"email": "staff3@school.example", "display_name": "Again"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("staff3@school.example")
    );
}

#[tokio::test]
async fn accounts_created_at_the_same_moment_are_all_created_or_refused_by_name() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    // Each creation reads before it writes: on SQLite, one that read before another committed
    // used to fail with "database is locked" (a 500) instead of waiting its turn.
    let calls = (0..48).map(|i| {
        let admin = admin.clone();
        // Every fourth call repeats the address before it: one of the two is refused as taken.
        let n = if i % 4 == 3 { i - 1 } else { i };
        let email = format!("p{n}@example.org");
        async move {
            let body = json!({"email": email, "password": PASSWORD, "display_name": "P"});
            admin
                .call(Method::POST, "/api/v1/accounts", Some(body))
                .await
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT && body["error"]["code"] == "email_taken"),
            "{status} {body}"
        );
    }
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 36, "one account per address");
}
