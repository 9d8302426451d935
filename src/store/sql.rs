//! The SQL implementation of [`Store`], shared by SQLite and PostgreSQL.
//!
//! sqlx's `Any` driver runs the same query text on both: every query uses `$N` placeholders (which
//! SQLite accepts too), ids are text and times are integer milliseconds. What differs per backend —
//! the migrations folder and SQLite's durability pragmas — is chosen once in [`SqlStore::open`]
//! (`pool.rs`). Each method hands its work to its table's file (`accounts.rs`, `streams.rs`, …).
//! This keeps one implementation to test and maintain; a backend that needs its own SQL later can
//! get its own `Store` implementation without touching callers.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::pool::SqlStore;
use super::{
    Claim, CreateMode, Delivery, Fence, InvitationRecord, LoadedStream, NewAccount, NodeRow,
    OwnerRow, PageRequest, Person, RecordingRow, RoomListing, SessionRecord, Store, StoreError,
};
use super::{accounts, invitations, streams};
use crate::domain::room::{Event, Message};
use crate::ids::{InvitationId, PersonId, RecordingId, RoomId};

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
        accounts::create_account(self, account, mode).await
    }

    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<(), StoreError> {
        accounts::create_accounts(self, accounts).await
    }

    async fn has_accounts(&self) -> Result<bool, StoreError> {
        accounts::has_accounts(self).await
    }

    async fn login_lookup(&self, email: &str) -> Result<Option<(Person, String)>, StoreError> {
        accounts::login_lookup(self, email).await
    }

    async fn person_by_email(&self, email: &str) -> Result<Option<Person>, StoreError> {
        accounts::person_by_email(self, email).await
    }

    async fn person(&self, id: PersonId) -> Result<Option<Person>, StoreError> {
        accounts::person(self, id).await
    }

    async fn create_sessions(&self, sessions: Vec<SessionRecord>) -> Result<(), StoreError> {
        accounts::create_sessions(self, sessions).await
    }

    async fn people(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
        accounts::people(self, ids).await
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
        accounts::people_managed_by(self, manager).await
    }

    async fn accounts(
        &self,
        search: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError> {
        accounts::accounts(self, search, after, limit).await
    }

    async fn set_password(&self, person: PersonId, hash: String) -> Result<bool, StoreError> {
        accounts::set_password(self, person, hash).await
    }

    async fn create_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        accounts::create_session(self, s).await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(SessionRecord, Person)>, StoreError> {
        accounts::session(self, token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        accounts::delete_session(self, token_hash).await
    }

    async fn stream_of(&self, room: RoomId) -> Result<Option<RoomId>, StoreError> {
        streams::stream_of(self, room).await
    }

    async fn streams_of(&self, person: PersonId) -> Result<Vec<RoomId>, StoreError> {
        streams::streams_of(self, person).await
    }

    async fn rooms_of(&self, person: PersonId) -> Result<Vec<RoomListing>, StoreError> {
        streams::rooms_of(self, person).await
    }

    async fn load_stream(
        &self,
        main: RoomId,
        recent: usize,
    ) -> Result<Option<LoadedStream>, StoreError> {
        streams::load_stream(self, main, recent).await
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
        streams::commit(self, stream, events, at, keep, fence, command).await
    }

    async fn events_after(
        &self,
        stream: RoomId,
        seq: u64,
    ) -> Result<Vec<(u64, Event)>, StoreError> {
        streams::events_after(self, stream, seq).await
    }

    async fn command_events(
        &self,
        stream: RoomId,
        command: &str,
    ) -> Result<Option<Vec<(u64, Event)>>, StoreError> {
        streams::command_events(self, stream, command).await
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
        streams::live_streams(self).await
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
        streams::messages(self, room, page).await
    }

    async fn create_guest(
        &self,
        id: PersonId,
        display_name: &str,
        invited_email: &str,
        at: i64,
    ) -> Result<Person, StoreError> {
        accounts::create_guest(self, id, display_name, invited_email, at).await
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
        accounts::delete_guest(self, id).await
    }

    async fn accounts_by_email(&self, emails: &[String]) -> Result<Vec<Person>, StoreError> {
        accounts::accounts_by_email(self, emails).await
    }

    async fn guests_of(&self, main: RoomId) -> Result<Vec<Person>, StoreError> {
        accounts::guests_of(self, main).await
    }

    async fn invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationRecord>, StoreError> {
        invitations::invitation_by_token(self, token_hash).await
    }

    async fn invitation(&self, id: InvitationId) -> Result<Option<InvitationRecord>, StoreError> {
        invitations::invitation(self, id).await
    }

    async fn invitations_to(&self, room: RoomId) -> Result<Vec<InvitationRecord>, StoreError> {
        invitations::invitations_to(self, room).await
    }

    async fn due_mail(&self, now: i64, limit: u32) -> Result<Vec<InvitationRecord>, StoreError> {
        invitations::due_mail(self, now, limit).await
    }

    async fn next_mail_at(&self) -> Result<Option<i64>, StoreError> {
        invitations::next_mail_at(self).await
    }

    async fn claim_mail(
        &self,
        id: InvitationId,
        due_at: i64,
        token_hash: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        invitations::claim_mail(self, id, due_at, token_hash, lease_until).await
    }

    async fn record_delivery(
        &self,
        id: InvitationId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        invitations::record_delivery(self, id, delivery).await
    }

    async fn resend_invitation(&self, id: InvitationId, now: i64) -> Result<(), StoreError> {
        invitations::resend_invitation(self, id, now).await
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
