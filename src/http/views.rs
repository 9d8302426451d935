//! Request and response bodies of the API, with their OpenAPI schemas.
//!
//! Requests refuse unknown fields, so a misspelt field is an error rather than silently ignored.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::Role;
use crate::domain::room::{Member, Message, RoomState};
use crate::ids::{PersonId, RoomId};
use crate::store::Person;

/// Body of `POST /setup` and `POST /accounts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountRequest {
    /// Unique, case-insensitive.
    pub email: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    /// Only for `POST /accounts`: make the account an administrator.
    #[serde(default)]
    pub is_admin: bool,
}

/// Body of `POST /setup`: the first administrator (always an administrator).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// Unique, case-insensitive.
    pub email: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
}

/// Query of `GET /accounts`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// Part of an email or display name (case-insensitive); empty or absent: every account.
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A page of accounts, by email.
#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    /// The accounts.
    pub accounts: Vec<PersonView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Body of `PUT /accounts/{person}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The new password: at least 8 characters.
    pub password: String,
}

/// Body of `POST /session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// Body of `POST /accounts/import`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Up to 20,000 accounts; all are created or none.
    #[schema(min_items = 1, max_items = 20_000)]
    pub accounts: Vec<ImportAccount>,
    /// Also issue each account an API token (a session, as sign-in would), returned once.
    #[serde(default)]
    pub issue_tokens: bool,
}

/// One account to import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportAccount {
    /// Unique, case-insensitive.
    pub email: String,
    /// 1–100 characters.
    pub display_name: String,
    /// Optional: without one, the account signs in only with its issued token until a password is set.
    pub password: Option<String>,
}

/// Answer of `POST /accounts/import`, in the order given.
#[derive(Clone, Serialize, ToSchema)]
pub struct ImportResult {
    /// The accounts created.
    pub accounts: Vec<ImportedAccount>,
}

/// One imported account.
#[derive(Clone, Serialize, ToSchema)]
pub struct ImportedAccount {
    /// Id.
    pub id: PersonId,
    /// Lower-cased email.
    pub email: String,
    /// Bearer token, when asked for.
    pub token: Option<String>,
}

/// A person.
#[derive(Serialize, ToSchema)]
pub struct PersonView {
    /// Id.
    pub id: PersonId,
    /// Email (accounts only).
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Administrators create accounts.
    pub is_admin: bool,
    /// A guest: no account, only the rooms their invitation opened.
    pub is_guest: bool,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        PersonView {
            id: p.id,
            email: p.email,
            display_name: p.display_name,
            is_admin: p.is_admin,
            is_guest: p.is_guest,
        }
    }
}

/// Answer to a successful sign-in.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Bearer token: send as `Authorization: Bearer TOKEN`. Also set as an HttpOnly cookie.
    pub token: String,
    /// Echo in `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
    /// Who signed in.
    pub person: PersonView,
}

/// Body of `POST /rooms` and `PATCH /rooms/{room}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomNameRequest {
    /// 1–100 characters, no control characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

/// A breakout room as listed in its main room.
#[derive(Serialize, ToSchema)]
pub struct BreakoutSummary {
    /// Id.
    pub id: RoomId,
    /// Own name.
    pub name: String,
    /// `Main : Breakout`.
    pub title: String,
    /// Whether the caller may open it now (a direct member, assigned to it, in it, or a manager).
    pub can_enter: bool,
}

/// Someone who belongs in a breakout room now: a direct member, assigned to it, or in it.
#[derive(Serialize, ToSchema)]
pub struct RoomPerson {
    /// Id.
    pub person_id: PersonId,
    /// Display name.
    pub display_name: String,
    /// In the room right now (connected and located there).
    pub present: bool,
}

/// A room with what the caller may see of it.
#[derive(Serialize, ToSchema)]
pub struct RoomView {
    /// Id.
    pub id: RoomId,
    /// The main room, for a breakout room.
    pub parent_id: Option<RoomId>,
    /// Own name.
    pub name: String,
    /// `Main : Breakout` for a breakout room, else the name.
    pub title: String,
    /// The caller's effective role.
    pub role: Role,
    /// The main room's stream position this view reflects: apply events with a higher `seq`.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Number of direct members.
    pub member_count: usize,
    /// For a breakout room: whether the caller may open its main room (breakout-only members and
    /// guests may not).
    pub can_open_main: bool,
    /// For a main room: its breakout rooms, which every main-room member sees among the room's
    /// resources (entering one follows the breakout rules).
    pub breakout_rooms: Vec<BreakoutSummary>,
    /// For a breakout room: who belongs in it now (its direct members, the people assigned to it
    /// and the people in it), by name. Empty for a main room, whose members are listed apart.
    pub people: Vec<RoomPerson>,
    /// The recording of this room's call in progress, if any.
    pub recording: Option<crate::domain::recording::Recording>,
}

impl RoomView {
    /// The view of `room` for `person`, or `None` if they may not see it.
    pub fn of(state: &RoomState, seq: u64, room: RoomId, person: PersonId) -> Option<RoomView> {
        let info = state.room(room)?;
        let role = state.effective_role(room, person)?;
        let breakout_rooms = if info.parent_id.is_none() {
            state
                .breakouts
                .values()
                .map(|b| BreakoutSummary {
                    id: b.id,
                    name: b.name.clone(),
                    title: state.title(b.id).unwrap_or_default(),
                    can_enter: state.can_see(b.id, person),
                })
                .collect()
        } else {
            Vec::new()
        };
        let people = if info.parent_id.is_some() {
            people_of(state, room)
        } else {
            Vec::new()
        };
        Some(RoomView {
            id: info.id,
            parent_id: info.parent_id,
            name: info.name.clone(),
            title: state.title(room)?,
            role,
            seq,
            created_at: info.created_at,
            member_count: state.members.get(&room).map_or(0, |m| m.len()),
            can_open_main: info.parent_id.is_some() && state.can_see(state.id(), person),
            breakout_rooms,
            people,
            recording: state.recordings.get(&room).cloned(),
        })
    }
}

/// Who belongs in breakout room `room` now, by name.
fn people_of(state: &RoomState, room: RoomId) -> Vec<RoomPerson> {
    let mut ids: std::collections::BTreeSet<PersonId> = state
        .members
        .get(&room)
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default();
    ids.extend(
        state
            .breakout
            .assignments
            .iter()
            .filter(|(_, r)| **r == room)
            .map(|(p, _)| *p),
    );
    ids.extend(
        state
            .locations
            .iter()
            .filter(|(_, r)| **r == room)
            .map(|(p, _)| *p),
    );
    let mut people: Vec<RoomPerson> = ids
        .into_iter()
        .map(|person_id| RoomPerson {
            person_id,
            display_name: state.display_name(person_id).unwrap_or_default().to_owned(),
            present: state.locations.get(&person_id) == Some(&room),
        })
        .collect();
    people.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.person_id.cmp(&b.person_id))
    });
    people
}

/// A room in the caller's list.
#[derive(Serialize, ToSchema)]
pub struct RoomListItem {
    /// Id.
    pub id: RoomId,
    /// The main room, for a breakout room.
    pub parent_id: Option<RoomId>,
    /// Own name.
    pub name: String,
    /// `Main : Breakout` for a breakout room, else the name.
    pub title: String,
    /// The caller's role.
    pub role: Role,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// `GET /rooms`.
#[derive(Serialize, ToSchema)]
pub struct RoomList {
    /// Rooms the caller is a direct member of, oldest first.
    pub rooms: Vec<RoomListItem>,
}

/// Body of `POST /rooms/{room}/members`: who (by email or id) and with which role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The account's email (or give `person_id`).
    pub email: Option<String>,
    /// The person's id (or give `email`).
    pub person_id: Option<PersonId>,
    /// Many people at once (up to 20,000): all are added or none.
    #[schema(min_items = 1, max_items = 20_000)]
    pub person_ids: Option<Vec<PersonId>>,
    /// Defaults to `participant`.
    pub role: Option<Role>,
}

/// Body of `PATCH /rooms/{room}/members/{person}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// The new role.
    pub role: Role,
}

/// `GET /rooms/{room}/members`.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    /// Direct members, by display name.
    pub members: Vec<Member>,
}

/// Body of `POST /rooms/{room}/messages`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// Plain text; trimmed; at most the configured number of characters (4,000 by default).
    #[schema(min_length = 1, pattern = r"\S")]
    pub text: String,
}

/// A chat message with its place in the stream.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    /// The stream sequence number that posted it; also the pagination cursor.
    pub seq: u64,
    /// The message.
    #[serde(flatten)]
    pub message: Message,
}

/// A page of chat.
#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    /// Messages in the requested order.
    pub messages: Vec<MessageView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /rooms/{room}/messages`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    /// `newest` (default) or `oldest` first.
    #[param(inline)]
    pub order: Option<OrderParam>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<u64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Chat order.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum OrderParam {
    /// Newest first.
    Newest,
    /// Oldest first.
    Oldest,
}

/// Query of `GET /events`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Where to resume: `STREAM:SEQ` pairs separated by commas, one per main room, with the last
    /// `seq` the client applied.
    pub resume: Option<String>,
}
