//! Invitations by email: sending, listing, revoking and resending them
//! (`/api/v1/rooms/{room}/invitations…`), and following a link (`/api/v1/invitations/{token}`).
//!
//! `GET /invite/{token}` (the link in the email) is a page of the web app, which reads the
//! invitation with `GET /api/v1/invitations/{token}` and accepts it with a `POST …/accept`: a `GET`
//! never uses up a link, since mail scanners and link previews follow links on their own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, PathIds};
use super::views::SessionView;
use crate::App;
use crate::auth;
use crate::contract::RoomError;
use crate::domain::invitation::{Invitation, InvitationCommand, Invitee};
use crate::domain::room::{Command, Event};
use crate::domain::{DomainError, Role, validate};
use crate::ids::{InvitationId, PersonId, RoomId};
use crate::store::InvitationRecord;

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms/{room}/invitations", get(list).post(invite))
        .route("/rooms/{room}/invitations/{invitation}", delete(revoke))
        .route(
            "/rooms/{room}/invitations/{invitation}/resend",
            post(resend),
        )
        .route("/invitations/{token}", get(preview))
        .route("/invitations/{token}/accept", post(accept))
}

/// Most addresses one request may invite.
const MAX_INVITEES: usize = 500;

/// Body of `POST /rooms/{room}/invitations`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Up to 500 email addresses.
    #[schema(min_items = 1, max_items = 500)]
    pub emails: Vec<String>,
    /// `participant` (default) or `moderator`; guests always take part as participants.
    pub role: Option<Role>,
}

/// An invitation with the state of its email, for the inviter.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    /// The invitation.
    #[serde(flatten)]
    pub invitation: Invitation,
    /// `pending`, `accepted` or `revoked` (a pending one past `expires_at` has expired).
    pub status: String,
    /// The email: `queued`, `sent`, `retrying` or `failed`.
    pub mail_status: String,
    /// Delivery attempts so far.
    pub mail_attempts: u32,
    /// Why the last attempt failed.
    pub mail_error: Option<String>,
    /// When the next attempt is due.
    pub mail_next_at: Option<i64>,
    /// When the email went out.
    pub mail_sent_at: Option<i64>,
}

impl From<InvitationRecord> for InvitationView {
    fn from(r: InvitationRecord) -> Self {
        InvitationView {
            invitation: r.invitation,
            status: r.status,
            mail_status: r.mail_status,
            mail_attempts: r.mail_attempts,
            mail_error: r.mail_error,
            mail_next_at: r.mail_next_at,
            mail_sent_at: r.mail_sent_at,
        }
    }
}

/// `GET /rooms/{room}/invitations` and the answer of `POST`.
#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    /// Newest first.
    pub invitations: Vec<InvitationView>,
}

/// What a link opens, shown before it is accepted.
#[derive(Serialize, ToSchema)]
pub struct InvitationPreview {
    /// The room.
    pub room: RoomId,
    /// `Main : Breakout` for a breakout room.
    pub title: String,
    /// Who invited.
    pub invited_by_name: String,
    /// The address the invitation went to.
    pub email: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
    /// Whether someone without an account may accept it (the guest policy).
    pub guests_allowed: bool,
    /// Whether the address had an account when invited (then signing in is the way to join).
    pub has_account: bool,
}

/// Body of `POST /invitations/{token}/accept`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// For a guest (not signed in): the name others will see.
    pub display_name: Option<String>,
}

/// What accepting gave.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// The room now open to the caller.
    pub room: RoomId,
    /// For a guest: the session (bearer token and CSRF token; the cookies are set too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionView>,
}

/// Checks that the caller manages `room` (404 if they may not see it).
async fn managed(app: &App, room: RoomId, me: PersonId) -> Result<(), ApiError> {
    let role = app
        .rooms
        .inspect(room, move |state, _| {
            state.room(room).and(state.effective_role(room, me))
        })
        .await?
        .ok_or(ApiError::not_found("room"))?;
    if role.manages() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only owners and moderators see and manage invitations",
        ))
    }
}

/// Takes `n` invitation emails from the quotas of the caller and of the main room of `room`
/// (administrators are not limited): `429 rate_limited` naming the quota when over. Call it after
/// the permission check, so that nobody can use up a room's quota from outside.
pub(super) async fn spend_email_quota(
    app: &App,
    auth: &Auth,
    room: RoomId,
    n: usize,
) -> Result<(), ApiError> {
    if auth.person.is_admin {
        return Ok(());
    }
    let main = app.rooms.inspect(room, |state, _| state.id()).await?;
    app.send_quota
        .take(auth.person.id, main, n)
        .map_err(|over| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", over.0))
}

/// Invite people by email to a room (owners and moderators). Each gets an email with a link.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/invitations", tag = "invitations", params(("room" = RoomId, Path)),
    request_body = InviteRequest,
    responses((status = 201, body = InvitationList), (status = 403, description = "not a manager, or the guest policy", body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody),
              (status = 429, description = "over the hourly email quota of the person or the room", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn invite(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<InvitationList>), ApiError> {
    let room: RoomId = ids.get("room")?;
    if req.emails.is_empty() || req.emails.len() > MAX_INVITEES {
        return Err(ApiError::invalid(
            "emails",
            format!("give between 1 and {MAX_INVITEES} addresses"),
        ));
    }
    let mut emails = Vec::with_capacity(req.emails.len());
    for (i, raw) in req.emails.iter().enumerate() {
        let email = validate::email(raw)
            .map_err(|e| ApiError::invalid("emails", format!("address {}: {e}", i + 1)))?;
        emails.push(email);
    }
    managed(&app, room, auth.person.id).await?;
    spend_email_quota(&app, &auth, room, emails.len()).await?;
    let invitees = invitees(&app, emails).await?;
    let role = req.role.unwrap_or(Role::Participant);
    let command = Command::Invitation(InvitationCommand::Invite {
        room,
        invitees,
        role,
    });
    let committed = app.rooms.command(room, auth.caller(), command).await?;
    app.mailer.wake();
    let mut invitations = Vec::new();
    for (_, event) in &committed.events {
        if let Event::InvitationsCreated {
            invitations: created,
            ..
        } = event
        {
            for i in created {
                if let Some(record) = app.store.invitation(i.id).await? {
                    invitations.push(record.into());
                }
            }
        }
    }
    Ok((StatusCode::CREATED, Json(InvitationList { invitations })))
}

/// Who among `emails` has an account.
pub(super) async fn invitees(app: &App, emails: Vec<String>) -> Result<Vec<Invitee>, ApiError> {
    let accounts: std::collections::HashSet<String> = app
        .store
        .accounts_by_email(&emails)
        .await?
        .into_iter()
        .filter_map(|p| p.email)
        .collect();
    Ok(emails
        .into_iter()
        .map(|email| Invitee {
            has_account: accounts.contains(&email),
            email,
        })
        .collect())
}

/// The invitations to a room, with the state of their emails (owners and moderators).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/invitations", tag = "invitations", params(("room" = RoomId, Path)),
    responses((status = 200, body = InvitationList), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<InvitationList>, ApiError> {
    let room: RoomId = ids.get("room")?;
    managed(&app, room, auth.person.id).await?;
    let invitations = app
        .store
        .invitations_to(room)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(InvitationList { invitations }))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/invitations/{invitation}", tag = "invitations",
    params(("room" = RoomId, Path), ("invitation" = InvitationId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn revoke(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<StatusCode, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: InvitationId = ids.get("invitation")?;
    pending_in(&app, room, id).await?;
    app.rooms
        .command(
            room,
            auth.caller(),
            Command::Invitation(InvitationCommand::Revoke { id }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The invitation `id` to `room`, which must be pending.
async fn pending_in(
    app: &App,
    room: RoomId,
    id: InvitationId,
) -> Result<InvitationRecord, ApiError> {
    let record = app
        .store
        .invitation(id)
        .await?
        .filter(|r| r.invitation.room_id == room)
        .ok_or(ApiError::not_found("invitation"))?;
    if record.status != "pending" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invitation_closed",
            format!("this invitation was {} already", record.status),
        ));
    }
    Ok(record)
}

/// Send a pending invitation's email again (after a failed delivery, or a lost email): the new
/// email carries a new link, and the old link stops working.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/invitations/{invitation}/resend", tag = "invitations",
    params(("room" = RoomId, Path), ("invitation" = InvitationId, Path)),
    responses((status = 202, body = InvitationView), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn resend(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: InvitationId = ids.get("invitation")?;
    managed(&app, room, auth.person.id).await?;
    pending_in(&app, room, id).await?;
    spend_email_quota(&app, &auth, room, 1).await?;
    app.store.resend_invitation(id, app.clock.now_ms()).await?;
    app.mailer.wake();
    let record = app
        .store
        .invitation(id)
        .await?
        .ok_or(ApiError::not_found("invitation"))?;
    Ok((StatusCode::ACCEPTED, Json(record.into())))
}

/// The pending invitation a link token opens: 404 for an unknown token, 410 for one used,
/// revoked or expired.
async fn by_token(app: &App, token: &str) -> Result<InvitationRecord, ApiError> {
    let record = app
        .store
        .invitation_by_token(&auth::token_hash(token))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invitation_not_found",
                "this invitation link is not valid (a newer email may have replaced it)",
            )
        })?;
    let gone = |code: &'static str, message: &str| ApiError::new(StatusCode::GONE, code, message);
    match record.status.as_str() {
        "accepted" => Err(gone(
            "invitation_used",
            "this invitation link was already used",
        )),
        "revoked" => Err(gone("invitation_revoked", "this invitation was withdrawn")),
        _ if app.clock.now_ms() >= record.invitation.expires_at => Err(gone(
            "invitation_expired",
            "this invitation has expired; ask for a new one",
        )),
        _ => Ok(record),
    }
}

/// What an invitation link opens (no sign-in needed; nothing changes).
#[utoipa::path(get, path = "/api/v1/invitations/{token}", tag = "invitations", params(("token" = String, Path)),
    responses((status = 200, body = InvitationPreview), (status = 404, body = super::error::ErrorBody),
              (status = 410, description = "used, revoked or expired", body = super::error::ErrorBody)))]
async fn preview(
    State(app): State<App>,
    Path(token): Path<String>,
) -> Result<Json<InvitationPreview>, ApiError> {
    let record = by_token(&app, &token).await?;
    let room = record.invitation.room_id;
    let guests_with_breakouts = app.config.policy.guests_with_breakouts;
    let (title, guests_allowed) = app
        .rooms
        .inspect(room, move |state, _| {
            let refused =
                room == state.id() && state.breakout.config.enabled && !guests_with_breakouts;
            (state.title(room), !refused)
        })
        .await?;
    Ok(Json(InvitationPreview {
        room,
        title: title.ok_or(ApiError::not_found("room"))?,
        invited_by_name: record.invitation.invited_by_name,
        email: record.invitation.email,
        expires_at: record.invitation.expires_at,
        guests_allowed,
        has_account: !record.invitation.external,
    }))
}

/// Follow an invitation: signed in, your account joins the room; otherwise give a display name
/// and get a guest session for that room only. A link works once.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "invitations", params(("token" = String, Path)),
    request_body(content = Option<AcceptRequest>, description = "a guest's name; nothing when signed in"),
    responses((status = 200, body = Accepted), (status = 403, description = "the guest policy", body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 410, body = super::error::ErrorBody),
              (status = 415, description = "a body that is not JSON", body = super::error::ErrorBody),
              (status = 422, description = "a guest needs a display name", body = super::error::ErrorBody)))]
async fn accept(
    State(app): State<App>,
    Path(token): Path<String>,
    auth: Result<Auth, ApiError>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Accepting signs a guest in, so a page of another site must not do it for its visitor (a
    // login CSRF): no foreign `Origin`, and a body only as JSON, which a plain form cannot send.
    if super::cross_origin(&headers, &app.public_url) {
        return Err(ApiError::forbidden("cross-origin request refused"));
    }
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or_default().trim() == "application/json");
    if !json && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    // The body is optional: a signed-in person sends none.
    let req: AcceptRequest = super::error::optional_json(&body)?;
    let record = by_token(&app, &token).await?;
    let invitation = &record.invitation;
    let room = invitation.room_id;
    let now = app.clock.now_ms();
    // `made_guest`: a guest made now, who gets a session and is removed again if refused.
    let (person, made_guest) = match auth {
        // Signed in: that account, or that guest (one guest identity across invitations).
        Ok(auth) => (auth.person, false),
        Err(_) => {
            let name = req.display_name.as_deref().ok_or_else(|| {
                ApiError::invalid("display_name", "sign in, or give the name others will see")
            })?;
            let name = validate::name("display_name", name)?;
            let guest = app
                .store
                .create_guest(PersonId::new(), &name, &invitation.email, now)
                .await?;
            (guest, true)
        }
    };
    let command = Command::Invitation(InvitationCommand::Accept {
        id: invitation.id,
        person_id: person.id,
        display_name: person.display_name.clone(),
        guest: person.is_guest,
    });
    let caller = crate::domain::room::Caller {
        person_id: person.id,
        display_name: person.display_name.clone(),
    };
    if let Err(e) = app.rooms.command(room, caller, command).await {
        if made_guest {
            app.store.delete_guest(person.id).await?;
        }
        return Err(match e {
            RoomError::Domain(DomainError::Conflict { code, message })
                if code.starts_with("invitation_") =>
            {
                ApiError::new(StatusCode::GONE, code, message)
            }
            RoomError::Store(crate::store::StoreError::Conflict("invitation")) => ApiError::new(
                StatusCode::GONE,
                "invitation_used",
                "this invitation link was already used",
            ),
            other => other.into(),
        });
    }
    if !made_guest {
        return Ok(Json(Accepted {
            room,
            session: None,
        })
        .into_response());
    }
    // A guest's session is the same as a sign-in's.
    let (headers, session) = super::session::open_session(&app, person).await?;
    let answer = Json(Accepted {
        room,
        session: Some(session),
    });
    Ok((headers, answer).into_response())
}
