//! Invitations and their emails' delivery: the `invitations` table as the mailer uses it.

use sqlx::Row;

use super::pool::SqlStore;
use super::{Delivery, InvitationRecord, StoreError};
use crate::ids::{InvitationId, RoomId};

pub(super) async fn invitation_by_token(
    store: &SqlStore,
    token_hash: &str,
) -> Result<Option<InvitationRecord>, StoreError> {
    let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
        .bind(token_hash.to_owned())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(super::collab::record_from).transpose()
}

pub(super) async fn invitation(
    store: &SqlStore,
    id: InvitationId,
) -> Result<Option<InvitationRecord>, StoreError> {
    let row = sqlx::query("SELECT * FROM invitations WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(super::collab::record_from).transpose()
}

pub(super) async fn invitations_to(
    store: &SqlStore,
    room: RoomId,
) -> Result<Vec<InvitationRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM invitations WHERE room_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(room.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(super::collab::record_from).collect()
}

pub(super) async fn due_mail(
    store: &SqlStore,
    now: i64,
    limit: u32,
) -> Result<Vec<InvitationRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM invitations WHERE status = 'pending' AND mail_status IN ('queued', 'retrying') \
         AND mail_next_at <= $1 ORDER BY mail_next_at, id LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(super::collab::record_from).collect()
}

pub(super) async fn next_mail_at(store: &SqlStore) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT MIN(mail_next_at) AS next FROM invitations \
         WHERE status = 'pending' AND mail_status IN ('queued', 'retrying')",
    )
    .fetch_one(&store.pool)
    .await?;
    Ok(row.try_get("next")?)
}

pub(super) async fn claim_mail(
    store: &SqlStore,
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
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn record_delivery(
    store: &SqlStore,
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
        .bind(if next_at.is_some() {
            "retrying"
        } else {
            "failed"
        })
        .bind(error)
        .bind(i64::from(attempts))
        .bind(next_at),
    };
    query.bind(id.to_string()).execute(&store.pool).await?;
    Ok(())
}

pub(super) async fn resend_invitation(
    store: &SqlStore,
    id: InvitationId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE invitations SET mail_status = 'queued', mail_next_at = $1, mail_attempts = 0, \
         mail_error = NULL WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id.to_string())
    .execute(&store.pool)
    .await?;
    Ok(())
}
