//! Accounts, guests and sign-in sessions: the `people` and `sessions` tables.

use sqlx::Row;

use super::pool::SqlStore;
use super::rows::{person_from, unique};
use super::{CreateMode, NewAccount, Person, SessionRecord, StoreError};
use crate::ids::{PersonId, RoomId};

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

pub(super) async fn create_account(
    store: &SqlStore,
    account: NewAccount,
    mode: CreateMode,
) -> Result<Person, StoreError> {
    let mut tx = store.begin_write().await?;
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
            CreateMode::Ordinary => "INSERT INTO setup_done (id) VALUES (1) ON CONFLICT DO NOTHING",
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

pub(super) async fn create_accounts(
    store: &SqlStore,
    accounts: Vec<NewAccount>,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    for account in &accounts {
        insert_person(&mut tx, account, account.is_admin).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn has_accounts(store: &SqlStore) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM people")
        .fetch_one(&store.pool)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

pub(super) async fn login_lookup(
    store: &SqlStore,
    email: &str,
) -> Result<Option<(Person, String)>, StoreError> {
    let sql = "SELECT id, email, display_name, is_admin, is_guest, created_at, password_hash FROM people WHERE email = $1";
    let row = sqlx::query(sql)
        .bind(email.to_owned())
        .fetch_optional(&store.pool)
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

pub(super) async fn person_by_email(
    store: &SqlStore,
    email: &str,
) -> Result<Option<Person>, StoreError> {
    let sql = "SELECT id, email, display_name, is_admin, is_guest, created_at FROM people WHERE email = $1";
    let row = sqlx::query(sql)
        .bind(email.to_owned())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(person_from).transpose()
}

pub(super) async fn person(store: &SqlStore, id: PersonId) -> Result<Option<Person>, StoreError> {
    let sql = "SELECT id, COALESCE(email, invited_email) AS email, display_name, is_admin, is_guest, created_at FROM people WHERE id = $1";
    let row = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(person_from).transpose()
}

pub(super) async fn create_sessions(
    store: &SqlStore,
    sessions: Vec<SessionRecord>,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    for s in sessions {
        insert_session(&mut tx, s).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn people(store: &SqlStore, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
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
        for row in query.fetch_all(&store.pool).await? {
            found.push(person_from(&row)?);
        }
    }
    Ok(found)
}

pub(super) async fn people_managed_by(
    store: &SqlStore,
    manager: PersonId,
) -> Result<std::collections::HashSet<PersonId>, StoreError> {
    let sql = "SELECT DISTINCT them.person_id FROM members mine \
         JOIN rooms r ON r.id = mine.room_id OR r.parent_id = mine.room_id \
         JOIN members them ON them.room_id = r.id \
         WHERE mine.person_id = $1 AND mine.role IN ('owner', 'moderator')";
    let rows = sqlx::query(sql)
        .bind(manager.to_string())
        .fetch_all(&store.pool)
        .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("person_id")?;
            id.parse()
                .map_err(|_| StoreError::Corrupt(format!("person id {id:?}")))
        })
        .collect()
}

pub(super) async fn accounts(
    store: &SqlStore,
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
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(person_from).collect()
}

pub(super) async fn set_password(
    store: &SqlStore,
    person: PersonId,
    hash: String,
) -> Result<bool, StoreError> {
    let mut tx = store.begin_write().await?;
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

pub(super) async fn create_session(store: &SqlStore, s: SessionRecord) -> Result<(), StoreError> {
    let mut conn = store.pool.acquire().await?;
    insert_session(&mut conn, s).await
}

pub(super) async fn session(
    store: &SqlStore,
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
    .fetch_optional(&store.pool)
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

pub(super) async fn delete_session(store: &SqlStore, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash.to_owned())
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn create_guest(
    store: &SqlStore,
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
    .execute(&store.pool)
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

pub(super) async fn delete_guest(store: &SqlStore, id: PersonId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM people WHERE id = $1 AND is_guest = 1")
        .bind(id.to_string())
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn accounts_by_email(
    store: &SqlStore,
    emails: &[String],
) -> Result<Vec<Person>, StoreError> {
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
        for row in query.fetch_all(&store.pool).await? {
            found.push(person_from(&row)?);
        }
    }
    Ok(found)
}

pub(super) async fn guests_of(store: &SqlStore, main: RoomId) -> Result<Vec<Person>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT p.id, p.invited_email AS email, p.display_name, p.is_admin, p.is_guest, p.created_at \
         FROM people p JOIN members m ON m.person_id = p.id JOIN rooms r ON r.id = m.room_id \
         WHERE p.is_guest = 1 AND (r.id = $1 OR r.parent_id = $1)",
    )
    .bind(main.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(person_from).collect()
}
