//! Durable storage behind one trait, so the rest of Huddle never sees SQL.
//!
//! [`Store`] is what the server needs; [`open`] picks the backend from the database URL:
//! `sqlite://…` (the default, one file in the data directory, WAL with `synchronous=FULL` so an
//! acknowledged write survives power loss) or `postgres://…`. Both run the same queries (see
//! [`sql`]); each has its own migrations folder.
//!
//! Writes to rooms arrive as the domain's events through [`Store::commit`]: one transaction per
//! command, holding the row changes and the sequenced event rows together, so the event stream and
//! the tables can never disagree.

mod accounts;
pub mod blobs;
mod cluster;
mod codec;
mod collab;
mod effects;
mod invitations;
mod plans;
mod pool;
mod recordings;
mod report;
mod rows;
mod sql;
mod streams;
pub use report::StayRow;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::Role;
use crate::domain::room::{Event, Message, RoomState};
use crate::ids::{InvitationId, PersonId, RecordingId, RoomId};

pub use cluster::{Claim, Fence, NodeRow, OwnerRow};
pub use collab::InvitationRecord;
pub use pool::SqlStore;
pub use recordings::RecordingRow;

/// What became of one attempt to send an invitation's email.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// It went out at this time.
    Sent {
        /// Milliseconds since the Unix epoch.
        at: i64,
    },
    /// It failed; it is tried again at `next_at`, or never (`None`: given up).
    Failed {
        /// What went wrong.
        error: String,
        /// Attempts so far.
        attempts: u32,
        /// The next attempt.
        next_at: Option<i64>,
    },
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (an email already taken, setup already done…).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The stored data is not what this version of Huddle wrote.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The commit was refused: this node no longer holds the stream (another node claimed it).
    #[error("this node no longer owns the room's stream")]
    Fenced,
}

/// A person as the server knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Id.
    pub id: PersonId,
    /// Lower-cased email: an account's, or for a guest the address they were invited at.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Administrators create accounts.
    pub is_admin: bool,
    /// A guest: no account, only the rooms their invitation opened.
    pub is_guest: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// An account to create. The password is already hashed.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Id.
    pub id: PersonId,
    /// Lower-cased email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// argon2id PHC string; `None` for an account that signs in only with issued tokens until a
    /// password is set.
    pub password_hash: Option<String>,
    /// Administrator?
    pub is_admin: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// How an account is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    /// The first-run setup: only while no account exists at all.
    FirstAdministrator,
    /// An ordinary creation; the first account ever is made an administrator.
    Ordinary,
}

/// A login session as stored. Only the token's hash is kept.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token, hex.
    pub token_hash: String,
    /// Whose session.
    pub person_id: PersonId,
    /// The token a cookie-authenticated request must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// A main room's stream as loaded by its actor.
#[derive(Clone, Debug)]
pub struct LoadedStream {
    /// The rooms and members.
    pub state: RoomState,
    /// The last sequence number used.
    pub last_seq: u64,
    /// The most recent events, oldest first, for replay to reconnecting clients.
    pub recent: Vec<(u64, Event)>,
}

/// A room in someone's room list.
#[derive(Clone, Debug)]
pub struct RoomListing {
    /// The room.
    pub id: RoomId,
    /// Its main room, for a breakout room.
    pub parent_id: Option<RoomId>,
    /// Its name.
    pub name: String,
    /// The main room's name, for a breakout room.
    pub parent_name: Option<String>,
    /// The person's role in it.
    pub role: Role,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Which way to page through chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Highest sequence number first.
    NewestFirst,
    /// Lowest sequence number first.
    OldestFirst,
}

/// A page request: messages strictly after `cursor` in the chosen order.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    /// Direction.
    pub order: Order,
    /// The `seq` of the last message of the previous page.
    pub cursor: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

/// Everything Huddle stores.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an account; `Conflict("email")` if the email is taken, `Conflict("setup")` if
    /// `mode` is [`CreateMode::FirstAdministrator`] and an account exists. Returns the account as
    /// stored (the first account ever is always an administrator).
    async fn create_account(
        &self,
        account: NewAccount,
        mode: CreateMode,
    ) -> Result<Person, StoreError>;
    /// Creates many accounts in one transaction (all or none).
    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<(), StoreError>;
    /// Whether any account exists.
    async fn has_accounts(&self) -> Result<bool, StoreError>;
    /// A person with their password hash, by email.
    async fn login_lookup(&self, email: &str) -> Result<Option<(Person, String)>, StoreError>;
    /// A person by email.
    async fn person_by_email(&self, email: &str) -> Result<Option<Person>, StoreError>;
    /// A person by id.
    async fn person(&self, id: PersonId) -> Result<Option<Person>, StoreError>;
    /// The people among `ids` that exist.
    async fn people(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError>;
    /// Bytes of uploaded files (and recordings kept as content) held by the main room `main` with
    /// its breakout rooms, and added by `person` in all rooms.
    async fn upload_bytes(&self, main: RoomId, person: PersonId) -> Result<(u64, u64), StoreError>;
    /// Everyone who is a member of a room `manager` owns or moderates, or of a breakout room of
    /// a main room they own or moderate: the people they may add to another room by id.
    async fn people_managed_by(
        &self,
        manager: PersonId,
    ) -> Result<std::collections::HashSet<PersonId>, StoreError>;
    /// Accounts (not guests) whose email or display name contains `search` (case-insensitive
    /// for ASCII), ordered by email, after the email `after`, at most `limit`.
    async fn accounts(
        &self,
        search: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError>;
    /// Sets an account's password hash and ends all its sessions, in one transaction; false if
    /// no such account (guests have no password).
    async fn set_password(&self, person: PersonId, hash: String) -> Result<bool, StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: SessionRecord) -> Result<(), StoreError>;
    /// A live (unexpired at `now`) session and its person, by token hash.
    async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(SessionRecord, Person)>, StoreError>;
    /// Stores many sessions in one transaction (issued API tokens).
    async fn create_sessions(&self, sessions: Vec<SessionRecord>) -> Result<(), StoreError>;
    /// Revokes a session.
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;

    /// The main room a room belongs to (itself for a main room).
    async fn stream_of(&self, room: RoomId) -> Result<Option<RoomId>, StoreError>;
    /// The main rooms whose streams a person has anything to see in.
    async fn streams_of(&self, person: PersonId) -> Result<Vec<RoomId>, StoreError>;
    /// The rooms a person is a direct member of.
    async fn rooms_of(&self, person: PersonId) -> Result<Vec<RoomListing>, StoreError>;
    /// A main room's state, last sequence number and up to `recent` latest events.
    async fn load_stream(
        &self,
        main: RoomId,
        recent: usize,
    ) -> Result<Option<LoadedStream>, StoreError>;
    /// Stores a command's events (with their sequence numbers, committed at `at`) and their
    /// effects on the tables, in one transaction. Event rows more than `keep` behind the newest
    /// are pruned now and then. With a `fence` (cluster mode), the transaction first checks that
    /// this node still owns the stream with that claim, at the seq before `events`, and moves the
    /// claim on; if not, nothing is stored and the error is [`StoreError::Fenced`]. `command` is
    /// the id of the command whose events these are, when it has one.
    async fn commit(
        &self,
        stream: RoomId,
        events: &[(u64, Event)],
        at: i64,
        keep: u64,
        fence: Option<&Fence>,
        command: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The stored events of `stream` after `seq`, oldest first (those not pruned yet): how a
    /// node that follows a stream fills a gap.
    async fn events_after(&self, stream: RoomId, seq: u64)
    -> Result<Vec<(u64, Event)>, StoreError>;
    /// The events a command with this id stored in `stream`, if it was carried out (and its
    /// events were not pruned since): a retried command is answered from here, not run twice.
    async fn command_events(
        &self,
        stream: RoomId,
        command: &str,
    ) -> Result<Option<Vec<(u64, Event)>>, StoreError>;
    /// Writes this node's heartbeat (cluster mode).
    async fn heartbeat(
        &self,
        node: &str,
        address: &str,
        started_at: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Every node that wrote a heartbeat, the latest first.
    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError>;
    /// Every stream's owner, by node.
    async fn stream_owners(&self) -> Result<Vec<OwnerRow>, StoreError>;
    /// Claims a stream for `node` unless a node with a heartbeat since `alive_since` owns it
    /// (the node `gone`, which NATS says has left, does not count, whatever its heartbeat).
    async fn claim_stream(
        &self,
        stream: RoomId,
        node: &str,
        alive_since: i64,
        gone: Option<&str>,
    ) -> Result<Claim, StoreError>;
    /// Gives up a claim, so that another node may take the stream at once.
    async fn release_stream(&self, stream: RoomId, fence: &Fence) -> Result<(), StoreError>;
    /// The main rooms whose breakout round is running or closing (their timers must run).
    async fn live_streams(&self) -> Result<Vec<RoomId>, StoreError>;
    /// Main rooms with a recording that never stopped (Huddle stopped while it ran).
    async fn open_recording_streams(&self) -> Result<Vec<RoomId>, StoreError>;
    /// Recordings stopped but neither composed nor failed, oldest first.
    async fn recording_jobs(&self) -> Result<Vec<RecordingRow>, StoreError>;
    /// Claims the job of composing a recording for `node` (cluster mode): allowed while the job
    /// is to do and nobody else alive since `alive_since` claimed it. Whether `node` has it.
    async fn claim_recording(
        &self,
        id: RecordingId,
        node: &str,
        alive_since: i64,
    ) -> Result<bool, StoreError>;
    /// The latest `limit` recordings of a main room and its breakout rooms, newest first.
    async fn recordings_of(
        &self,
        main: RoomId,
        limit: usize,
    ) -> Result<Vec<RecordingRow>, StoreError>;
    /// Notes why a recording could not be composed.
    async fn recording_failed(&self, id: RecordingId, error: &str) -> Result<(), StoreError>;
    /// Bytes the composed recordings take in the file store.
    async fn recording_bytes(&self) -> Result<u64, StoreError>;
    /// Recordings under way (started, not stopped) that `person` started, in every room.
    async fn recordings_under_way_by(&self, person: PersonId) -> Result<usize, StoreError>;
    /// A page of a room's chat, with each message's sequence number.
    async fn messages(
        &self,
        room: RoomId,
        page: PageRequest,
    ) -> Result<Vec<(u64, Message)>, StoreError>;

    /// Creates a guest (a person without an account) invited at `invited_email`.
    async fn create_guest(
        &self,
        id: PersonId,
        display_name: &str,
        invited_email: &str,
        at: i64,
    ) -> Result<Person, StoreError>;
    /// Removes a guest who never got into a room (their invitation could not be used).
    async fn delete_guest(&self, id: PersonId) -> Result<(), StoreError>;
    /// The accounts with these (lower-cased) emails.
    async fn accounts_by_email(&self, emails: &[String]) -> Result<Vec<Person>, StoreError>;
    /// The guests who are members of a room of stream `main`.
    async fn guests_of(&self, main: RoomId) -> Result<Vec<Person>, StoreError>;
    /// The invitation whose link token has this hash.
    async fn invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationRecord>, StoreError>;
    /// One invitation.
    async fn invitation(&self, id: InvitationId) -> Result<Option<InvitationRecord>, StoreError>;
    /// Every invitation to a room, newest first.
    async fn invitations_to(&self, room: RoomId) -> Result<Vec<InvitationRecord>, StoreError>;
    /// Pending invitations whose email is due at `now`, oldest first.
    async fn due_mail(&self, now: i64, limit: u32) -> Result<Vec<InvitationRecord>, StoreError>;
    /// When the next email is due, if any is waiting.
    async fn next_mail_at(&self) -> Result<Option<i64>, StoreError>;
    /// Claims a due email for one delivery attempt: only if it is still pending and still due at
    /// `due_at` (so two mailers never send the same email), it gets `token_hash` as its link's
    /// token and is not due again before `lease_until` (should this attempt never be recorded).
    async fn claim_mail(
        &self,
        id: InvitationId,
        due_at: i64,
        token_hash: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    /// Records the outcome of a delivery attempt.
    async fn record_delivery(&self, id: InvitationId, delivery: Delivery)
    -> Result<(), StoreError>;
    /// Queues a pending invitation's email again, due at `now`.
    async fn resend_invitation(&self, id: InvitationId, now: i64) -> Result<(), StoreError>;
    /// The breakout rounds of a main room that ended at or after `since`, oldest first.
    async fn rounds(
        &self,
        main: RoomId,
        since: i64,
    ) -> Result<Vec<crate::domain::rotation::PastRound>, StoreError>;
    /// Writes stays of a main room that ended; with `open`, replaces the checkpoint of its stays
    /// under way by it; and forgets its stays that ended before `forget_before` (the report's
    /// retention).
    async fn record_stays(
        &self,
        main: RoomId,
        rows: &[StayRow],
        open: Option<&[StayRow]>,
        forget_before: i64,
    ) -> Result<(), StoreError>;
    /// Makes the last checkpoint of a main room's stays under way final (its actor stopped
    /// without closing them); called when a room's owner starts.
    async fn settle_stays(&self, main: RoomId) -> Result<(), StoreError>;
    /// The stays of a main room that overlap `[from, to)`, by start.
    async fn stays(&self, main: RoomId, from: i64, to: i64) -> Result<Vec<StayRow>, StoreError>;
    /// The group plans of a main room, by name.
    async fn plans(&self, main: RoomId) -> Result<Vec<crate::domain::plan::GroupPlan>, StoreError>;
    /// Stores a new plan: `Conflict("plan name")` if the main room has one of that name,
    /// `Conflict("plans")` if it has the most it may keep.
    async fn create_plan(
        &self,
        main: RoomId,
        plan: &crate::domain::plan::GroupPlan,
        by: PersonId,
    ) -> Result<(), StoreError>;
    /// Replaces a plan's name and rooms; false if the main room has no such plan.
    async fn update_plan(
        &self,
        main: RoomId,
        plan: &crate::domain::plan::GroupPlan,
    ) -> Result<bool, StoreError>;
    /// Deletes a plan; false if the main room had no such plan.
    async fn delete_plan(&self, main: RoomId, id: crate::ids::PlanId) -> Result<bool, StoreError>;
    /// The SHA-256 of every stored file some content item still uses.
    async fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError>;
}

/// The store handle the server passes around.
pub type SharedStore = Arc<dyn Store>;

/// Opens (creating if needed) and migrates the database named by `url`.
pub async fn open(url: &str) -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SqlStore::open(url).await?))
}
