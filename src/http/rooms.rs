//! Rooms, their members and their chat.
//!
//! Reads of room state (a room, its members) go through the room's actor, so they reflect every
//! command acknowledged before them and carry the stream position (`seq`) they correspond to.
//! Chat history is read from the store directly. Someone who may not see a room gets 404 for it,
//! whatever the route.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiQuery, PathIds};
use super::views::{
    AddMemberRequest, ChangeRoleRequest, MemberList, MessagePage, MessageQuery, MessageView,
    NewMessageRequest, OrderParam, RoomList, RoomListItem, RoomNameRequest, RoomView,
};
use crate::App;
use crate::contract::Committed;
use crate::domain::room::{Command, Event, Member};
use crate::domain::{DomainError, Role, validate};
use crate::ids::{PersonId, RoomId};
use crate::store::{Order, PageRequest};

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms", get(list_rooms).post(create_room))
        .route(
            "/rooms/{room}",
            get(get_room).patch(rename_room).delete(delete_room),
        )
        .route("/rooms/{room}/members", get(list_members).post(add_member))
        .route(
            "/rooms/{room}/members/{person}",
            axum::routing::patch(change_role).delete(remove_member),
        )
        .route(
            "/rooms/{room}/messages",
            get(list_messages).post(post_message),
        )
}

/// The caller's view of a room, read inside its actor.
async fn room_view(app: &App, room: RoomId, person: PersonId) -> Result<RoomView, ApiError> {
    room_view_after(app, room, person, 0).await
}

/// [`room_view`] on a state that holds event `seq` (the answer of a command, on any node).
async fn room_view_after(
    app: &App,
    room: RoomId,
    person: PersonId,
    seq: u64,
) -> Result<RoomView, ApiError> {
    app.rooms
        .inspect_after(room, seq, move |state, seq| {
            RoomView::of(state, seq, room, person)
        })
        .await?
        .ok_or(ApiError::not_found("room"))
}

/// Rooms I am a member of.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms",
    responses((status = 200, body = RoomList)), security(("bearer" = [])))]
async fn list_rooms(State(app): State<App>, auth: Auth) -> Result<Json<RoomList>, ApiError> {
    let rooms = app.store.rooms_of(auth.person.id).await?;
    let rooms = rooms
        .into_iter()
        .map(|r| RoomListItem {
            title: match &r.parent_name {
                Some(parent) => format!("{parent} : {}", r.name),
                None => r.name.clone(),
            },
            id: r.id,
            parent_id: r.parent_id,
            name: r.name,
            role: r.role,
            created_at: r.created_at,
        })
        .collect();
    Ok(Json(RoomList { rooms }))
}

/// Create a main room; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", request_body = RoomNameRequest,
    responses((status = 201, body = RoomView), (status = 403, description = "a guest", body = super::error::ErrorBody), (status = 409, description = "the person owns as many rooms as allowed", body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn create_room(
    State(app): State<App>,
    auth: Auth,
    ApiJson(req): ApiJson<RoomNameRequest>,
) -> Result<(StatusCode, Json<RoomView>), ApiError> {
    if auth.person.is_guest {
        return Err(ApiError::forbidden(
            "guests take part in the rooms they were invited to; they do not create rooms",
        ));
    }
    let name = validate::name("name", &req.name)?;
    let most = app.config.limits.max_rooms_per_person;
    if !auth.person.is_admin {
        let owned = app
            .store
            .rooms_of(auth.person.id)
            .await?
            .iter()
            .filter(|r| r.parent_id.is_none() && r.role == Role::Owner)
            .count();
        if owned >= most {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "room_quota",
                format!("you own {owned} rooms, the most one person may; delete one first"),
            ));
        }
    }
    let state = app.rooms.create(&auth.caller(), name).await?;
    let view = room_view(&app, state.id(), auth.person.id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A room, with its breakout rooms and the stream position it reflects.
#[utoipa::path(get, path = "/api/v1/rooms/{room}", tag = "rooms", params(("room" = RoomId, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn get_room(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(
        room_view(&app, ids.get("room")?, auth.person.id).await?,
    ))
}

/// Rename a room (owners and moderators).
#[utoipa::path(patch, path = "/api/v1/rooms/{room}", tag = "rooms", params(("room" = RoomId, Path)),
    request_body = RoomNameRequest,
    responses((status = 200, body = RoomView), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn rename_room(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<RoomNameRequest>,
) -> Result<Json<RoomView>, ApiError> {
    let room = ids.get("room")?;
    let name = validate::name("name", &req.name)?;
    let committed = app
        .rooms
        .command(room, auth.caller(), Command::Rename { room, name })
        .await?;
    Ok(Json(
        room_view_after(&app, room, auth.person.id, committed.seq).await?,
    ))
}

/// Delete a main room with its breakout rooms and everything they hold (owners only).
#[utoipa::path(delete, path = "/api/v1/rooms/{room}", tag = "rooms", params(("room" = RoomId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "a breakout room: delete it through the breakout routes", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_room(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<StatusCode, ApiError> {
    let room: RoomId = ids.get("room")?;
    let me = auth.person.id;
    // Who may is asked before what the room is: a participant learns nothing from the answer.
    let (is_breakout, owner) = app
        .rooms
        .inspect(room, move |state, _| {
            state.can_see(room, me).then(|| {
                let owner = state.role(state.id(), me) == Some(Role::Owner);
                (state.id() != room, owner)
            })
        })
        .await?
        .ok_or(ApiError::not_found("room"))?;
    if !owner {
        return Err(ApiError::forbidden("only owners may delete a room"));
    }
    if is_breakout {
        return Err(DomainError::conflict(
            "breakout_room",
            "this is a breakout room; delete it through /api/v1/rooms/{main}/breakout/rooms/{breakout}",
        )
        .into());
    }
    app.rooms
        .command(room, auth.caller(), Command::DeleteRoom)
        .await?;
    app.sweep_blobs(); // its files, if no other item uses them
    Ok(StatusCode::NO_CONTENT)
}

/// Direct members of a room.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/members", tag = "members", params(("room" = RoomId, Path)),
    responses((status = 200, body = MemberList), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list_members(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<MemberList>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let me = auth.person.id;
    let members = app
        .rooms
        .inspect(room, move |state, _| {
            state.can_see(room, me).then(|| {
                let mut members: Vec<Member> = state
                    .members
                    .get(&room)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                members.sort_by(|a, b| {
                    a.display_name
                        .cmp(&b.display_name)
                        .then(a.person_id.cmp(&b.person_id))
                });
                members
            })
        })
        .await?
        .ok_or(ApiError::not_found("room"))?;
    Ok(Json(MemberList { members }))
}

fn member_from(committed: &Committed) -> Option<Member> {
    committed.events.iter().find_map(|(_, e)| match e {
        Event::MemberAdded { member, .. } => Some(member.clone()),
        _ => None,
    })
}

/// Add a member by email or id, or many by `person_ids` (owners and moderators; only owners add
/// owners). Answers the member, or for `person_ids` the list of members added.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/members", tag = "members", params(("room" = RoomId, Path)),
    request_body = AddMemberRequest,
    responses((status = 201, description = "the member; with person_ids, a MemberList", body = Member), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn add_member(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<Response, ApiError> {
    let room = ids.get("room")?;
    // Who may add is asked before anyone is looked up: the answer tells a participant nothing
    // about who has an account.
    super::calls::managed(&app, &auth, room, "only owners and moderators add members").await?;
    if let Some(person_ids) = req.person_ids {
        if req.email.is_some() || req.person_id.is_some() {
            return Err(ApiError::invalid(
                "person_ids",
                "give person_ids alone, or one email or person_id",
            ));
        }
        return add_members(
            &app,
            &auth,
            room,
            person_ids,
            req.role.unwrap_or(Role::Participant),
        )
        .await;
    }
    let person = match (&req.email, req.person_id) {
        (Some(email), None) => {
            let email = validate::email(email)?;
            let found = app.store.person_by_email(&email).await?;
            match found {
                Some(person) if may_add_by_id(&app, &auth, &[person.id]).await?.is_empty() => {
                    person
                }
                // An address of someone the caller may not see is answered like an address
                // nobody has: adding is no way to learn who has an account.
                _ => {
                    return Err(ApiError::invalid(
                        "email",
                        "nobody you may add has this address; invite them to the room instead",
                    ));
                }
            }
        }
        (None, Some(id)) => {
            let found = app.store.person(id).await?;
            match found {
                Some(person) if may_add_by_id(&app, &auth, &[person.id]).await?.is_empty() => {
                    person
                }
                // Someone the caller may not see is answered like someone who does not exist.
                _ => return Err(ApiError::invalid("person_id", "no such person")),
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "email",
                "give exactly one of email, person_id and person_ids",
            ));
        }
    };
    if person.is_guest {
        return Err(guest_elsewhere(if req.email.is_some() {
            "email"
        } else {
            "person_id"
        }));
    }
    let command = Command::AddMember {
        room,
        person_id: person.id,
        display_name: person.display_name,
        role: req.role.unwrap_or(Role::Participant),
    };
    let committed = app.rooms.command(room, auth.caller(), command).await?;
    let member = member_from(&committed)
        .ok_or_else(|| ApiError::internal("adding a member produced no event"))?;
    Ok((StatusCode::CREATED, Json(member)).into_response())
}

/// Of `ids`, those the caller may not add by id or email: administrators may add anyone; others
/// only people they may already see, the members of rooms they own or moderate (and of those
/// rooms' breakout rooms). Otherwise an id would pull in anyone, another room's guest included,
/// and an address would tell who has an account (`docs/decisions/0001-account-discovery.md`).
async fn may_add_by_id(
    app: &App,
    auth: &Auth,
    ids: &[PersonId],
) -> Result<Vec<PersonId>, ApiError> {
    if auth.person.is_admin {
        return Ok(Vec::new());
    }
    let seen = app.store.people_managed_by(auth.person.id).await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !seen.contains(id))
        .collect())
}

/// A guest takes part only in the room their invitation opened.
fn guest_elsewhere(field: &'static str) -> ApiError {
    ApiError::invalid(
        field,
        "a guest takes part only in the room they were invited to; invite them to this room instead",
    )
}

/// Most people one request may add.
const MAX_BULK_MEMBERS: usize = 20_000;

/// Adds many people in one command (one `members_added` event); answers 201 with the list.
async fn add_members(
    app: &App,
    auth: &Auth,
    room: RoomId,
    person_ids: Vec<PersonId>,
    role: Role,
) -> Result<Response, ApiError> {
    if person_ids.is_empty() || person_ids.len() > MAX_BULK_MEMBERS {
        return Err(ApiError::invalid(
            "person_ids",
            format!("give between 1 and {MAX_BULK_MEMBERS} people"),
        ));
    }
    let mut people = app.store.people(&person_ids).await?;
    // Someone the caller may not see is answered like someone who does not exist.
    let unseen = may_add_by_id(app, auth, &person_ids).await?;
    people.retain(|p| !unseen.contains(&p.id));
    if people.iter().any(|p| p.is_guest) {
        return Err(guest_elsewhere("person_ids"));
    }
    if people.len()
        != person_ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
    {
        let known: std::collections::HashSet<PersonId> = people.iter().map(|p| p.id).collect();
        let missing = person_ids
            .iter()
            .find(|id| !known.contains(id))
            .map(|id| id.to_string())
            .unwrap_or_default();
        return Err(ApiError::invalid(
            "person_ids",
            format!("no such person: {missing}"),
        ));
    }
    let people = people.into_iter().map(|p| (p.id, p.display_name)).collect();
    let committed = app
        .rooms
        .command(
            room,
            auth.caller(),
            Command::AddMembers { room, people, role },
        )
        .await?;
    let members = committed
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::MembersAdded { members, .. } => Some(members),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("adding members produced no event"))?;
    Ok((StatusCode::CREATED, Json(MemberList { members })).into_response())
}

/// Change a member's role (owners and moderators; only owners grant or take the owner role).
#[utoipa::path(patch, path = "/api/v1/rooms/{room}/members/{person}", tag = "members",
    params(("room" = RoomId, Path), ("person" = PersonId, Path)), request_body = ChangeRoleRequest,
    responses((status = 200, body = Member), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, description = "last owner", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn change_role(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<ChangeRoleRequest>,
) -> Result<Json<Member>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let person: PersonId = ids.get("person")?;
    let committed = app
        .rooms
        .command(
            room,
            auth.caller(),
            Command::ChangeRole {
                room,
                person_id: person,
                role: req.role,
            },
        )
        .await?;
    let member = app
        .rooms
        .inspect_after(room, committed.seq, move |state, _| {
            state
                .members
                .get(&room)
                .and_then(|m| m.get(&person))
                .cloned()
        })
        .await?
        .ok_or(ApiError::not_found("member"))?;
    Ok(Json(member))
}

/// Remove a member, or leave when it is yourself (the last owner cannot).
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/members/{person}", tag = "members",
    params(("room" = RoomId, Path), ("person" = PersonId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "last owner", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn remove_member(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<StatusCode, ApiError> {
    let room = ids.get("room")?;
    let person = ids.get("person")?;
    app.rooms
        .command(
            room,
            auth.caller(),
            Command::RemoveMember {
                room,
                person_id: person,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of a room's chat.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/messages", tag = "chat", params(("room" = RoomId, Path), MessageQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_messages(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiQuery(query): ApiQuery<MessageQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let me = auth.person.id;
    if !app
        .rooms
        .inspect(room, move |state, _| state.can_see(room, me))
        .await?
    {
        return Err(ApiError::not_found("room"));
    }
    if query.cursor.is_some_and(|c| c > i64::MAX as u64) {
        return Err(ApiError::invalid("cursor", "is not a cursor this API gave"));
    }
    let order = match query.order.unwrap_or(OrderParam::Newest) {
        OrderParam::Newest => Order::NewestFirst,
        OrderParam::Oldest => Order::OldestFirst,
    };
    // One extra row tells whether another page follows.
    let mut rows = app
        .store
        .messages(
            room,
            PageRequest {
                order,
                cursor: query.cursor,
                limit: limit + 1,
            },
        )
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    let messages = rows
        .into_iter()
        .map(|(seq, message)| MessageView { seq, message })
        .collect();
    Ok(Json(MessagePage {
        messages,
        next_cursor,
    }))
}

/// Post a chat message.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/messages", tag = "chat", params(("room" = RoomId, Path)),
    request_body = NewMessageRequest,
    responses((status = 201, body = MessageView), (status = 404, body = super::error::ErrorBody),
              (status = 422, description = "empty or too long", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn post_message(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<NewMessageRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let room = ids.get("room")?;
    let text = validate::message_text(&req.text, app.config.limits.max_message_chars)?;
    let committed = app
        .rooms
        .command(room, auth.caller(), Command::PostMessage { room, text })
        .await?;
    let view = committed
        .events
        .into_iter()
        .find_map(|(seq, e)| match e {
            Event::MessagePosted { message, .. } => Some(MessageView { seq, message }),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("posting produced no message"))?;
    Ok((StatusCode::CREATED, Json(view)))
}
