//! Recording calls through the real server: who may record, several rooms at once, the stops
//! that come by themselves, restarts while recording and composing, and the limits (the disk
//! quota, someone in the room, recordings per main room and per person, a deleted room's job
//! cancelled with its ffmpeg, a recording of nobody not composed).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::call::{Person, breakout, class, command, expect_senders, watch};
use common::{Client, Events, TestServer, wait_until_async};
use huddle::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The recordings of `room` as its moderators see them.
async fn recordings(owner: &Client, room: &str) -> Vec<Value> {
    owner.get(&format!("/api/v1/rooms/{room}/recordings")).await["recordings"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until recording `id` (listed under `room`) is composed; returns its row.
async fn composed(owner: &Client, room: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = recordings(owner, room).await;
        let row = rows.iter().find(|r| r["id"] == id).cloned().unwrap();
        match row["state"].as_str().unwrap() {
            "composed" => return row,
            "failed" => panic!("composing failed: {row}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "not composed in time: {row}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads a media file's streams and duration with ffprobe.
fn probe(bytes: &[u8]) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(file.path())
        .output()
        .expect("ffprobe (Debian's ffmpeg; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits for an event of `kind` about `room` on a WebSocket, skipping others.
async fn next_about(events: &mut Events, kind: &str, room: &str) -> Value {
    loop {
        let event = events.next_of(kind).await;
        if event["room"] == room {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_record_rooms_and_each_recording_lands_in_its_room() {
    // The round's timer and the empty room's grace run on a clock the test moves.
    let clock = huddle::clock::ManualClock::new(1_700_000_000_000);
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    let (owner, p1, p2, main) = class(&server).await;
    owner
        .expect(
            Method::PUT,
            &breakout(&main, ""),
            Some(json!({"enabled": true, "mode": "free", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let red = owner.breakout_rooms(&main, json!({"names": ["Red"]})).await[0].clone();

    // Nobody but owners and moderators records, and nothing they try changes anything.
    let guest = server.guest(&owner, &red, "gus@example.org", "Gus").await;
    let bo = server.user(&owner, "Bo").await;
    owner
        .add_member(&red, "bo@example.org", "participant")
        .await;
    let stranger = server.user(&owner, "Stella").await;
    let at = |room: &str| format!("/api/v1/rooms/{room}/recording");
    for (who, client, room, status) in [
        ("a participant", &p1, &main, StatusCode::FORBIDDEN),
        ("a guest, in its room", &guest, &red, StatusCode::FORBIDDEN),
        (
            "a guest, in the main room",
            &guest,
            &main,
            StatusCode::NOT_FOUND,
        ),
        ("a breakout-only member", &bo, &red, StatusCode::FORBIDDEN),
        (
            "a breakout-only member, main",
            &bo,
            &main,
            StatusCode::NOT_FOUND,
        ),
        ("a stranger", &stranger, &main, StatusCode::NOT_FOUND),
    ] {
        for method in [Method::POST, Method::DELETE] {
            let answer = client.call(method.clone(), &at(room), None).await;
            assert_eq!(answer.0, status, "{who} {method}: {}", answer.1);
        }
        let list = client
            .call(
                Method::GET,
                &format!("/api/v1/rooms/{room}/recordings"),
                None,
            )
            .await;
        assert_eq!(list.0, status, "{who} listing: {}", list.1);
    }
    assert!(recordings(&owner, &main).await.is_empty());
    let answer = owner.call(Method::DELETE, &at(&main), None).await;
    assert_eq!(answer.0, StatusCode::CONFLICT, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], "not_recording");

    // The owner and Pia in the main room, Pavel in Red; all in the call.
    let o = Person::join(&owner, "owner", 0, &main).await;
    let mut a = Person::join(&p1, "Pia", 1, &main).await;
    let mut b = Person::join(&p2, "Pavel", 2, &main).await;
    command(&owner, breakout(&main, "/start"), None).await;
    command(
        &p2,
        breakout(&main, "/join"),
        Some(json!({"breakout": red})),
    )
    .await;
    let everyone = watch(&[&o, &a, &b]);
    expect_senders(&everyone, &[&[1], &[0], &[]], "Pavel in Red").await;

    // Both rooms recorded at once.
    let main_rec = owner
        .expect(Method::POST, &at(&main), None, StatusCode::CREATED)
        .await;
    let red_rec = owner
        .expect(Method::POST, &at(&red), None, StatusCode::CREATED)
        .await;
    assert_eq!(main_rec["room_id"], main.as_str());
    assert_eq!(main_rec["started_by_name"], "Admin");
    let again = owner.call(Method::POST, &at(&red), None).await;
    assert_eq!(again.1["error"]["code"], "already_recording", "{}", again.1);
    // Everyone in each room is told on the event stream, and people in the call in their call
    // view too (the two come by different paths, so in either order); the room says so to
    // whoever opens it.
    for (p, room, rec) in [(&mut a, &main, &main_rec), (&mut b, &red, &red_rec)] {
        let (mut event, mut view) = (false, false);
        while !(event && view) {
            let frame = p.events.next().await;
            event |= frame["type"] == "recording_started"
                && frame["room"] == room.as_str()
                && frame["recording"]["id"] == rec["id"];
            view |= frame["type"] == "call_state" && frame["recording"] == true;
        }
    }
    assert_eq!(
        p1.get(&format!("/api/v1/rooms/{main}")).await["recording"]["id"],
        main_rec["id"]
    );
    // A few seconds of media.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let live = recordings(&owner, &main).await;
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|r| r["state"] == "recording"), "{live:?}");

    // The owner stops the main room's; the end of the round stops Red's by itself.
    let stopped = owner
        .expect(Method::DELETE, &at(&main), None, StatusCode::OK)
        .await;
    assert_eq!(stopped["stop_reason"], "stopped");
    command(&owner, breakout(&main, "/stop"), None).await;
    let ended = next_about(&mut b.events, "recording_stopped", &red).await;
    assert_eq!(ended["reason"], "round_ended");

    for (room, rec) in [(&main, &main_rec), (&red, &red_rec)] {
        let id = rec["id"].as_str().unwrap();
        let row = composed(&owner, &main, id).await;
        assert_eq!(row["room_id"], room.as_str());
        // The item is in its room, with the recording's id, a duration and a size.
        let content = owner.get(&format!("/api/v1/rooms/{room}/content")).await;
        let item = content["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no item {id} in {content}"));
        assert_eq!(item["kind"], "recording");
        assert_eq!(item["file"]["content_type"], "video/webm");
        let ms = item["file"]["duration_ms"].as_u64().unwrap();
        assert!((2_500..20_000).contains(&ms), "{item}");
        let bytes = owner
            .raw_get(&format!("/api/v1/rooms/{room}/content/{id}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, item["file"]["size"].as_u64().unwrap());
        let probe = probe(&bytes);
        let codecs: BTreeSet<String> = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codecs, ["opus", "vp8"].map(String::from).into(), "{probe}");
        let seconds: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (seconds * 1000.0 - ms as f64).abs() < 500.0,
            "{probe} vs {ms} ms"
        );
    }
    // Pavel (in Red during the round) sees Red's recording appear there.
    let added = next_about(&mut b.events, "content_added", &red).await;
    assert_eq!(added["item"]["id"], red_rec["id"]);

    // Recording again, then everyone leaves: the recording stops once the room has been empty
    // for the grace time.
    let again = owner
        .expect(Method::POST, &at(&main), None, StatusCode::CREATED)
        .await;
    for p in [o, a, b] {
        p.driver.abort();
        p.events.close().await;
    }
    wait_until_async(|| async {
        let row = recordings(&owner, &main)
            .await
            .into_iter()
            .find(|r| r["id"] == again["id"])?;
        (row["state"] == "recording").then_some(())
    })
    .await;
    clock.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = recordings(&owner, &main)
        .await
        .into_iter()
        .find(|r| r["id"] == again["id"]);
    assert_eq!(
        row.unwrap()["state"],
        "recording",
        "still within the grace time"
    );
    clock.advance(Duration::from_secs(2));
    let row = wait_until_async(|| async {
        let row = recordings(&owner, &main)
            .await
            .into_iter()
            .find(|r| r["id"] == again["id"])?;
        (row["state"] != "recording").then_some(row)
    })
    .await;
    assert_eq!(row["stop_reason"], "emptied", "{row}");
}

/// Huddle stops while a room is recorded, and again while that recording is being composed:
/// each time the next start carries on from the raw files, and the item lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_survives_restarts_while_recording_and_while_composing() {
    let server = TestServer::start().await;
    let (owner, p1, _, main) = class(&server).await;
    let at = format!("/api/v1/rooms/{main}/recording");
    let o = Person::join(&owner, "owner", 0, &main).await;
    let a = Person::join(&p1, "Pia", 1, &main).await;
    expect_senders(&watch(&[&o, &a]), &[&[1], &[0]], "both in the call").await;
    let rec = owner
        .expect(Method::POST, &at, None, StatusCode::CREATED)
        .await;
    let id = rec["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for p in [o, a] {
        p.driver.abort();
    }

    // Huddle stops while recording. It starts again with an ffmpeg that never finishes.
    let dir = server.stop().await;
    let stuck = dir.path().join("stuck-ffmpeg");
    std::fs::write(&stuck, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&stuck, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let settings = Settings {
        ffmpeg: Some(stuck.clone()),
        ..Settings::default()
    };
    let server = TestServer::start_in(dir, settings).await;
    let owner = server.anonymous().login("admin@example.org").await;
    let row = wait_until_async(|| async {
        let row = recordings(&owner, &main)
            .await
            .into_iter()
            .find(|r| r["id"] == id)?;
        (row["progress"]["state"] == "composing").then_some(row)
    })
    .await;
    assert_eq!(row["stop_reason"], "interrupted", "{row}");
    assert_eq!(row["state"], "composing");

    // Huddle stops while composing; with a working ffmpeg the next start finishes the job.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, Settings::default()).await;
    let owner = server.anonymous().login("admin@example.org").await;
    composed(&owner, &main, &id).await;
    let content = owner.get(&format!("/api/v1/rooms/{main}/content")).await;
    let items: Vec<&Value> = content["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "recording")
        .collect();
    assert_eq!(items.len(), 1, "{content}");
    let ms = items[0]["file"]["duration_ms"].as_u64().unwrap();
    assert!(
        (2_000..30_000).contains(&ms),
        "what was written until the stop: {ms} ms"
    );
    // The raw files are gone once the item is in.
    assert!(!server.dir.path().join("recordings").join(&id).exists());
}

/// Recordings that already take the disk quota keep a new one from starting, and nothing
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_recording_quota_refuses_to_start() {
    let settings = Settings {
        recording_quota_mb: Some(1),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let (owner, p1, _, main) = class(&server).await;
    let at = format!("/api/v1/rooms/{main}/recording");
    // The owner is in the room (a recording of nobody does not start).
    let _here = owner.events(None).await;
    let raw = server.dir.path().join("recordings").join("left-over");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(raw.join("0001-x-mic.ogg"), vec![0u8; 2 << 20]).unwrap();
    let answer = owner.call(Method::POST, &at, None).await;
    assert_eq!(answer.0, StatusCode::INSUFFICIENT_STORAGE, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], "recording_quota");
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recording_quota_mb"),
        "{}",
        answer.1
    );
    // A participant learns nothing about the disk: refused for who they are.
    let answer = p1.call(Method::POST, &at, None).await;
    assert_eq!(answer.0, StatusCode::FORBIDDEN, "{}", answer.1);
    assert!(recordings(&owner, &main).await.is_empty());
    assert!(owner.get(&format!("/api/v1/rooms/{main}")).await["recording"].is_null());
    // Room made: it starts.
    std::fs::remove_dir_all(&raw).unwrap();
    owner
        .expect(Method::POST, &at, None, StatusCode::CREATED)
        .await;
}

/// A recording starts only while someone is in the room, and at most
/// `max_recordings_per_room` (here 2) run in a main room with its breakout rooms, and
/// `max_recordings_per_person` (here 3) that one person started; each refusal names its setting
/// and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_start_only_with_someone_there_and_within_the_limits() {
    let settings = Settings {
        max_recordings_per_room: Some(2),
        max_recordings_per_person: Some(3),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let (owner, p1, p2, main) = class(&server).await;
    let at = |room: &str| format!("/api/v1/rooms/{room}/recording");
    let refused = |answer: (StatusCode, Value), code: &str, setting: &str| {
        assert_eq!(answer.0, StatusCode::CONFLICT, "{}", answer.1);
        assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
        assert!(
            answer.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains(setting),
            "{}",
            answer.1
        );
    };

    // Nobody is connected: nothing to record.
    refused(
        owner.call(Method::POST, &at(&main), None).await,
        "room_empty",
        "nobody is in this room",
    );
    assert!(recordings(&owner, &main).await.is_empty());

    // Pia in Red, Pavel in Blue, the owner in the main room.
    owner
        .expect(
            Method::PUT,
            &breakout(&main, ""),
            Some(json!({"enabled": true, "mode": "free", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Red", "Blue"]}))
        .await;
    let (red, blue) = (rooms[0].clone(), rooms[1].clone());
    let _o = owner.events(None).await;
    let _a = p1.events(None).await;
    let _b = p2.events(None).await;
    command(&owner, breakout(&main, "/start"), None).await;
    for (client, room) in [(&p1, &red), (&p2, &blue)] {
        command(
            client,
            breakout(&main, "/join"),
            Some(json!({"breakout": room})),
        )
        .await;
    }

    // Two at once in this main room; a third is refused until one stops.
    for room in [&main, &red] {
        owner
            .expect(Method::POST, &at(room), None, StatusCode::CREATED)
            .await;
    }
    refused(
        owner.call(Method::POST, &at(&blue), None).await,
        "recording_limit",
        "max_recordings_per_room",
    );
    assert_eq!(recordings(&owner, &main).await.len(), 2);
    owner
        .expect(Method::DELETE, &at(&main), None, StatusCode::OK)
        .await;
    owner
        .expect(Method::POST, &at(&blue), None, StatusCode::CREATED)
        .await;

    // The owner has two under way (Red and Blue), a third in another room of theirs, and not
    // a fourth in yet another.
    let other = owner.create_room("Other").await;
    let another = owner.create_room("Another").await;
    let _there = owner.events(None).await;
    owner
        .expect(Method::POST, &at(&other), None, StatusCode::CREATED)
        .await;
    refused(
        owner.call(Method::POST, &at(&another), None).await,
        "recording_limit",
        "max_recordings_per_person",
    );
    assert!(recordings(&owner, &another).await.is_empty());
    owner
        .expect(Method::DELETE, &at(&red), None, StatusCode::OK)
        .await;
    owner
        .expect(Method::POST, &at(&another), None, StatusCode::CREATED)
        .await;
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| stat.contains(") Z "))
}

/// A deleted breakout room's recordings are not composed: the job still waiting is dropped,
/// the one running has its ffmpeg killed, and their raw files go. A room recorded while nobody
/// sent sound or picture is not composed either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_rooms_composing_is_cancelled_with_its_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    // An ffmpeg that notes its process id and never finishes.
    let pids = dir.path().join("pids");
    let stuck = dir.path().join("stuck-ffmpeg");
    std::fs::write(
        &stuck,
        format!("#!/bin/sh\necho $$ >> {}\nexec sleep 600\n", pids.display()),
    )
    .unwrap();
    std::fs::set_permissions(&stuck, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let settings = Settings {
        ffmpeg: Some(stuck),
        recording_jobs: Some(1),
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let (owner, p1, p2, main) = class(&server).await;
    let at = |room: &str| format!("/api/v1/rooms/{room}/recording");
    owner
        .expect(
            Method::PUT,
            &breakout(&main, ""),
            Some(json!({"enabled": true, "mode": "free", "duration_secs": 600})),
            StatusCode::OK,
        )
        .await;
    let rooms = owner
        .breakout_rooms(&main, json!({"names": ["Red", "Blue"]}))
        .await;
    let (red, blue) = (rooms[0].clone(), rooms[1].clone());
    let o = Person::join(&owner, "owner", 0, &main).await;
    let a = Person::join(&p1, "Pia", 1, &main).await;
    let b = Person::join(&p2, "Pavel", 2, &main).await;
    command(&owner, breakout(&main, "/start"), None).await;
    for (client, room) in [(&p1, &red), (&p2, &blue)] {
        command(
            client,
            breakout(&main, "/join"),
            Some(json!({"breakout": room})),
        )
        .await;
    }
    expect_senders(&watch(&[&o, &a, &b]), &[&[], &[], &[]], "each alone").await;
    let mut ids = Vec::new();
    for room in [&red, &blue] {
        let rec = owner
            .expect(Method::POST, &at(room), None, StatusCode::CREATED)
            .await;
        ids.push(rec["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Red's is composed first (and never finishes); Blue's waits for its turn.
    for room in [&red, &blue] {
        owner
            .expect(Method::DELETE, &at(room), None, StatusCode::OK)
            .await;
    }
    let raw = |id: &str| server.dir.path().join("recordings").join(id);
    let pid: u32 =
        wait_until_async(|| async { std::fs::read_to_string(&pids).ok()?.trim().parse().ok() })
            .await;
    assert!(!gone(pid));
    assert!(raw(&ids[1]).exists(), "Blue's files wait");

    // Blue deleted: its waiting job goes with its files; Red's ffmpeg runs on.
    owner
        .expect(
            Method::DELETE,
            &breakout(&main, &format!("/rooms/{blue}")),
            None,
            StatusCode::OK,
        )
        .await;
    wait_until_async(|| async { (!raw(&ids[1]).exists()).then_some(()) }).await;
    assert!(!gone(pid), "Red's composing is not touched");
    let rows = recordings(&owner, &main).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], ids[0].as_str());

    // Red deleted: its ffmpeg is killed and its files removed.
    owner
        .expect(
            Method::DELETE,
            &breakout(&main, &format!("/rooms/{red}")),
            None,
            StatusCode::OK,
        )
        .await;
    wait_until_async(|| async { gone(pid).then_some(()) }).await;
    wait_until_async(|| async { (!raw(&ids[0]).exists()).then_some(()) }).await;
    assert!(recordings(&owner, &main).await.is_empty());
    assert_eq!(
        std::fs::read_to_string(&pids).unwrap().lines().count(),
        1,
        "only Red's job ever ran"
    );
    for p in [o, a, b] {
        p.driver.abort();
    }
}

/// A recording of a room whose people never sent sound or picture is discarded with that reason,
/// not composed into a black video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_nobody_in_the_call_is_not_composed() {
    let server = TestServer::start().await;
    let (owner, _, _, main) = class(&server).await;
    let at = format!("/api/v1/rooms/{main}/recording");
    // In the room, not in its call.
    let _here = owner.events(None).await;
    let rec = owner
        .expect(Method::POST, &at, None, StatusCode::CREATED)
        .await;
    let id = rec["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    owner
        .expect(Method::DELETE, &at, None, StatusCode::OK)
        .await;
    let row = wait_until_async(|| async {
        let row = recordings(&owner, &main)
            .await
            .into_iter()
            .find(|r| r["id"] == id.as_str())?;
        (row["state"] == "failed").then_some(row)
    })
    .await;
    assert!(
        row["progress"]["error"]
            .as_str()
            .unwrap()
            .contains("nothing to compose"),
        "{row}"
    );
    assert!(!server.dir.path().join("recordings").join(&id).exists());
    let content = owner.get(&format!("/api/v1/rooms/{main}/content")).await;
    assert!(
        content["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["kind"] != "recording"),
        "{content}"
    );
}
