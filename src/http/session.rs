//! First-run setup, sign-in and sign-out, and accounts for administrators: creating, importing,
//! listing and setting passwords.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::auth::{Auth, CSRF_COOKIE, SESSION_COOKIE};
use super::error::{ApiError, ApiJson, ApiQuery, PathIds};
use super::views::{
    AccountPage, AccountQuery, LoginRequest, NewAccountRequest, PasswordRequest, PersonView,
    SessionView, SetupRequest,
};
use crate::App;
use crate::auth;
use crate::domain::validate;
use crate::ids::PersonId;
use crate::store::{CreateMode, NewAccount, Person, SessionRecord};

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/setup", get(setup_status).post(setup))
        .route("/session", post(login).delete(logout).get(whoami))
        .route("/accounts", get(list_accounts).post(create_account))
        .route("/accounts/{person}/password", put(reset_password))
}

/// Validates and hashes a new account.
pub(crate) async fn new_account(req: NewAccountRequest, now: i64) -> Result<NewAccount, ApiError> {
    let email = validate::email(&req.email)?;
    let display_name = validate::name("display_name", &req.display_name)?;
    let password = validate::password(&req.password)?.to_owned();
    Ok(NewAccount {
        id: PersonId::new(),
        email,
        display_name,
        password_hash: Some(auth::hash_password(password).await?),
        is_admin: req.is_admin,
        created_at: now,
    })
}

/// Whether the first-run setup is still needed (no account exists yet).
#[utoipa::path(get, path = "/api/v1/setup", tag = "accounts",
    responses((status = 200, description = "`{\"needed\": true|false}`")))]
async fn setup_status(State(app): State<App>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        serde_json::json!({ "needed": !app.store.has_accounts().await? }),
    ))
}

/// Create the first administrator (only while no account exists).
#[utoipa::path(post, path = "/api/v1/setup", tag = "accounts",
    request_body = SetupRequest,
    responses((status = 201, body = PersonView), (status = 409, description = "an account exists", body = super::error::ErrorBody),
              (status = 422, description = "invalid field", body = super::error::ErrorBody)))]
async fn setup(
    State(app): State<App>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    let req = NewAccountRequest {
        email: req.email,
        password: req.password,
        display_name: req.display_name,
        is_admin: false, // the store makes the first account an administrator
    };
    if app.store.has_accounts().await? {
        return Err(crate::store::StoreError::Conflict("setup").into());
    }
    let account = new_account(req, app.clock.now_ms()).await?;
    let person = app
        .store
        .create_account(account, CreateMode::FirstAdministrator)
        .await?;
    tracing::info!(person = %person.id, "first administrator created");
    Ok((StatusCode::CREATED, Json(person.into())))
}

/// Create an account (administrators only).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts",
    request_body = NewAccountRequest,
    responses((status = 201, body = PersonView), (status = 403, body = super::error::ErrorBody),
              (status = 409, description = "email taken", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_account(
    State(app): State<App>,
    auth: Auth,
    ApiJson(req): ApiJson<NewAccountRequest>,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    if !auth.person.is_admin {
        return Err(ApiError::forbidden(
            "only administrators may create accounts",
        ));
    }
    let account = new_account(req, app.clock.now_ms()).await?;
    let person = app
        .store
        .create_account(account, CreateMode::Ordinary)
        .await?;
    Ok((StatusCode::CREATED, Json(person.into())))
}

/// Accounts by email, searched and paged (administrators only).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(AccountQuery),
    responses((status = 200, body = AccountPage), (status = 403, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_accounts(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<Json<AccountPage>, ApiError> {
    if !auth.person.is_admin {
        return Err(ApiError::forbidden("only administrators may list accounts"));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let search = query.q.unwrap_or_default();
    if search.chars().count() > 254 {
        return Err(ApiError::invalid("q", "must be at most 254 characters"));
    }
    // One extra row tells whether another page follows.
    let mut found = app
        .store
        .accounts(search.trim(), query.cursor.as_deref(), limit + 1)
        .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more
        .then(|| found.last().and_then(|p| p.email.clone()))
        .flatten();
    Ok(Json(AccountPage {
        accounts: found.into_iter().map(PersonView::from).collect(),
        next_cursor,
    }))
}

/// Set an account's password (administrators only): the account's sessions end at once, so
/// whoever knew the old password is signed out.
#[utoipa::path(put, path = "/api/v1/accounts/{person}/password", tag = "accounts",
    params(("person" = PersonId, Path)), request_body = PasswordRequest,
    responses((status = 204), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn reset_password(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    if !auth.person.is_admin {
        return Err(ApiError::forbidden(
            "only administrators may set others' passwords",
        ));
    }
    let person: PersonId = ids.get("person")?;
    let password = validate::password(&req.password)?.to_owned();
    let hash = auth::hash_password(password).await?;
    if !app.store.set_password(person, hash).await? {
        return Err(ApiError::not_found("account"));
    }
    // Its open WebSockets end with its sessions, here and on every other node.
    app.connections.close_person(person);
    if let Some(node) = &app.node {
        node.bus.announce_signed_out(None, person);
    }
    tracing::info!(person = %person, by = %auth.person.id, "password set by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

/// Sign in: answers with a bearer token and sets the session and CSRF cookies.
#[utoipa::path(post, path = "/api/v1/session", tag = "accounts",
    request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, body = super::error::ErrorBody),
              (status = 429, description = "too many attempts", body = super::error::ErrorBody)))]
async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = req.email.trim().to_lowercase();
    if let Err(wait) = app.login_limits.check(peer.ip(), &email) {
        let secs = wait.as_secs().max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many sign-in attempts; try again in {secs} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(response);
    }
    let found = app.store.login_lookup(&email).await?;
    let (person, stored) = match found {
        Some((person, hash)) => (Some(person), Some(hash)),
        None => (None, None),
    };
    let ok = auth::verify_password(req.password, stored).await?;
    let person = match (ok, person) {
        (true, Some(person)) => person,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong email or password",
            ));
        }
    };
    let (headers, body) = open_session(&app, person).await?;
    Ok((headers, Json(body)).into_response())
}

/// Opens a session for `person`: the bearer token and CSRF token to answer with, and the cookies
/// to set (sign-in, and guests following an invitation).
pub(crate) async fn open_session(
    app: &App,
    person: Person,
) -> Result<(HeaderMap, SessionView), ApiError> {
    let token = auth::new_token();
    let now = app.clock.now_ms();
    let lifetime = app.config.limits.session;
    let session = SessionRecord {
        token_hash: auth::token_hash(&token),
        person_id: person.id,
        csrf_token: auth::new_token(),
        created_at: now,
        expires_at: now + lifetime.as_millis() as i64,
    };
    app.store.create_session(session.clone()).await?;
    let secure = if app.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = lifetime.as_secs();
    let mut headers = HeaderMap::new();
    let cookies = [
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ),
        format!(
            "{CSRF_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}",
            session.csrf_token
        ),
    ];
    for cookie in cookies {
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
        );
    }
    let body = SessionView {
        token,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
        person: person.into(),
    };
    Ok((headers, body))
}

/// Sign out: revokes the session, closes its event WebSockets (close code `4001`) and clears the
/// cookies.
#[utoipa::path(delete, path = "/api/v1/session", tag = "accounts",
    responses((status = 204), (status = 401, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn logout(State(app): State<App>, auth: Auth) -> Result<Response, ApiError> {
    app.store.delete_session(&auth.token_hash).await?;
    // Its open WebSockets end with it, here and on every other node.
    app.connections.close_session(&auth.token_hash);
    if let Some(node) = &app.node {
        node.bus
            .announce_signed_out(Some(auth.token_hash.clone()), auth.person.id);
    }
    let mut headers = HeaderMap::new();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let cookie = format!("{name}=; Path=/; Max-Age=0; SameSite=Lax");
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
        );
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/session", tag = "accounts",
    responses((status = 200, body = PersonView), (status = 401, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn whoami(auth: Auth) -> Json<PersonView> {
    Json(auth.person.into())
}
