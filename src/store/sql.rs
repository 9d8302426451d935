//! The SQL implementation of [`Store`], shared by SQLite and PostgreSQL.
//!
//! sqlx's `Any` driver runs the same query text on both: every query uses `$N` placeholders (which
//! SQLite accepts too), ids are text and times are integer milliseconds. What differs per backend —
//! the migrations folder and SQLite's durability pragmas — is chosen once in [`SqlStore::open`].
//! This keeps one implementation to test and maintain; a backend that needs its own SQL later can
//! get its own `Store` implementation without touching callers.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Once;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::{
    Claim, CreateMode, Delivery, Fence, InvitationRecord, LoadedStream, NewAccount, NodeRow, Order,
    OwnerRow, PageRequest, Person, RecordingRow, RoomListing, SessionRecord, Store, StoreError,
};
use crate::domain::Role;
use crate::domain::breakout::{HelpRequest, Session, Status};
use crate::domain::room::{Event, Member, Message, MessageKind, RoomInfo, RoomState};
use crate::ids::{InvitationId, MessageId, PersonId, RecordingId, RoomId};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How often (in sequence numbers) old event rows of a stream are pruned.
const PRUNE_EVERY: u64 = 64;

/// A connection pool to SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file if missing,
    /// and runs the backend's migrations.
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 10 });
        let options = if sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // The busy timeout first: switching to WAL takes a lock, and a connection
                    // opened while another writes must wait for it, not fail at once with
                    // "database is locked".
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // WAL lets readers run beside the writer; FULL makes each commit an fsync, so
                    // an acknowledged command survives power loss, not only a crash.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let migrator = if sqlite {
            &SQLITE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        };
        migrator.run(&pool).await?;
        Ok(SqlStore { pool, sqlite })
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it waits its turn under the busy timeout: a deferred transaction that
    /// read first and then wants to write, after another connection committed, fails at once with
    /// "database is locked", whatever the timeout.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }
}

/// Rows of `seq` and `payload`, as numbered events.
fn decode_rows(rows: &[AnyRow]) -> Result<Vec<(u64, Event)>, StoreError> {
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let payload: String = row.try_get("payload")?;
        let event = super::codec::decode(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
        events.push((seq as u64, event));
    }
    Ok(events)
}

pub(super) fn parse<T: FromStr>(what: &str, raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {raw:?}")))
}

fn role(raw: &str) -> Result<Role, StoreError> {
    Role::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("role: {raw:?}")))
}

fn person_from(row: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: parse("person id", &row.try_get::<String, _>("id")?)?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        is_guest: row.try_get::<i64, _>("is_guest")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn room_from(row: &AnyRow) -> Result<RoomInfo, StoreError> {
    let parent: Option<String> = row.try_get("parent_id")?;
    Ok(RoomInfo {
        id: parse("room id", &row.try_get::<String, _>("id")?)?,
        parent_id: parent.map(|p| parse("room id", &p)).transpose()?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A chat message of `room` read from `messages`, or from `broadcast_messages` (a row that has
/// `targets`; `None` when they do not name the room after all).
fn message_from(room: RoomId, row: &AnyRow) -> Result<Option<(u64, Message)>, StoreError> {
    let id = match row.try_get::<Option<String>, _>("targets")? {
        Some(targets) => {
            let targets: HashMap<RoomId, MessageId> = serde_json::from_str(&targets)
                .map_err(|e| StoreError::Corrupt(format!("broadcast targets: {e}")))?;
            match targets.get(&room) {
                Some(id) => *id,
                None => return Ok(None),
            }
        }
        None => parse::<MessageId>("message id", &row.try_get::<String, _>("id")?)?,
    };
    let author: Option<String> = row.try_get("author_id")?;
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "user" => MessageKind::User,
        "system" => MessageKind::System,
        "broadcast" => MessageKind::Broadcast,
        other => return Err(StoreError::Corrupt(format!("message kind: {other:?}"))),
    };
    let seq: i64 = row.try_get("seq")?;
    Ok(Some((
        seq as u64,
        Message {
            id,
            room_id: room,
            author_id: author.map(|a| parse("person id", &a)).transpose()?,
            author_name: row.try_get("author_name")?,
            kind,
            text: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
        },
    )))
}

/// Maps a unique-constraint violation to `Conflict(what)`.
fn unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

const INSERT_PERSON: &str = "INSERT INTO people (id, email, display_name, password_hash, is_admin, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

async fn insert_session(
    conn: &mut sqlx::AnyConnection,
    s: SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, person_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.token_hash)
    .bind(s.person_id.to_string())
    .bind(s.csrf_token)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_person(
    conn: &mut sqlx::AnyConnection,
    account: &NewAccount,
    is_admin: bool,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_PERSON)
        .bind(account.id.to_string())
        .bind(account.email.clone())
        .bind(account.display_name.clone())
        .bind(account.password_hash.clone())
        .bind(i64::from(is_admin))
        .bind(account.created_at)
        .execute(conn)
        .await
        .map_err(unique("email"))?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_account(
        &self,
        account: NewAccount,
        mode: CreateMode,
    ) -> Result<Person, StoreError> {
        let mut tx = self.begin_write().await?;
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM people")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing > 0 && mode == CreateMode::FirstAdministrator {
            return Err(StoreError::Conflict("setup"));
        }
        if existing == 0 {
            // The marker row makes two racing first-run setups collide on its primary key.
            let insert = match mode {
                CreateMode::FirstAdministrator => "INSERT INTO setup_done (id) VALUES (1)",
                CreateMode::Ordinary => {
                    "INSERT INTO setup_done (id) VALUES (1) ON CONFLICT DO NOTHING"
                }
            };
            sqlx::query(insert)
                .execute(&mut *tx)
                .await
                .map_err(unique("setup"))?;
        }
        let is_admin = account.is_admin || existing == 0;
        if let Err(e) = insert_person(&mut tx, &account, is_admin).await {
            // Roll back now: a dropped transaction is only rolled back when its connection is
            // next used, and until then it holds SQLite's write lock, so the next writer on
            // another connection would fail with "database is locked".
            let _ = tx.rollback().await;
            return Err(e);
        }
        tx.commit().await?;
        Ok(Person {
            id: account.id,
            email: Some(account.email),
            display_name: account.display_name,
            is_admin,
            is_guest: false,
            created_at: account.created_at,
        })
    }

    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for account in &accounts {
            insert_person(&mut tx, account, account.is_admin).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn has_accounts(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM people")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    async fn login_lookup(&self, email: &str) -> Result<Option<(Person, String)>, StoreError> {
        let sql = "SELECT id, email, display_name, is_admin, is_guest, created_at, password_hash FROM people WHERE email = $1";
        let row = sqlx::query(sql)
            .bind(email.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let hash: Option<String> = row.try_get("password_hash")?;
                Ok(hash
                    .map(|h| person_from(&row).map(|p| (p, h)))
                    .transpose()?)
            }
            None => Ok(None),
        }
    }

    async fn person_by_email(&self, email: &str) -> Result<Option<Person>, StoreError> {
        let sql = "SELECT id, email, display_name, is_admin, is_guest, created_at FROM people WHERE email = $1";
        let row = sqlx::query(sql)
            .bind(email.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(person_from).transpose()
    }

    async fn person(&self, id: PersonId) -> Result<Option<Person>, StoreError> {
        let sql = "SELECT id, COALESCE(email, invited_email) AS email, display_name, is_admin, is_guest, created_at FROM people WHERE id = $1";
        let row = sqlx::query(sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(person_from).transpose()
    }

    async fn create_sessions(&self, sessions: Vec<SessionRecord>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for s in sessions {
            insert_session(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn people(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, COALESCE(email, invited_email) AS email, display_name, is_admin, is_guest, created_at FROM people WHERE id IN ({})",
                placeholders.join(", ")
            );
            // Only placeholders are generated; every id is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(person_from(&row)?);
            }
        }
        Ok(found)
    }

    async fn upload_bytes(&self, main: RoomId, person: PersonId) -> Result<(u64, u64), StoreError> {
        // PostgreSQL sums BIGINTs into NUMERIC: cast back, as both drivers read a BIGINT.
        let room = sqlx::query(
            "SELECT CAST(COALESCE(SUM(c.size), 0) AS BIGINT) AS total FROM content c \
             JOIN rooms r ON r.id = c.room_id WHERE r.id = $1 OR r.parent_id = $1",
        )
        .bind(main.to_string())
        .fetch_one(&self.pool)
        .await?;
        let by_person = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM content \
             WHERE created_by = $1",
        )
        .bind(person.to_string())
        .fetch_one(&self.pool)
        .await?;
        let total = |row: &AnyRow| -> Result<u64, StoreError> {
            Ok(row.try_get::<i64, _>("total")?.max(0) as u64)
        };
        Ok((total(&room)?, total(&by_person)?))
    }

    async fn people_managed_by(
        &self,
        manager: PersonId,
    ) -> Result<std::collections::HashSet<PersonId>, StoreError> {
        let sql = "SELECT DISTINCT them.person_id FROM members mine \
             JOIN rooms r ON r.id = mine.room_id OR r.parent_id = mine.room_id \
             JOIN members them ON them.room_id = r.id \
             WHERE mine.person_id = $1 AND mine.role IN ('owner', 'moderator')";
        let rows = sqlx::query(sql)
            .bind(manager.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("person_id")?;
                id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("person id {id:?}")))
            })
            .collect()
    }

    async fn accounts(
        &self,
        search: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError> {
        // LIKE with its wildcards escaped, so that "_" and "%" in a search mean themselves.
        let escaped: String = search
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows = sqlx::query(
            "SELECT id, email, display_name, is_admin, is_guest, created_at FROM people \
             WHERE is_guest = 0 AND email > $1 \
             AND (email LIKE $2 ESCAPE '\\' OR LOWER(display_name) LIKE $2 ESCAPE '\\') \
             ORDER BY email LIMIT $3",
        )
        .bind(after.unwrap_or("").to_owned())
        .bind(format!("%{escaped}%"))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(person_from).collect()
    }

    async fn set_password(&self, person: PersonId, hash: String) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated =
            sqlx::query("UPDATE people SET password_hash = $1 WHERE id = $2 AND is_guest = 0")
                .bind(hash)
                .bind(person.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE person_id = $1")
            .bind(person.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_session(&mut conn, s).await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(SessionRecord, Person)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.token_hash, s.csrf_token, s.created_at AS s_created, s.expires_at, \
                    p.id, COALESCE(p.email, p.invited_email) AS email, p.display_name, p.is_admin, p.is_guest, p.created_at \
             FROM sessions s JOIN people p ON p.id = s.person_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash.to_owned())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let person = person_from(&row)?;
        let session = SessionRecord {
            token_hash: row.try_get("token_hash")?,
            person_id: person.id,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("s_created")?,
            expires_at: row.try_get("expires_at")?,
        };
        Ok(Some((session, person)))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stream_of(&self, room: RoomId) -> Result<Option<RoomId>, StoreError> {
        let row = sqlx::query("SELECT COALESCE(parent_id, id) AS stream FROM rooms WHERE id = $1")
            .bind(room.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse("room id", &r.try_get::<String, _>("stream")?))
            .transpose()
    }

    async fn streams_of(&self, person: PersonId) -> Result<Vec<RoomId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT COALESCE(r.parent_id, r.id) AS stream \
             FROM members m JOIN rooms r ON r.id = m.room_id WHERE m.person_id = $1",
        )
        .bind(person.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| parse("room id", &r.try_get::<String, _>("stream")?))
            .collect()
    }

    async fn rooms_of(&self, person: PersonId) -> Result<Vec<RoomListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.parent_id, r.name, r.created_at, m.role, p.name AS parent_name \
             FROM members m JOIN rooms r ON r.id = m.room_id LEFT JOIN rooms p ON p.id = r.parent_id \
             WHERE m.person_id = $1 ORDER BY r.created_at, r.id",
        )
        .bind(person.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let info = room_from(row)?;
                Ok(RoomListing {
                    id: info.id,
                    parent_id: info.parent_id,
                    name: info.name,
                    parent_name: row.try_get("parent_name")?,
                    role: role(&row.try_get::<String, _>("role")?)?,
                    created_at: info.created_at,
                })
            })
            .collect()
    }

    async fn load_stream(
        &self,
        main: RoomId,
        recent: usize,
    ) -> Result<Option<LoadedStream>, StoreError> {
        let id = main.to_string();
        let mut conn = self.pool.acquire().await?;
        let rooms = sqlx::query(
            "SELECT id, parent_id, name, created_at, activity FROM rooms \
             WHERE id = $1 OR parent_id = $1",
        )
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?;
        let mut main_info = None;
        let mut breakouts = std::collections::BTreeMap::new();
        let mut activities = std::collections::BTreeMap::new();
        for row in &rooms {
            let info = room_from(row)?;
            if info.id == main && info.parent_id.is_none() {
                main_info = Some(info);
            } else if info.parent_id == Some(main) {
                if let Some(activity) = row.try_get::<Option<String>, _>("activity")? {
                    let activity = serde_json::from_str(&activity).map_err(|e| {
                        StoreError::Corrupt(format!("activity of room {}: {e}", info.id))
                    })?;
                    activities.insert(info.id, activity);
                }
                breakouts.insert(info.id, info);
            }
        }
        let Some(main_info) = main_info else {
            return Ok(None);
        };

        let rows = sqlx::query(
            "SELECT m.room_id, m.person_id, m.role, p.display_name \
             FROM members m JOIN rooms r ON r.id = m.room_id JOIN people p ON p.id = m.person_id \
             WHERE r.id = $1 OR r.parent_id = $1",
        )
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?;
        let mut members: std::collections::HashMap<RoomId, std::collections::HashMap<_, _>> =
            Default::default();
        for row in &rows {
            let room: RoomId = parse("room id", &row.try_get::<String, _>("room_id")?)?;
            let member = Member {
                person_id: parse("person id", &row.try_get::<String, _>("person_id")?)?,
                display_name: row.try_get("display_name")?,
                role: role(&row.try_get::<String, _>("role")?)?,
            };
            members
                .entry(room)
                .or_default()
                .insert(member.person_id, member);
        }

        let last: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE stream_id = $1")
                .bind(id.clone())
                .fetch_one(&mut *conn)
                .await?
                .try_get("last")?;
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE stream_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(recent as i64)
        .fetch_all(&mut *conn)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows.iter().rev() {
            let seq: i64 = row.try_get("seq")?;
            let payload: String = row.try_get("payload")?;
            let event: Event = super::codec::decode(&payload)
                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
            events.push((seq as u64, event));
        }
        let mut breakout = load_session(&mut conn, main).await?;
        let held = super::collab::load(&mut conn, main).await?;
        let recordings = super::recordings::load(&mut conn, main).await?;
        // The snapshot may name rooms deleted or people gone since; keep what still exists.
        breakout.assignments.retain(|person, room| {
            breakouts.contains_key(room) && members.values().any(|m| m.contains_key(person))
        });
        Ok(Some(LoadedStream {
            state: RoomState {
                main: main_info,
                breakouts,
                members,
                breakout,
                locations: Default::default(),
                content: held.content,
                invitations: held.invitations,
                meetings: held.meetings,
                recordings,
                activities,
                stays: Default::default(),
            },
            last_seq: last as u64,
            recent: events,
        }))
    }

    async fn commit(
        &self,
        stream: RoomId,
        events: &[(u64, Event)],
        at: i64,
        keep: u64,
        fence: Option<&Fence>,
        command: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(&(last_seq, _)) = events.last() else {
            return Ok(());
        };
        let stream_id = stream.to_string();
        let t0 = std::time::Instant::now();
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            let from = events[0].0.saturating_sub(1);
            super::cluster::advance(&mut tx, stream, fence, from, last_seq).await?;
        }
        let t1 = t0.elapsed();
        for (seq, event) in events {
            let encoded = super::codec::encode(event)?;
            super::effects::write_effect(
                &mut tx,
                stream,
                *seq,
                event,
                at,
                encoded.snapshot.as_deref(),
            )
            .await?;
            if matches!(event, Event::RoomDeleted { .. }) {
                continue; // the stream and its rows are gone with the room
            }
            let payload = encoded.payload;
            sqlx::query(
                "INSERT INTO events (stream_id, seq, payload, created_at, command_id) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(stream_id.clone())
            .bind(*seq as i64)
            .bind(payload)
            .bind(at)
            .bind(command.map(str::to_owned))
            .execute(&mut *tx)
            .await?;
        }
        let first_seq = events[0].0;
        let crosses_prune_mark = (first_seq..=last_seq).any(|s| s % PRUNE_EVERY == 0);
        if crosses_prune_mark && last_seq > keep {
            sqlx::query("DELETE FROM events WHERE stream_id = $1 AND seq <= $2")
                .bind(stream_id)
                .bind((last_seq - keep) as i64)
                .execute(&mut *tx)
                .await?;
        }
        let t2 = t0.elapsed();
        tx.commit().await?;
        tracing::debug!(target: "huddle::timing", begin_us = t1.as_micros() as u64, writes_us = (t2 - t1).as_micros() as u64, commit_us = (t0.elapsed() - t2).as_micros() as u64, "store commit");
        Ok(())
    }

    async fn events_after(
        &self,
        stream: RoomId,
        seq: u64,
    ) -> Result<Vec<(u64, Event)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE stream_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(stream.to_string())
        .bind(seq as i64)
        .fetch_all(&self.pool)
        .await?;
        decode_rows(&rows)
    }

    async fn command_events(
        &self,
        stream: RoomId,
        command: &str,
    ) -> Result<Option<Vec<(u64, Event)>>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE stream_id = $1 AND command_id = $2 ORDER BY seq",
        )
        .bind(stream.to_string())
        .bind(command.to_owned())
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        decode_rows(&rows).map(Some)
    }

    async fn heartbeat(
        &self,
        node: &str,
        address: &str,
        started_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::cluster::heartbeat(&mut conn, node, address, started_at, now).await
    }

    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::cluster::nodes(&mut conn).await
    }

    async fn stream_owners(&self) -> Result<Vec<OwnerRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::cluster::owners(&mut conn).await
    }

    async fn claim_stream(
        &self,
        stream: RoomId,
        node: &str,
        alive_since: i64,
        gone: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.begin_write().await?;
        let claim = super::cluster::claim(&mut tx, stream, node, alive_since, gone).await?;
        tx.commit().await?;
        Ok(claim)
    }

    async fn release_stream(&self, stream: RoomId, fence: &Fence) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::cluster::release(&mut conn, stream, fence).await
    }

    async fn live_streams(&self) -> Result<Vec<RoomId>, StoreError> {
        let rows = sqlx::query("SELECT room_id FROM breakout_sessions WHERE status <> 'idle'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| parse("room id", &r.try_get::<String, _>("room_id")?))
            .collect()
    }

    async fn open_recording_streams(&self) -> Result<Vec<RoomId>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::open_streams(&mut conn).await
    }

    async fn recording_jobs(&self) -> Result<Vec<RecordingRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::jobs(&mut conn).await
    }

    async fn claim_recording(
        &self,
        id: RecordingId,
        node: &str,
        alive_since: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::claim(&mut conn, id, node, alive_since).await
    }

    async fn recordings_of(
        &self,
        main: RoomId,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::of_stream(&mut conn, main, limit).await
    }

    async fn recording_failed(&self, id: RecordingId, error: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::failed(&mut conn, id, error).await
    }

    async fn recording_bytes(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::stored_bytes(&mut conn).await
    }

    async fn recordings_under_way_by(&self, person: PersonId) -> Result<usize, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::recordings::under_way_by(&mut conn, person).await
    }

    async fn messages(
        &self,
        room: RoomId,
        page: PageRequest,
    ) -> Result<Vec<(u64, Message)>, StoreError> {
        // The room's own rows, and the broadcasts of its main room that reached it (stored once
        // for all their rooms; `targets` names each room's message id).
        let sql = match page.order {
            Order::NewestFirst => {
                "SELECT id, seq, author_id, author_name, kind, body, created_at, NULL AS targets \
                 FROM messages WHERE room_id = $1 AND seq < $2 \
                 UNION ALL \
                 SELECT NULL, seq, author_id, author_name, 'broadcast', body, created_at, targets \
                 FROM broadcast_messages \
                 WHERE main_id = (SELECT parent_id FROM rooms WHERE id = $1) \
                 AND seq < $2 AND targets LIKE $4 \
                 ORDER BY seq DESC LIMIT $3"
            }
            Order::OldestFirst => {
                "SELECT id, seq, author_id, author_name, kind, body, created_at, NULL AS targets \
                 FROM messages WHERE room_id = $1 AND seq > $2 \
                 UNION ALL \
                 SELECT NULL, seq, author_id, author_name, 'broadcast', body, created_at, targets \
                 FROM broadcast_messages \
                 WHERE main_id = (SELECT parent_id FROM rooms WHERE id = $1) \
                 AND seq > $2 AND targets LIKE $4 \
                 ORDER BY seq ASC LIMIT $3"
            }
        };
        let cursor = match (page.order, page.cursor) {
            (_, Some(c)) => c as i64,
            (Order::NewestFirst, None) => i64::MAX,
            (Order::OldestFirst, None) => 0,
        };
        let rows = sqlx::query(sql)
            .bind(room.to_string())
            .bind(cursor)
            .bind(i64::from(page.limit))
            .bind(format!("%\"{room}\"%"))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(message) = message_from(room, row)? {
                messages.push(message);
            }
        }
        Ok(messages)
    }

    async fn create_guest(
        &self,
        id: PersonId,
        display_name: &str,
        invited_email: &str,
        at: i64,
    ) -> Result<Person, StoreError> {
        sqlx::query(
            "INSERT INTO people (id, email, display_name, password_hash, is_admin, is_guest, invited_email, created_at) \
             VALUES ($1, NULL, $2, NULL, 0, 1, $3, $4)",
        )
        .bind(id.to_string())
        .bind(display_name.to_owned())
        .bind(invited_email.to_owned())
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(Person {
            id,
            email: Some(invited_email.to_owned()),
            display_name: display_name.to_owned(),
            is_admin: false,
            is_guest: true,
            created_at: at,
        })
    }

    async fn rounds(
        &self,
        main: RoomId,
        since: i64,
    ) -> Result<Vec<crate::domain::rotation::PastRound>, StoreError> {
        super::plans::rounds(&self.pool, main, since).await
    }

    async fn record_stays(
        &self,
        main: RoomId,
        rows: &[super::StayRow],
        open: Option<&[super::StayRow]>,
        forget_before: i64,
    ) -> Result<(), StoreError> {
        super::report::record(&self.pool, main, rows, open, forget_before).await
    }

    async fn settle_stays(&self, main: RoomId) -> Result<(), StoreError> {
        super::report::settle(&self.pool, main).await
    }

    async fn stays(
        &self,
        main: RoomId,
        from: i64,
        to: i64,
    ) -> Result<Vec<super::StayRow>, StoreError> {
        super::report::between(&self.pool, main, from, to).await
    }

    async fn plans(&self, main: RoomId) -> Result<Vec<crate::domain::plan::GroupPlan>, StoreError> {
        super::plans::list(&self.pool, main).await
    }

    async fn create_plan(
        &self,
        main: RoomId,
        plan: &crate::domain::plan::GroupPlan,
        by: PersonId,
    ) -> Result<(), StoreError> {
        super::plans::create(&self.pool, main, plan, by).await
    }

    async fn update_plan(
        &self,
        main: RoomId,
        plan: &crate::domain::plan::GroupPlan,
    ) -> Result<bool, StoreError> {
        super::plans::update(&self.pool, main, plan).await
    }

    async fn delete_plan(&self, main: RoomId, id: crate::ids::PlanId) -> Result<bool, StoreError> {
        super::plans::delete(&self.pool, main, id).await
    }

    async fn delete_guest(&self, id: PersonId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM people WHERE id = $1 AND is_guest = 1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn accounts_by_email(&self, emails: &[String]) -> Result<Vec<Person>, StoreError> {
        let mut found = Vec::with_capacity(emails.len());
        for chunk in emails.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, email, display_name, is_admin, is_guest, created_at FROM people WHERE email IN ({})",
                placeholders.join(", ")
            );
            // Only placeholders are generated; every email is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for email in chunk {
                query = query.bind(email.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(person_from(&row)?);
            }
        }
        Ok(found)
    }

    async fn guests_of(&self, main: RoomId) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.id, p.invited_email AS email, p.display_name, p.is_admin, p.is_guest, p.created_at \
             FROM people p JOIN members m ON m.person_id = p.id JOIN rooms r ON r.id = m.room_id \
             WHERE p.is_guest = 1 AND (r.id = $1 OR r.parent_id = $1)",
        )
        .bind(main.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(person_from).collect()
    }

    async fn invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(super::collab::record_from).transpose()
    }

    async fn invitation(&self, id: InvitationId) -> Result<Option<InvitationRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM invitations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(super::collab::record_from).transpose()
    }

    async fn invitations_to(&self, room: RoomId) -> Result<Vec<InvitationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM invitations WHERE room_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(room.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::collab::record_from).collect()
    }

    async fn due_mail(&self, now: i64, limit: u32) -> Result<Vec<InvitationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM invitations WHERE status = 'pending' AND mail_status IN ('queued', 'retrying') \
             AND mail_next_at <= $1 ORDER BY mail_next_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::collab::record_from).collect()
    }

    async fn next_mail_at(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(mail_next_at) AS next FROM invitations \
             WHERE status = 'pending' AND mail_status IN ('queued', 'retrying')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("next")?)
    }

    async fn claim_mail(
        &self,
        id: InvitationId,
        due_at: i64,
        token_hash: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE invitations SET token_hash = $1, mail_next_at = $2 \
             WHERE id = $3 AND status = 'pending' AND mail_status IN ('queued', 'retrying') \
             AND mail_next_at = $4",
        )
        .bind(token_hash.to_owned())
        .bind(lease_until)
        .bind(id.to_string())
        .bind(due_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_delivery(
        &self,
        id: InvitationId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        let query = match delivery {
            Delivery::Sent { at } => sqlx::query(
                "UPDATE invitations SET mail_status = 'sent', mail_sent_at = $1, mail_error = NULL, \
                 mail_next_at = NULL, mail_attempts = mail_attempts + 1 WHERE id = $2",
            )
            .bind(at),
            Delivery::Failed {
                error,
                attempts,
                next_at,
            } => sqlx::query(
                "UPDATE invitations SET mail_status = $1, mail_error = $2, mail_attempts = $3, \
                 mail_next_at = $4 WHERE id = $5",
            )
            .bind(if next_at.is_some() { "retrying" } else { "failed" })
            .bind(error)
            .bind(i64::from(attempts))
            .bind(next_at),
        };
        query.bind(id.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    async fn resend_invitation(&self, id: InvitationId, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE invitations SET mail_status = 'queued', mail_next_at = $1, mail_attempts = 0, \
             mail_error = NULL WHERE id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT sha256 FROM content WHERE sha256 IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("sha256")?))
            .collect()
    }
}

/// A main room's breakout session: settings, round, timer, assignments, closed rooms, open help.
async fn load_session(conn: &mut sqlx::AnyConnection, main: RoomId) -> Result<Session, StoreError> {
    let id = main.to_string();
    let row = sqlx::query(
        "SELECT config, status, round, started_at, ends_at, closes_at, assignments, schedule \
         FROM breakout_sessions WHERE room_id = $1",
    )
    .bind(id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    let mut session = Session::default();
    if let Some(row) = row {
        let config: String = row.try_get("config")?;
        session.config = serde_json::from_str(&config)
            .map_err(|e| StoreError::Corrupt(format!("breakout config: {e}")))?;
        session.status = match row.try_get::<String, _>("status")?.as_str() {
            "idle" => Status::Idle,
            "running" => Status::Running,
            "closing" => Status::Closing,
            other => return Err(StoreError::Corrupt(format!("breakout status: {other:?}"))),
        };
        session.round = row.try_get::<i64, _>("round")? as u32;
        session.started_at = row.try_get("started_at")?;
        session.ends_at = row.try_get("ends_at")?;
        session.closes_at = row.try_get("closes_at")?;
        let schedule: Option<String> = row.try_get("schedule")?;
        session.schedule = schedule
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("breakout schedule: {e}")))?;
        let snapshot: String = row.try_get("assignments")?;
        let by_room: HashMap<String, Vec<String>> = serde_json::from_str(&snapshot)
            .map_err(|e| StoreError::Corrupt(format!("assignment snapshot: {e}")))?;
        for (room, people) in by_room {
            let room: RoomId = parse("room id", &room)?;
            for person in people {
                session
                    .assignments
                    .insert(parse("person id", &person)?, room);
            }
        }
    }
    let rows =
        sqlx::query("SELECT person_id, breakout_id FROM breakout_assignments WHERE main_id = $1")
            .bind(id.clone())
            .fetch_all(&mut *conn)
            .await?;
    // Changes since the snapshot override it; NULL means unassigned.
    for row in &rows {
        let person: PersonId = parse("person id", &row.try_get::<String, _>("person_id")?)?;
        match row.try_get::<Option<String>, _>("breakout_id")? {
            Some(room) => session.assignments.insert(person, parse("room id", &room)?),
            None => session.assignments.remove(&person),
        };
    }
    let rows = sqlx::query("SELECT breakout_id FROM breakout_closed WHERE main_id = $1")
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        session
            .closed
            .insert(parse("room id", &row.try_get::<String, _>("breakout_id")?)?);
    }
    let rows = sqlx::query(
        "SELECT id, breakout_id, person_id, display_name, created_at FROM help_requests WHERE main_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let request = HelpRequest {
            id: parse("help id", &row.try_get::<String, _>("id")?)?,
            breakout: parse("room id", &row.try_get::<String, _>("breakout_id")?)?,
            person_id: parse("person id", &row.try_get::<String, _>("person_id")?)?,
            display_name: row.try_get("display_name")?,
            created_at: row.try_get("created_at")?,
        };
        session.help.insert(request.id, request);
    }
    Ok(session)
}
