//! The session report's writes (see docs/benchmarks.md): for a main room of N people on the real
//! store (an SQLite file; PostgreSQL too when `HUDDLE_TEST_POSTGRES` is set), the time of
//! - **ended**: writing the N stays a start or a stop ends (one transaction, as the room's actor
//!   does a second after it);
//! - **checkpoint**: replacing the checkpoint of the N stays under way (every
//!   `report_checkpoint_secs`, 60 by default);
//! - **settle**: making a checkpoint final when a room's owner starts (after a crash);
//! - **report**: reading back a day of the room's stays (what `GET …/breakout/report` reads);
//!
//! beside the **baseline** in the same run: committing the start itself (its events with the
//! assignment of N people), which every start pays anyway. Medians over `--rounds`.
//!
//! `cargo run --release --example stays` (smoke: `cargo run --example stays -- --people 200
//! --rounds 1`).

use std::time::{Duration, Instant};

use huddle::domain::breakout::Assignment;
use huddle::domain::report::{Kind, Stay};
use huddle::domain::room::{Caller, Ctx, Event, RoomInfo, RoomState};
use huddle::ids::{PersonId, RoomId};
use huddle::store::{NewAccount, SharedStore, StayRow};

struct Args {
    people: Vec<usize>,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args {
        people: vec![1_000, 10_000],
        rounds: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: stays [--people 1000,10000] [--rounds R]";
    for pair in argv.chunks(2) {
        let value = pair.get(1).unwrap_or_else(|| panic!("{usage}"));
        match pair[0].as_str() {
            "--people" => {
                args.people = value
                    .split(',')
                    .map(|v| v.parse().unwrap_or_else(|_| panic!("{usage}")))
                    .collect()
            }
            "--rounds" => args.rounds = value.parse().unwrap_or_else(|_| panic!("{usage}")),
            _ => panic!("{usage}"),
        }
    }
    args
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// The figures of one store at one size, in milliseconds.
struct Figures {
    baseline: f64,
    ended: f64,
    checkpoint: f64,
    settle: f64,
    report: f64,
    rows: usize,
}

/// A main room with `n` participants and 10 breakout rooms; times each write `rounds` times.
async fn measure(store: SharedStore, n: usize, rounds: usize) -> Figures {
    let people: Vec<PersonId> = (0..n).map(|_| PersonId::new()).collect();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let accounts = people
        .iter()
        .enumerate()
        .map(|(i, id)| NewAccount {
            id: *id,
            email: format!("p{i}.{tag}@example.org"),
            display_name: format!("P{i}"),
            password_hash: None,
            is_admin: false,
            created_at: 1_000,
        })
        .collect();
    store.create_accounts(accounts).await.unwrap();
    let owner = Caller {
        person_id: people[0],
        display_name: "P0".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 1), main, "Bench".into(), &owner);
    let rooms: Vec<RoomInfo> = (0..10)
        .map(|k| RoomInfo {
            id: RoomId::new(),
            parent_id: Some(main),
            name: format!("Room {k}"),
            created_at: 1_000,
        })
        .collect();
    let ids: Vec<RoomId> = rooms.iter().map(|r| r.id).collect();
    let mut seq = 0u64;
    let mut commit = |events: Vec<Event>| {
        let numbered: Vec<(u64, Event)> = events
            .into_iter()
            .map(|e| {
                seq += 1;
                (seq, e)
            })
            .collect();
        let store = store.clone();
        async move {
            let t = Instant::now();
            store
                .commit(main, &numbered, 2_000, 1_000, None, None)
                .await
                .unwrap();
            t.elapsed()
        }
    };
    let mut setup = created;
    setup.push(Event::BreakoutRoomsCreated { room: main, rooms });
    commit(setup).await;

    let row = |i: usize, kind: Kind, from: i64, to: i64| StayRow {
        stay: Stay {
            kind,
            person_id: people[i],
            room_id: ids[i % ids.len()],
            from,
            to,
        },
        room_name: format!("Room {}", i % ids.len()),
        detail: String::new(),
    };
    let mut figures = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let at = 10_000 + round as i64 * 1_000;
        // The baseline: the start's own commit, an assignment of everyone.
        let assignments: Vec<Assignment> = people
            .iter()
            .enumerate()
            .map(|(i, p)| Assignment {
                person_id: *p,
                breakout: ids[i % ids.len()],
            })
            .collect();
        figures.0.push(
            commit(vec![Event::AssignmentsImported {
                room: main,
                assignments,
            }])
            .await,
        );
        let ended: Vec<StayRow> = (0..n).map(|i| row(i, Kind::Room, at - 1_000, at)).collect();
        let t = Instant::now();
        store.record_stays(main, &ended, None, 0).await.unwrap();
        figures.1.push(t.elapsed());
        let open: Vec<StayRow> = (0..n).map(|i| row(i, Kind::Room, at, at + 500)).collect();
        let t = Instant::now();
        store.record_stays(main, &[], Some(&open), 0).await.unwrap();
        figures.2.push(t.elapsed());
        let t = Instant::now();
        store.stays(main, 0, i64::MAX / 2).await.unwrap();
        figures.4.push(t.elapsed());
    }
    // The settle, once per room start: it makes the last checkpoint final.
    let t = Instant::now();
    store.settle_stays(main).await.unwrap();
    figures.3.push(t.elapsed());
    let rows = store.stays(main, 0, i64::MAX / 2).await.unwrap().len();
    Figures {
        baseline: median(figures.0),
        ended: median(figures.1),
        checkpoint: median(figures.2),
        settle: median(figures.3),
        report: median(figures.4),
        rows,
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(&str, SharedStore)> = vec![(
        "SQLite",
        huddle::store::open(&format!(
            "sqlite://{}",
            dir.path().join("huddle.db").display()
        ))
        .await
        .unwrap(),
    )];
    let mut schema = None;
    if let Ok(base) = std::env::var("HUDDLE_TEST_POSTGRES") {
        use sqlx::Connection;
        let name = format!("huddle_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        stores.push(("PostgreSQL", huddle::store::open(&url).await.unwrap()));
        schema = Some((admin, name));
    }
    println!(
        "| store | N | start's commit (baseline) ms | ended stays ms | ratio | checkpoint ms | ratio | settle ms | report read ms | rows read |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, store) in &stores {
        for &n in &args.people {
            let f = measure(store.clone(), n, args.rounds).await;
            println!(
                "| {name} | {n} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.1} | {:.1} | {} |",
                f.baseline,
                f.ended,
                f.ended / f.baseline,
                f.checkpoint,
                f.checkpoint / f.baseline,
                f.settle,
                f.report,
                f.rows
            );
        }
    }
    if let Some((mut admin, name)) = schema {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}
