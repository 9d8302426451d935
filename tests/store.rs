//! One conformance suite for every store backend: SQLite always, PostgreSQL when
//! `HUDDLE_TEST_POSTGRES` holds a URL (each run gets its own schema, dropped afterwards).

use huddle::domain::Role;
use huddle::domain::room::{Caller, Ctx, Event, Member, Message, MessageKind, RoomInfo, RoomState};
use huddle::ids::{MessageId, PersonId, RoomId};
use huddle::store::{
    CreateMode, NewAccount, Order, PageRequest, SessionRecord, SharedStore, StoreError,
};
use sqlx::Connection;

fn account(email: &str) -> NewAccount {
    NewAccount {
        id: PersonId::new(),
        email: email.to_owned(),
        display_name: email.split('@').next().unwrap().to_owned(),
        password_hash: Some(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        ),
        is_admin: false,
        created_at: 1_000,
    }
}

fn message(room: RoomId, author: PersonId, text: &str, at: i64) -> Event {
    Event::MessagePosted {
        room,
        message: Message {
            id: MessageId::new(),
            room_id: room,
            author_id: Some(author),
            author_name: Some("Ada".into()),
            kind: MessageKind::User,
            text: text.into(),
            created_at: at,
        },
    }
}

async fn conformance(store: SharedStore) {
    // Accounts: the first is an administrator; setup only while none exists; emails unique.
    assert!(!store.has_accounts().await.unwrap());
    let ada = store
        .create_account(account("ada@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    assert!(ada.is_admin, "the first account is an administrator");
    assert!(matches!(
        store
            .create_account(account("bob@example.org"), CreateMode::FirstAdministrator)
            .await,
        Err(StoreError::Conflict("setup"))
    ));
    assert!(matches!(
        store
            .create_account(account("ada@example.org"), CreateMode::Ordinary)
            .await,
        Err(StoreError::Conflict("email"))
    ));
    let bob = store
        .create_account(account("bob@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    assert!(!bob.is_admin);
    let (found, hash) = store
        .login_lookup("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, ada);
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(store.person(bob.id).await.unwrap().unwrap(), bob);
    assert_eq!(
        store
            .person_by_email("bob@example.org")
            .await
            .unwrap()
            .unwrap(),
        bob
    );
    assert!(
        store
            .person_by_email("nobody@example.org")
            .await
            .unwrap()
            .is_none()
    );
    // A batch is all or nothing.
    let batch = vec![account("c1@example.org"), account("bob@example.org")];
    assert!(store.create_accounts(batch).await.is_err());
    assert!(
        store
            .person_by_email("c1@example.org")
            .await
            .unwrap()
            .is_none()
    );
    store
        .create_accounts(vec![account("c1@example.org"), account("c2@example.org")])
        .await
        .unwrap();
    assert!(
        store
            .person_by_email("c2@example.org")
            .await
            .unwrap()
            .is_some()
    );

    // Sessions expire and can be revoked.
    let session = SessionRecord {
        token_hash: "abc".into(),
        person_id: ada.id,
        csrf_token: "csrf".into(),
        created_at: 1_000,
        expires_at: 2_000,
    };
    store.create_session(session).await.unwrap();
    let (s, p) = store.session("abc", 1_500).await.unwrap().unwrap();
    assert_eq!((s.csrf_token.as_str(), p.id), ("csrf", ada.id));
    assert!(
        store.session("abc", 2_000).await.unwrap().is_none(),
        "expired"
    );
    store.delete_session("abc").await.unwrap();
    assert!(
        store.session("abc", 1_500).await.unwrap().is_none(),
        "revoked"
    );

    // Accounts are listed by email, searched by email or name (wildcards mean themselves), paged.
    let emails = |people: Vec<huddle::store::Person>| -> Vec<String> {
        people.into_iter().filter_map(|p| p.email).collect()
    };
    let all = emails(store.accounts("", None, 10).await.unwrap());
    assert_eq!(
        all,
        [
            "ada@example.org",
            "bob@example.org",
            "c1@example.org",
            "c2@example.org"
        ]
    );
    let page = emails(
        store
            .accounts("", Some("bob@example.org"), 1)
            .await
            .unwrap(),
    );
    assert_eq!(page, ["c1@example.org"]);
    assert_eq!(
        emails(store.accounts("BO", None, 10).await.unwrap()),
        ["bob@example.org"]
    );
    assert!(store.accounts("%", None, 10).await.unwrap().is_empty());
    assert!(store.accounts("c_", None, 10).await.unwrap().is_empty());
    // A new password ends every session of that account, and only of that account.
    for (hash, person) in [("s1", bob.id), ("s2", bob.id), ("s3", ada.id)] {
        store
            .create_session(SessionRecord {
                token_hash: hash.into(),
                person_id: person,
                csrf_token: "csrf".into(),
                created_at: 1_000,
                expires_at: 9_000,
            })
            .await
            .unwrap();
    }
    assert!(
        store
            .set_password(bob.id, "$argon2id$new".into())
            .await
            .unwrap()
    );
    assert!(store.session("s1", 1_500).await.unwrap().is_none());
    assert!(store.session("s2", 1_500).await.unwrap().is_none());
    assert!(store.session("s3", 1_500).await.unwrap().is_some());
    let (_, hash) = store
        .login_lookup("bob@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash, "$argon2id$new");
    assert!(
        !store
            .set_password(PersonId::new(), "x".into())
            .await
            .unwrap()
    );
    store.delete_session("s3").await.unwrap();

    // A room with a breakout room, members and chat, all through committed events.
    let owner = Caller {
        person_id: ada.id,
        display_name: "ada".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(
        Ctx {
            now: 5_000,
            seed: 1,
            max_breakout_rooms: 300,
            ..Ctx::new(0, 0)
        },
        main,
        "Main".into(),
        &owner,
    );
    let numbered: Vec<_> = created.into_iter().zip(1..).map(|(e, s)| (s, e)).collect();
    store
        .commit(main, &numbered, 5_000, 100, None, None)
        .await
        .unwrap();
    let breakout = RoomId::new();
    let events = vec![
        (
            3,
            Event::RoomCreated {
                room: breakout,
                info: RoomInfo {
                    id: breakout,
                    parent_id: Some(main),
                    name: "Group A".into(),
                    created_at: 6_000,
                },
            },
        ),
        (
            4,
            Event::MemberAdded {
                room: breakout,
                member: Member {
                    person_id: bob.id,
                    display_name: "bob".into(),
                    role: Role::Participant,
                },
            },
        ),
        (5, message(breakout, bob.id, "in the breakout", 6_001)),
        (6, message(main, ada.id, "first", 6_002)),
        (7, message(main, ada.id, "second", 6_003)),
        (
            8,
            Event::RoomRenamed {
                room: main,
                name: "Main room".into(),
            },
        ),
        (
            9,
            Event::RoleChanged {
                room: breakout,
                person_id: bob.id,
                role: Role::Moderator,
            },
        ),
    ];
    store
        .commit(main, &events, 6_000, 100, None, None)
        .await
        .unwrap();

    let loaded = store.load_stream(main, 100).await.unwrap().unwrap();
    assert_eq!(loaded.last_seq, 9);
    assert_eq!(loaded.recent.len(), 9);
    assert_eq!(loaded.recent[8], events[6]);
    assert_eq!(loaded.state.main.name, "Main room");
    assert_eq!(loaded.state.breakouts[&breakout].name, "Group A");
    assert_eq!(loaded.state.role(main, ada.id), Some(Role::Owner));
    assert_eq!(loaded.state.role(breakout, bob.id), Some(Role::Moderator));
    assert_eq!(loaded.state.title(breakout).unwrap(), "Main room : Group A");
    assert!(
        store.load_stream(breakout, 10).await.unwrap().is_none(),
        "a breakout room is not a stream"
    );

    assert_eq!(store.stream_of(breakout).await.unwrap(), Some(main));
    assert_eq!(store.stream_of(main).await.unwrap(), Some(main));
    assert_eq!(store.streams_of(bob.id).await.unwrap(), vec![main]);
    let listing = store.rooms_of(bob.id).await.unwrap();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].parent_name.as_deref(), Some("Main room"));

    let newest = store
        .messages(
            main,
            PageRequest {
                order: Order::NewestFirst,
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let texts: Vec<_> = newest
        .iter()
        .map(|(seq, m)| (*seq, m.text.as_str()))
        .collect();
    assert_eq!(texts, vec![(7, "second"), (6, "first")]);
    let older = store
        .messages(
            main,
            PageRequest {
                order: Order::NewestFirst,
                cursor: Some(7),
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    let oldest = store
        .messages(
            main,
            PageRequest {
                order: Order::OldestFirst,
                cursor: Some(6),
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(oldest[0].1.text, "second");

    // A failing commit stores nothing of itself.
    let bad = vec![
        (10, message(main, ada.id, "lost", 7_000)),
        (
            11,
            Event::RoomCreated {
                room: breakout,
                info: RoomInfo {
                    id: breakout,
                    parent_id: Some(main),
                    name: "dup".into(),
                    created_at: 7_000,
                },
            },
        ),
    ];
    assert!(
        store
            .commit(main, &bad, 7_000, 100, None, None)
            .await
            .is_err()
    );
    let after = store.load_stream(main, 100).await.unwrap().unwrap();
    assert_eq!(after.last_seq, 9);
    assert_eq!(
        store
            .messages(
                main,
                PageRequest {
                    order: Order::NewestFirst,
                    cursor: None,
                    limit: 10
                }
            )
            .await
            .unwrap()
            .len(),
        2
    );

    // Old event rows are pruned; the tail and the last sequence number stay.
    let many: Vec<_> = (10..=140)
        .map(|seq| {
            (
                seq,
                message(main, ada.id, &format!("m{seq}"), 8_000 + seq as i64),
            )
        })
        .collect();
    store
        .commit(main, &many, 8_000, 16, None, None)
        .await
        .unwrap();
    let pruned = store.load_stream(main, 1_000).await.unwrap().unwrap();
    assert_eq!(pruned.last_seq, 140);
    assert!(
        pruned.recent.len() < 140 && pruned.recent.len() >= 16,
        "{}",
        pruned.recent.len()
    );
    assert_eq!(pruned.recent.last().unwrap().0, 140);

    // Breakout assignments: a start's snapshot, then per-person changes over it.
    use huddle::domain::breakout::{Assignment, BreakoutConfig};
    let second = RoomId::new();
    let started = vec![
        (
            141,
            Event::BreakoutConfigured {
                room: main,
                config: BreakoutConfig {
                    enabled: true,
                    ..BreakoutConfig::default()
                },
                ends_at: None,
            },
        ),
        (
            142,
            Event::BreakoutRoomsCreated {
                room: main,
                rooms: vec![RoomInfo {
                    id: second,
                    parent_id: Some(main),
                    name: "Group B".into(),
                    created_at: 9_500,
                }],
            },
        ),
        (
            143,
            Event::BreakoutStarted {
                room: main,
                round: 1,
                assignments: vec![
                    Assignment {
                        person_id: ada.id,
                        breakout,
                    },
                    Assignment {
                        person_id: bob.id,
                        breakout: second,
                    },
                ],
                ends_at: Some(99_000),
                started_at: 9_600,
            },
        ),
    ];
    store
        .commit(main, &started, 9_600, 1_000, None, None)
        .await
        .unwrap();
    let s = store
        .load_stream(main, 10)
        .await
        .unwrap()
        .unwrap()
        .state
        .breakout;
    assert!(s.config.enabled);
    assert_eq!(
        (s.round, s.ends_at, s.started_at),
        (1, Some(99_000), Some(9_600))
    );
    assert_eq!(
        (s.assignments[&ada.id], s.assignments[&bob.id]),
        (breakout, second)
    );
    let changes = vec![
        (
            144,
            Event::Assigned {
                room: main,
                person_id: bob.id,
                breakout: Some(breakout),
                by: Some("ada".into()),
            },
        ),
        (
            145,
            Event::Assigned {
                room: main,
                person_id: ada.id,
                breakout: None,
                by: None,
            },
        ),
    ];
    store
        .commit(main, &changes, 9_700, 1_000, None, None)
        .await
        .unwrap();
    let s = store
        .load_stream(main, 10)
        .await
        .unwrap()
        .unwrap()
        .state
        .breakout;
    assert_eq!(
        s.assignments.get(&bob.id),
        Some(&breakout),
        "an override beats the snapshot"
    );
    assert!(
        !s.assignments.contains_key(&ada.id),
        "a NULL override unassigns"
    );

    // A broadcast is a chat message in each room it reached, each with its own id, stored once;
    // it reads back in order with the room's own messages, and not in rooms it did not reach.
    let broadcast = |rooms: &[RoomId], text: &str| {
        let messages: Vec<Message> = rooms
            .iter()
            .map(|&room| Message {
                id: MessageId::new(),
                room_id: room,
                author_id: Some(ada.id),
                author_name: Some("ada".into()),
                kind: MessageKind::Broadcast,
                text: text.into(),
                created_at: 9_750,
            })
            .collect();
        (
            messages.clone(),
            Event::Broadcast {
                room: main,
                from: ada.id,
                from_name: "ada".into(),
                text: text.into(),
                cta: None,
                messages,
            },
        )
    };
    let (to_both, both) = broadcast(&[breakout, second], "Five minutes left");
    let (to_second, only_second) = broadcast(&[second], "Only for B");
    store
        .commit(
            main,
            &[
                (146, both),
                (147, message(breakout, bob.id, "after it", 9_760)),
                (148, only_second),
            ],
            9_750,
            1_000,
            None,
            None,
        )
        .await
        .unwrap();
    let page = |room: RoomId, order: Order, cursor: Option<u64>, limit: u32| {
        let store = store.clone();
        async move {
            store
                .messages(
                    room,
                    PageRequest {
                        order,
                        cursor,
                        limit,
                    },
                )
                .await
                .unwrap()
        }
    };
    let in_a = page(breakout, Order::NewestFirst, None, 10).await;
    let seqs: Vec<u64> = in_a.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, vec![147, 146, 5], "Group A's chat: {in_a:?}");
    assert_eq!(in_a[1].1, to_both[0], "the broadcast as Group A got it");
    let in_b = page(second, Order::NewestFirst, None, 10).await;
    assert_eq!(
        in_b,
        vec![(148, to_second[0].clone()), (146, to_both[1].clone())]
    );
    let next = page(breakout, Order::OldestFirst, Some(5), 1).await;
    assert_eq!(next, vec![(146, to_both[0].clone())], "paged oldest first");
    let before = page(second, Order::NewestFirst, Some(148), 10).await;
    assert_eq!(
        before,
        vec![(146, to_both[1].clone())],
        "paged newest first"
    );
    assert_eq!(
        page(main, Order::NewestFirst, None, 1).await[0].0,
        140,
        "a broadcast is not in the main room's chat"
    );
    store
        .commit(
            main,
            &[(
                149,
                Event::BreakoutRoomsDeleted {
                    room: main,
                    rooms: vec![breakout],
                },
            )],
            9_800,
            1_000,
            None,
            None,
        )
        .await
        .unwrap();
    let s = store
        .load_stream(main, 10)
        .await
        .unwrap()
        .unwrap()
        .state
        .breakout;
    assert!(
        s.assignments.is_empty(),
        "assignments to a deleted room are gone: {:?}",
        s.assignments
    );

    // Deleting the main room deletes its breakout rooms and all they hold, and nothing else.
    let other = RoomId::new();
    let (_, created) = RoomState::create(
        Ctx {
            now: 9_000,
            seed: 2,
            max_breakout_rooms: 300,
            ..Ctx::new(0, 0)
        },
        other,
        "Other".into(),
        &owner,
    );
    let numbered: Vec<_> = created.into_iter().zip(1..).map(|(e, s)| (s, e)).collect();
    store
        .commit(other, &numbered, 9_000, 100, None, None)
        .await
        .unwrap();
    store
        .commit(
            main,
            &[(150, Event::RoomDeleted { room: main })],
            9_000,
            100,
            None,
            None,
        )
        .await
        .unwrap();
    assert!(store.load_stream(main, 10).await.unwrap().is_none());
    assert_eq!(store.stream_of(breakout).await.unwrap(), None);
    let orphan = store
        .messages(
            breakout,
            PageRequest {
                order: Order::NewestFirst,
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(
        orphan.is_empty(),
        "breakout chat deleted with its main room"
    );
    assert!(
        page(second, Order::NewestFirst, None, 10).await.is_empty(),
        "broadcasts deleted with their main room"
    );
    assert!(store.rooms_of(bob.id).await.unwrap().is_empty());
    assert_eq!(store.streams_of(ada.id).await.unwrap(), vec![other]);
    assert!(
        store.person(bob.id).await.unwrap().is_some(),
        "people are untouched"
    );
    store.ping().await.unwrap();
}

/// Content, invitations with their mail queue, guests and meetings, on any backend.
/// A commit under way.
type Committing = std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Commits batches of events to stream `main`, numbered on from 1, all at time 5,000.
fn committer(store: SharedStore, main: RoomId) -> impl FnMut(Vec<Event>) -> Committing {
    let mut seq = 0u64;
    move |events| {
        let numbered: Vec<(u64, Event)> = events
            .into_iter()
            .map(|e| {
                seq += 1;
                (seq, e)
            })
            .collect();
        let store = store.clone();
        Box::pin(async move {
            store
                .commit(main, &numbered, 5_000, 1_000, None, None)
                .await
        })
    }
}

async fn collab_conformance(store: SharedStore) {
    use huddle::domain::breakout::Assignment;
    use huddle::domain::content::{ContentItem, ContentKind, FileInfo};
    use huddle::domain::invitation::Invitation;
    use huddle::domain::meeting::Meeting;
    use huddle::ids::{ContentId, InvitationId, MeetingId};
    use huddle::store::Delivery;

    let carol = store
        .create_account(account("carol@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: carol.id,
        display_name: "carol".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 9), main, "Collab".into(), &owner);
    let mut commit = committer(store.clone(), main);
    commit(created).await.unwrap();
    let breakout = RoomId::new();
    commit(vec![Event::BreakoutRoomsCreated {
        room: main,
        rooms: vec![RoomInfo {
            id: breakout,
            parent_id: Some(main),
            name: "B".into(),
            created_at: 1_000,
        }],
    }])
    .await
    .unwrap();
    let item = |room: RoomId, kind: ContentKind| ContentItem {
        id: ContentId::new(),
        room_id: room,
        kind,
        title: "T".into(),
        file: kind.has_file().then(|| FileInfo {
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
            sha256: "ab".repeat(32),
            duration_ms: (kind == ContentKind::Recording).then_some(20_000),
        }),
        url: (!kind.has_file()).then(|| "https://x.org".into()),
        created_by: carol.id,
        created_by_name: "carol".into(),
        created_at: 2_000,
        promoted_from: None,
        shared_with: vec![],
    };
    let file = item(breakout, ContentKind::File);
    let link = item(main, ContentKind::Link);
    commit(vec![
        Event::ContentAdded {
            room: breakout,
            item: Box::new(file.clone()),
        },
        Event::ContentAdded {
            room: main,
            item: Box::new(link.clone()),
        },
        Event::ContentShared {
            room: main,
            id: link.id,
            rooms: vec![breakout],
            previous: vec![],
        },
    ])
    .await
    .unwrap();
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.content[&file.id], file);
    assert_eq!(state.content[&link.id].shared_with, vec![breakout]);
    assert!(
        store
            .referenced_blobs()
            .await
            .unwrap()
            .contains(&"ab".repeat(32))
    );

    // Invitations and their mail queue.
    let invitation = |email: &str| Invitation {
        id: InvitationId::new(),
        room_id: breakout,
        email: email.into(),
        role: Role::Participant,
        external: true,
        invited_by: carol.id,
        invited_by_name: "carol".into(),
        created_at: 5_000,
        expires_at: 99_000,
    };
    let (first, second) = (invitation("g@x.org"), invitation("h@x.org"));
    commit(vec![Event::InvitationsCreated {
        room: main,
        invitations: vec![first.clone(), second.clone()],
    }])
    .await
    .unwrap();
    assert_eq!(store.due_mail(5_000, 10).await.unwrap().len(), 2);
    assert!(store.due_mail(4_999, 10).await.unwrap().is_empty());
    assert_eq!(store.next_mail_at().await.unwrap(), Some(5_000));
    // Claiming is once per due time: a second mailer finds it taken.
    assert!(
        store
            .claim_mail(first.id, 5_000, "hash-1", 305_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_mail(first.id, 5_000, "hash-x", 305_000)
            .await
            .unwrap()
    );
    assert_eq!(store.due_mail(5_000, 10).await.unwrap().len(), 1, "leased");
    let found = store.invitation_by_token("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (found.invitation, found.main_id, found.status.as_str()),
        (first.clone(), main, "pending")
    );
    store
        .record_delivery(first.id, Delivery::Sent { at: 5_100 })
        .await
        .unwrap();
    store
        .record_delivery(
            second.id,
            Delivery::Failed {
                error: "refused".into(),
                attempts: 1,
                next_at: Some(9_000),
            },
        )
        .await
        .unwrap();
    assert!(store.due_mail(5_000, 10).await.unwrap().is_empty());
    assert_eq!(store.next_mail_at().await.unwrap(), Some(9_000));
    let failed = store.invitation(second.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.mail_status.as_str(), failed.mail_error.as_deref()),
        ("retrying", Some("refused"))
    );
    store.resend_invitation(second.id, 6_000).await.unwrap();
    assert_eq!(
        store.due_mail(6_000, 10).await.unwrap()[0].mail_status,
        "queued"
    );
    assert_eq!(
        store
            .load_stream(main, 10)
            .await
            .unwrap()
            .unwrap()
            .state
            .invitations
            .len(),
        2
    );

    // A guest accepts once; a second acceptance is refused and changes nothing.
    let guest = PersonId::new();
    let person = store
        .create_guest(guest, "Gail", "g@x.org", 6_000)
        .await
        .unwrap();
    assert!(person.is_guest);
    let accepted = |by: PersonId| {
        vec![
            Event::InvitationClosed {
                room: main,
                id: first.id,
                target: breakout,
                accepted_by: Some(by),
            },
            Event::MemberAdded {
                room: breakout,
                member: Member {
                    person_id: by,
                    display_name: "Gail".into(),
                    role: Role::Participant,
                },
            },
        ]
    };
    commit(accepted(guest)).await.unwrap();
    let intruder = PersonId::new();
    store
        .create_guest(intruder, "Mal", "m@x.org", 6_000)
        .await
        .unwrap();
    assert!(matches!(
        commit(accepted(intruder)).await,
        Err(StoreError::Conflict("invitation"))
    ));
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.members[&breakout].len(), 1);
    assert_eq!(
        state.invitations.len(),
        1,
        "only the second is still pending"
    );
    assert_eq!(store.invitations_to(breakout).await.unwrap().len(), 2);
    let guests = store.guests_of(main).await.unwrap();
    assert_eq!(
        (guests.len(), guests[0].email.as_deref()),
        (1, Some("g@x.org"))
    );
    let found = store
        .accounts_by_email(&["carol@example.org".into(), "g@x.org".into()])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![carol.id]
    );
    store.delete_guest(intruder).await.unwrap();
    assert!(store.person(intruder).await.unwrap().is_none());

    // Meetings and an imported assignment.
    let meeting = Meeting {
        id: MeetingId::new(),
        room_id: breakout,
        title: "Review".into(),
        description: String::new(),
        starts_at: 10_000,
        duration_mins: 30,
        created_by: carol.id,
        created_by_name: "carol".into(),
        created_at: 5_000,
    };
    commit(vec![
        Event::MeetingScheduled {
            room: breakout,
            meeting: meeting.clone(),
        },
        Event::AssignmentsImported {
            room: main,
            assignments: vec![Assignment {
                person_id: guest,
                breakout,
            }],
        },
    ])
    .await
    .unwrap();
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.meetings[&meeting.id], meeting);
    assert_eq!(state.breakout.assignments.get(&guest), Some(&breakout));

    // Deleting the breakout room takes its content, invitations and meetings; the main room's
    // link stays, no longer shared.
    commit(vec![Event::BreakoutRoomsDeleted {
        room: main,
        rooms: vec![breakout],
    }])
    .await
    .unwrap();
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.content.keys().collect::<Vec<_>>(), vec![&link.id]);
    assert!(state.content[&link.id].shared_with.is_empty());
    assert!(state.invitations.is_empty() && state.meetings.is_empty());
    assert!(store.referenced_blobs().await.unwrap().is_empty());
}

/// The recordings table: a recording in progress is part of its room's state; once stopped and
/// not composed it is a job; its item marks it composed; a failure is kept; recordings' files
/// count once against the quota.
async fn recording_conformance(store: SharedStore) {
    use huddle::domain::content::{ContentItem, ContentKind, FileInfo};
    use huddle::domain::recording::{Recording, RecordingEnd};
    use huddle::ids::{ContentId, RecordingId};

    let dan = store
        .create_account(account("dan@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: dan.id,
        display_name: "dan".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 9), main, "Rec".into(), &owner);
    let mut commit = committer(store.clone(), main);
    commit(created).await.unwrap();
    let recording = |at: i64| Recording {
        id: RecordingId::new(),
        room_id: main,
        started_by: dan.id,
        started_by_name: "dan".into(),
        started_at: at,
    };
    let (first, second) = (recording(10_000), recording(20_000));
    commit(vec![Event::RecordingStarted {
        room: main,
        recording: first.clone(),
    }])
    .await
    .unwrap();
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.recordings.get(&main), Some(&first));
    assert!(
        store
            .open_recording_streams()
            .await
            .unwrap()
            .contains(&main)
    );
    assert!(
        store
            .recording_jobs()
            .await
            .unwrap()
            .iter()
            .all(|r| r.recording.id != first.id)
    );

    let stop = |r: &Recording, at: i64| Event::RecordingStopped {
        room: main,
        recording: r.clone(),
        reason: RecordingEnd::Stopped,
        by: Some(dan.id),
        stopped_at: at,
    };
    commit(vec![stop(&first, 15_000)]).await.unwrap();
    commit(vec![
        Event::RecordingStarted {
            room: main,
            recording: second.clone(),
        },
        stop(&second, 25_000),
    ])
    .await
    .unwrap();
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert!(state.recordings.is_empty());
    assert!(
        !store
            .open_recording_streams()
            .await
            .unwrap()
            .contains(&main)
    );
    let jobs: Vec<RecordingId> = store
        .recording_jobs()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.main_id == main)
        .map(|r| r.recording.id)
        .collect();
    assert_eq!(jobs, vec![first.id, second.id], "oldest stop first");
    // In a cluster one node claims each job: x first; y not while x is alive (heartbeats seen
    // since 99,000), but once x's heartbeat is too old; x keeps a job it holds.
    store.heartbeat("x", "http://x", 1, 100_000).await.unwrap();
    store.heartbeat("y", "http://y", 1, 100_500).await.unwrap();
    assert!(store.claim_recording(first.id, "x", 99_000).await.unwrap());
    assert!(!store.claim_recording(first.id, "y", 99_000).await.unwrap());
    assert!(store.claim_recording(first.id, "x", 99_000).await.unwrap());
    assert!(store.claim_recording(first.id, "y", 100_200).await.unwrap());
    assert!(!store.claim_recording(first.id, "x", 99_000).await.unwrap());
    let composer = |rows: Vec<huddle::store::RecordingRow>, id: RecordingId| {
        rows.into_iter()
            .find(|r| r.recording.id == id)
            .and_then(|r| r.composer)
    };
    assert_eq!(
        composer(store.recording_jobs().await.unwrap(), first.id).as_deref(),
        Some("y")
    );
    assert!(store.claim_recording(second.id, "x", 99_000).await.unwrap());

    // The first is composed: its item has its id. The second fails.
    let before = store.recording_bytes().await.unwrap();
    let item = ContentItem {
        id: ContentId(first.id.0),
        room_id: main,
        kind: ContentKind::Recording,
        title: "Recording".into(),
        file: Some(FileInfo {
            name: "r.webm".into(),
            content_type: "video/webm".into(),
            size: 4_000,
            sha256: "cd".repeat(32),
            duration_ms: Some(5_000),
        }),
        url: None,
        created_by: dan.id,
        created_by_name: "dan".into(),
        created_at: 30_000,
        promoted_from: None,
        shared_with: vec![],
    };
    commit(vec![Event::ContentAdded {
        room: main,
        item: Box::new(item.clone()),
    }])
    .await
    .unwrap();
    store
        .recording_failed(second.id, "ffmpeg failed")
        .await
        .unwrap();
    assert!(
        store
            .recording_jobs()
            .await
            .unwrap()
            .iter()
            .all(|r| r.main_id != main)
    );
    // Composed or failed, a job is nobody's to claim.
    for id in [first.id, second.id] {
        assert!(!store.claim_recording(id, "x", i64::MAX).await.unwrap());
    }
    let rows = store.recordings_of(main, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].recording, second, "newest first");
    assert_eq!(rows[0].error.as_deref(), Some("ffmpeg failed"));
    assert_eq!(rows[0].stop_reason, Some(RecordingEnd::Stopped));
    assert!(rows[1].composed && rows[1].stopped_at == Some(15_000));
    assert_eq!(store.recordings_of(main, 1).await.unwrap().len(), 1);
    let state = store.load_stream(main, 10).await.unwrap().unwrap().state;
    assert_eq!(state.content[&item.id], item, "the duration is kept");
    // A promoted copy shares the file: counted once.
    let mut copy = item.clone();
    copy.id = ContentId::new();
    commit(vec![Event::ContentAdded {
        room: main,
        item: Box::new(copy),
    }])
    .await
    .unwrap();
    assert_eq!(store.recording_bytes().await.unwrap(), before + 4_000);
}

/// Ownership in a cluster: claims, the fence on commits, heartbeats and giving a stream up.
async fn cluster_conformance(store: SharedStore) {
    use huddle::store::{Claim, Fence};

    let dana = store
        .create_account(account("dana@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: dana.id,
        display_name: "dana".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 9), main, "Fenced".into(), &owner);
    // Node a beats at 10,000 and b at 10,500; a node is alive if seen since 9,000.
    store.heartbeat("a", "http://a", 1, 10_000).await.unwrap();
    store.heartbeat("b", "http://b", 1, 10_500).await.unwrap();
    // (The recording suite's nodes x and y may be there too, on a shared store.)
    let nodes: Vec<_> = store
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.node_id == "a" || n.node_id == "b")
        .collect();
    assert_eq!(
        nodes.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(nodes[1].address, "http://a");

    // a claims a new stream: epoch 1 from seq 0; b cannot while a is alive.
    let Claim::Won {
        fence: a1,
        last_seq,
    } = store.claim_stream(main, "a", 9_000, None).await.unwrap()
    else {
        panic!("a new stream is free")
    };
    assert_eq!((a1.epoch, last_seq), (1, 0));
    assert_eq!(
        store.claim_stream(main, "b", 9_000, None).await.unwrap(),
        Claim::Held { node: "a".into() }
    );
    // An owner NATS says is gone is taken over whatever its heartbeat says, but only that owner:
    // once b has taken the stream from a, c's claim against a finds b.
    let other = RoomId::new();
    let won = |claim: Claim| matches!(claim, Claim::Won { .. });
    assert!(won(store
        .claim_stream(other, "a", 9_000, None)
        .await
        .unwrap()));
    assert_eq!(
        store
            .claim_stream(other, "b", 9_000, Some("c"))
            .await
            .unwrap(),
        Claim::Held { node: "a".into() }
    );
    assert!(won(store
        .claim_stream(other, "b", 9_000, Some("a"))
        .await
        .unwrap()));
    assert_eq!(
        store
            .claim_stream(other, "c", 9_000, Some("a"))
            .await
            .unwrap(),
        Claim::Held { node: "b".into() }
    );
    let numbered: Vec<(u64, Event)> = created.into_iter().zip(1..).map(|(e, s)| (s, e)).collect();
    let n = numbered.len() as u64;
    store
        .commit(main, &numbered, 10_000, 100, Some(&a1), None)
        .await
        .unwrap();
    let next = |seq: u64, text: &str| vec![(seq, message(main, dana.id, text, 10_000))];
    store
        .commit(
            main,
            &next(n + 1, "one"),
            10_000,
            100,
            Some(&a1),
            Some("cmd-1"),
        )
        .await
        .unwrap();
    // A command's events are found again by its id (a retry is answered from them).
    let found = store.command_events(main, "cmd-1").await.unwrap().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, n + 1);
    assert!(matches!(&found[0].1, Event::MessagePosted { message, .. } if message.text == "one"));
    assert!(store.command_events(main, "cmd-2").await.unwrap().is_none());
    // A commit that does not follow on from the claim's last seq is refused, as is one under a
    // fence that was never granted.
    assert!(matches!(
        store
            .commit(main, &next(n + 5, "gap"), 10_000, 100, Some(&a1), None)
            .await,
        Err(StoreError::Fenced)
    ));
    let forged = Fence {
        node: "b".into(),
        epoch: 1,
    };
    assert!(matches!(
        store
            .commit(
                main,
                &next(n + 2, "forged"),
                10_000,
                100,
                Some(&forged),
                None
            )
            .await,
        Err(StoreError::Fenced)
    ));

    // a falls silent: after its heartbeat is too old, b takes over at the stream's last seq.
    store.heartbeat("b", "http://b", 1, 13_500).await.unwrap();
    let Claim::Won {
        fence: b2,
        last_seq,
    } = store.claim_stream(main, "b", 12_000, None).await.unwrap()
    else {
        panic!("a is gone")
    };
    assert_eq!((b2.epoch, last_seq), (2, n + 1));
    // a wakes up: whatever it commits now is refused, and nothing of it is stored.
    assert!(matches!(
        store
            .commit(main, &next(n + 2, "stale"), 13_600, 100, Some(&a1), None)
            .await,
        Err(StoreError::Fenced)
    ));
    store
        .commit(main, &next(n + 2, "two"), 13_600, 100, Some(&b2), None)
        .await
        .unwrap();
    let loaded = store.load_stream(main, 100).await.unwrap().unwrap();
    assert_eq!(loaded.last_seq, n + 2);
    let texts: Vec<String> = store
        .messages(
            main,
            PageRequest {
                order: Order::NewestFirst,
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.text)
        .collect();
    assert_eq!(texts, ["two", "one"], "the stale owner stored nothing");
    // a, back and beating, still cannot take a stream b holds.
    store.heartbeat("a", "http://a", 1, 13_700).await.unwrap();
    assert_eq!(
        store.claim_stream(main, "a", 12_000, None).await.unwrap(),
        Claim::Held { node: "b".into() }
    );
    let owners: Vec<_> = store
        .stream_owners()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.stream == main)
        .collect();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].stream,
            owners[0].node_id.as_str(),
            owners[0].epoch,
            owners[0].last_seq
        ),
        (main, "b", 2, n + 2)
    );
    // b gives the stream up (unloaded it): a claims it at once, though b is alive, and claiming
    // again on the same node raises the epoch (an actor restarted there).
    store.release_stream(main, &b2).await.unwrap();
    let Claim::Won { fence: a3, .. } = store.claim_stream(main, "a", 12_000, None).await.unwrap()
    else {
        panic!("given up")
    };
    assert_eq!(a3.epoch, 3);
    // A release under an old claim changes nothing.
    store.release_stream(main, &b2).await.unwrap();
    let Claim::Won { fence: a4, .. } = store.claim_stream(main, "a", 12_000, None).await.unwrap()
    else {
        panic!("a holds it")
    };
    assert_eq!(a4.epoch, 4);
    assert!(matches!(
        store
            .commit(
                main,
                &next(n + 3, "old epoch"),
                13_800,
                100,
                Some(&a3),
                None
            )
            .await,
        Err(StoreError::Fenced)
    ));
    // Deleting the room deletes its claim.
    store
        .commit(
            main,
            &[(n + 3, Event::RoomDeleted { room: main })],
            13_900,
            100,
            Some(&a4),
            None,
        )
        .await
        .unwrap();
    let owners = store.stream_owners().await.unwrap();
    assert!(owners.iter().all(|o| o.stream != main), "{owners:?}");
}

/// Group plans: unique names per main room, a cap, edits, deletion, and gone with the room.
async fn plan_conformance(store: SharedStore) {
    use huddle::domain::plan::{GroupPlan, MAX_PLANS, PlanPerson, PlanRoom};
    use huddle::ids::PlanId;

    let dan = store
        .create_account(account("planner@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: dan.id,
        display_name: "dan".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 3), main, "Plans".into(), &owner);
    let mut commit = committer(store.clone(), main);
    commit(created).await.unwrap();
    let other = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 4), other, "Other".into(), &owner);
    committer(store.clone(), other)(created).await.unwrap();

    let plan = |name: &str| GroupPlan {
        id: PlanId::new(),
        name: name.into(),
        rooms: vec![PlanRoom {
            name: "Red".into(),
            people: vec![PlanPerson {
                email: "dan@example.org".into(),
                first_name: "Dan".into(),
                last_name: String::new(),
            }],
        }],
        created_at: 2_000,
        updated_at: 2_000,
    };
    let b = plan("B");
    store.create_plan(main, &b, dan.id).await.unwrap();
    store.create_plan(main, &plan("A"), dan.id).await.unwrap();
    assert!(matches!(
        store.create_plan(main, &plan("B"), dan.id).await,
        Err(StoreError::Conflict("plan name"))
    ));
    // The same name in another main room is another plan.
    store.create_plan(other, &plan("B"), dan.id).await.unwrap();
    let listed = store.plans(main).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
    assert_eq!(listed[1], b, "read back as stored");

    let renamed = GroupPlan {
        name: "C".into(),
        rooms: vec![],
        updated_at: 3_000,
        ..b.clone()
    };
    assert!(store.update_plan(main, &renamed).await.unwrap());
    assert!(
        !store.update_plan(other, &renamed).await.unwrap(),
        "not through another main room"
    );
    let taken = GroupPlan {
        name: "A".into(),
        ..renamed.clone()
    };
    assert!(matches!(
        store.update_plan(main, &taken).await,
        Err(StoreError::Conflict("plan name"))
    ));
    assert!(store.plans(main).await.unwrap().contains(&renamed));

    assert!(!store.delete_plan(other, b.id).await.unwrap());
    assert!(store.delete_plan(main, b.id).await.unwrap());
    assert!(!store.delete_plan(main, b.id).await.unwrap());

    for i in store.plans(main).await.unwrap().len()..MAX_PLANS {
        store
            .create_plan(main, &plan(&format!("P{i:02}")), dan.id)
            .await
            .unwrap();
    }
    assert!(matches!(
        store.create_plan(main, &plan("One too many"), dan.id).await,
        Err(StoreError::Conflict("plans"))
    ));
    assert_eq!(store.plans(main).await.unwrap().len(), MAX_PLANS);

    commit(vec![Event::RoomDeleted { room: main }])
        .await
        .unwrap();
    assert!(
        store.plans(main).await.unwrap().is_empty(),
        "gone with the room"
    );
    assert_eq!(store.plans(other).await.unwrap().len(), 1);
}

/// The session report's stays: kinds and details read back, checkpoints of stays under way
/// ignored by reads, replaced by the next, dropped by a clean stop, and made final by a settle
/// (unless the stay was closed and written since); old rows forgotten.
async fn stay_conformance(store: SharedStore) {
    use huddle::domain::report::{Kind, Stay};
    use huddle::store::StayRow;

    let mo = store
        .create_account(account("stays@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: mo.id,
        display_name: "mo".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 5), main, "Stays".into(), &owner);
    committer(store.clone(), main)(created).await.unwrap();
    let row = |kind: Kind, from: i64, to: i64, detail: &str| StayRow {
        stay: Stay {
            kind,
            person_id: mo.id,
            room_id: main,
            from,
            to,
        },
        room_name: "Stays".into(),
        detail: detail.into(),
    };
    let read = || async {
        let mut rows: Vec<(Kind, i64, i64, String)> = store
            .stays(main, 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.stay.kind, r.stay.from, r.stay.to, r.detail))
            .collect();
        rows.sort_by_key(|r| (r.1, r.2, r.0.as_str()));
        rows
    };
    let ended = [
        row(Kind::Room, 1_000, 1_100, ""),
        row(Kind::Help, 1_020, 1_060, "dismissed by Mo"),
        row(Kind::Broadcast, 1_050, 1_050, "Five minutes"),
    ];
    let open = [
        row(Kind::Room, 1_100, 1_150, ""),
        row(Kind::Call, 1_000, 1_150, ""),
    ];
    store
        .record_stays(main, &ended, Some(&open), 0)
        .await
        .unwrap();
    let written = vec![
        (Kind::Room, 1_000, 1_100, String::new()),
        (Kind::Help, 1_020, 1_060, "dismissed by Mo".to_owned()),
        (Kind::Broadcast, 1_050, 1_050, "Five minutes".to_owned()),
    ];
    assert_eq!(read().await, written, "a checkpoint is not read back");

    // The room stay under way ends and is written; then the actor stops without closing the
    // call: the settle keeps the call's checkpoint and drops the room stay's.
    store
        .record_stays(main, &[row(Kind::Room, 1_100, 1_200, "")], None, 0)
        .await
        .unwrap();
    store.settle_stays(main).await.unwrap();
    let mut expected = written.clone();
    expected.insert(1, (Kind::Call, 1_000, 1_150, String::new()));
    expected.push((Kind::Room, 1_100, 1_200, String::new()));
    assert_eq!(read().await, expected);

    // A clean stop clears the checkpoint: nothing of it is settled later.
    store
        .record_stays(main, &[], Some(&[row(Kind::Mic, 1_300, 1_400, "")]), 0)
        .await
        .unwrap();
    store.record_stays(main, &[], Some(&[]), 0).await.unwrap();
    store.settle_stays(main).await.unwrap();
    assert_eq!(read().await, expected);

    // Rows that ended before the retention are forgotten with the next write.
    store.record_stays(main, &[], None, 1_101).await.unwrap();
    let kept: Vec<i64> = read().await.iter().map(|r| r.2).collect();
    assert_eq!(kept, [1_150, 1_200]);

    // A start of 10,000 people is one write of 10,000 rows (more parameters than one PostgreSQL
    // statement takes), and so is their checkpoint.
    let many: Vec<StayRow> = (0..10_000)
        .map(|i| row(Kind::Room, 20_000 + i, 20_001 + i, ""))
        .collect();
    store
        .record_stays(main, &many, Some(&many), 0)
        .await
        .unwrap();
    assert_eq!(
        store.stays(main, 20_000, 40_000).await.unwrap().len(),
        10_000
    );
    store.settle_stays(main).await.unwrap();
    assert_eq!(
        store.stays(main, 20_000, 40_000).await.unwrap().len(),
        10_000,
        "a checkpoint of stays written closed since adds nothing"
    );
}

/// A breakout room's activity is stored with the room, read back on load, cleared, and gone
/// with the room.
async fn activity_conformance(store: SharedStore) {
    use huddle::domain::activity::{Activity, HandedIn};
    use huddle::ids::ContentId;

    let ida = store
        .create_account(account("tasks@example.org"), CreateMode::Ordinary)
        .await
        .unwrap();
    let owner = Caller {
        person_id: ida.id,
        display_name: "ida".into(),
    };
    let main = RoomId::new();
    let (_, created) = RoomState::create(Ctx::new(1_000, 6), main, "Tasks".into(), &owner);
    let mut commit = committer(store.clone(), main);
    commit(created).await.unwrap();
    let rooms: Vec<RoomInfo> = ["A", "B"]
        .iter()
        .map(|name| RoomInfo {
            id: RoomId::new(),
            parent_id: Some(main),
            name: (*name).into(),
            created_at: 1_000,
        })
        .collect();
    let (a, b) = (rooms[0].id, rooms[1].id);
    commit(vec![Event::BreakoutRoomsCreated { room: main, rooms }])
        .await
        .unwrap();
    let task = Activity {
        task: "Summarise chapter 3".into(),
        documents: vec![ContentId::new()],
        result: Some(HandedIn {
            item: ContentId::new(),
            by: ida.id,
            by_name: "Ida".into(),
            at: 2_000,
        }),
    };
    let set = |breakout: RoomId, activity: Option<Activity>| Event::ActivitySet {
        room: main,
        breakout,
        activity,
    };
    commit(vec![set(a, Some(task.clone())), set(b, Some(task.clone()))])
        .await
        .unwrap();
    let loaded = store.load_stream(main, 10).await.unwrap().unwrap();
    assert_eq!(loaded.state.activities.get(&a), Some(&task));
    commit(vec![set(b, None)]).await.unwrap();
    commit(vec![Event::BreakoutRoomsDeleted {
        room: main,
        rooms: vec![a],
    }])
    .await
    .unwrap();
    let loaded = store.load_stream(main, 10).await.unwrap().unwrap();
    assert!(
        loaded.state.activities.is_empty(),
        "cleared, and gone with its room"
    );
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("huddle.db").display());
    conformance(huddle::store::open(&url).await.unwrap()).await;
    collab_conformance(huddle::store::open(&url).await.unwrap()).await;
    recording_conformance(huddle::store::open(&url).await.unwrap()).await;
    cluster_conformance(huddle::store::open(&url).await.unwrap()).await;
    plan_conformance(huddle::store::open(&url).await.unwrap()).await;
    stay_conformance(huddle::store::open(&url).await.unwrap()).await;
    activity_conformance(huddle::store::open(&url).await.unwrap()).await;
    // Reopening runs no migration twice and finds the data.
    let store = huddle::store::open(&url).await.unwrap();
    assert!(store.has_accounts().await.unwrap());
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Ok(base) = std::env::var("HUDDLE_TEST_POSTGRES") else {
        eprintln!("HUDDLE_TEST_POSTGRES is not set: PostgreSQL conformance not run");
        return;
    };
    let schema = format!("huddle_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to HUDDLE_TEST_POSTGRES");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = huddle::store::open(&url).await.unwrap();
    conformance(store.clone()).await;
    collab_conformance(store.clone()).await;
    recording_conformance(store.clone()).await;
    cluster_conformance(store.clone()).await;
    plan_conformance(store.clone()).await;
    stay_conformance(store.clone()).await;
    activity_conformance(store).await;
    // A start's large texts are stored without PostgreSQL's slow compression (migration 0007).
    let storage: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attstorage::text FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND ((c.relname = 'events' AND a.attname = 'payload') \
         OR (c.relname = 'breakout_sessions' AND a.attname = 'assignments')) ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        storage,
        [
            ("breakout_sessions".to_owned(), "e".to_owned()),
            ("events".to_owned(), "e".to_owned())
        ]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}
