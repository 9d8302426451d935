//! Importing accounts in bulk (administrators), up to 20,000 in one request.
//!
//! Every row is checked, and every address looked up, before anything is made: a bad row or a
//! taken address is refused at once, naming it. Passwords are hashed (argon2id, tens of
//! milliseconds each) on a pool as wide as the machine. An import with more than
//! [`BACKGROUND_HASHES`] passwords would outlast a request, so it runs as a background job:
//! `202` with the job, whose progress `GET /accounts/import/{job}` shows to the administrator who
//! started it, and finally the accounts (with their tokens, once). Either way the accounts are
//! created together at the end, so a failure or a restart leaves nothing half-made: run the
//! import again. A finished job is kept in memory for an hour.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ErrorDetail, PathIds};
use super::views::{ImportRequest, ImportResult, ImportedAccount};
use crate::App;
use crate::auth;
use crate::domain::validate;
use crate::ids::PersonId;
use crate::store::{NewAccount, SessionRecord};

/// Most accounts one import may create.
const MAX_IMPORT: usize = 20_000;
/// Imports with more passwords than this to hash run in the background.
pub const BACKGROUND_HASHES: usize = 200;
/// The body of a full import (20,000 rows with passwords) is a few MiB.
const MAX_IMPORT_BYTES: usize = 16 << 20;
/// How long a finished job's result stays readable.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

pub(super) fn router() -> Router<App> {
    Router::new()
        .route(
            "/accounts/import",
            post(import_accounts).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/accounts/import/{job}", get(job_status))
}

/// The background imports under way or recently finished.
#[derive(Default)]
pub struct Jobs(Mutex<HashMap<Uuid, Arc<Job>>>);

/// One background import.
pub struct Job {
    id: Uuid,
    by: PersonId,
    passwords: usize,
    hashed: AtomicUsize,
    outcome: Mutex<Option<(Instant, Result<ImportResult, ErrorDetail>)>>,
}

/// A background import as its administrator sees it.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    /// The job.
    pub id: Uuid,
    /// `running`, `done` or `failed`.
    pub status: &'static str,
    /// Passwords to hash.
    pub passwords: usize,
    /// Passwords hashed so far.
    pub hashed: usize,
    /// When done: the accounts created, in the order given, with their tokens if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<ImportedAccount>>,
    /// When failed: why (nothing was created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl Jobs {
    fn start(&self, by: PersonId, passwords: usize) -> Arc<Job> {
        let job = Arc::new(Job {
            id: Uuid::now_v7(),
            by,
            passwords,
            hashed: AtomicUsize::new(0),
            outcome: Mutex::new(None),
        });
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Finished jobs older than an hour go (a job's result holds tokens: not for ever).
        jobs.retain(|_, j| j.ended().is_none_or(|at| at.elapsed() < KEEP_FINISHED));
        jobs.insert(job.id, job.clone());
        job
    }

    fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

impl Job {
    fn ended(&self) -> Option<Instant> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(at, _)| *at)
    }

    fn end(&self, outcome: Result<ImportResult, ApiError>) {
        let outcome = outcome.map_err(|e| ErrorDetail {
            code: e.code.into_owned(),
            message: e.message,
            field: e.field.map(std::borrow::Cow::into_owned),
            details: e.details,
        });
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), outcome));
    }

    fn view(&self) -> JobView {
        let outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        let (status, accounts, error) = match outcome.as_ref().map(|(_, o)| o) {
            None => ("running", None, None),
            Some(Ok(result)) => ("done", Some(result.accounts.clone()), None),
            Some(Err(e)) => ("failed", None, Some(e.clone())),
        };
        JobView {
            id: self.id,
            status,
            passwords: self.passwords,
            hashed: self.hashed.load(Ordering::Relaxed),
            accounts,
            error,
        }
    }
}

/// A checked row, its password not yet hashed.
struct Row {
    email: String,
    display_name: String,
    password: Option<String>,
}

/// Create many accounts at once (administrators only), optionally with an API token each: for
/// provisioning a class or a company from another system. More than 200 passwords to hash: a
/// background job (`202`), followed with `GET /accounts/import/{job}`.
#[utoipa::path(post, path = "/api/v1/accounts/import", tag = "accounts",
    request_body = ImportRequest,
    responses((status = 201, body = ImportResult), (status = 202, description = "a background job", body = JobView),
              (status = 403, body = super::error::ErrorBody),
              (status = 409, description = "an email is taken", body = super::error::ErrorBody),
              (status = 413, description = "over 16 MiB", body = super::error::ErrorBody),
              (status = 422, description = "an invalid row, named by its index", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn import_accounts(
    State(app): State<App>,
    auth: Auth,
    ApiJson(req): ApiJson<ImportRequest>,
) -> Result<Response, ApiError> {
    if !auth.person.is_admin {
        return Err(ApiError::forbidden(
            "only administrators may import accounts",
        ));
    }
    if req.accounts.is_empty() || req.accounts.len() > MAX_IMPORT {
        return Err(ApiError::invalid(
            "accounts",
            format!("give between 1 and {MAX_IMPORT} accounts"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::with_capacity(req.accounts.len());
    for (i, row) in req.accounts.into_iter().enumerate() {
        let at =
            |e: crate::domain::DomainError| ApiError::invalid("accounts", format!("row {i}: {e}"));
        let email = validate::email(&row.email).map_err(at)?;
        if !seen.insert(email.clone()) {
            return Err(ApiError::invalid(
                "accounts",
                format!("row {i}: email: {email} appears twice"),
            ));
        }
        let display_name = validate::name("display_name", &row.display_name).map_err(at)?;
        let password = match row.password {
            Some(p) => Some(validate::password(&p).map_err(at)?.to_owned()),
            None => None,
        };
        rows.push(Row {
            email,
            display_name,
            password,
        });
    }
    let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    if let Some(taken) = app.store.accounts_by_email(&emails).await?.first() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            format!(
                "{} already has an account; nothing was imported",
                taken.email.as_deref().unwrap_or_default()
            ),
        ));
    }
    let passwords = rows.iter().filter(|r| r.password.is_some()).count();
    if passwords <= BACKGROUND_HASHES {
        let result = create(&app, rows, req.issue_tokens, None).await?;
        return Ok((StatusCode::CREATED, Json(result)).into_response());
    }
    let job = app.imports.start(auth.person.id, passwords);
    let view = job.view();
    tokio::spawn(async move {
        let outcome = create(&app, rows, req.issue_tokens, Some(&job)).await;
        if let Err(e) = &outcome {
            tracing::warn!(job = %job.id, error = %e.message, "account import failed; nothing was created");
        }
        job.end(outcome);
    });
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// Hashes the passwords (as many at once as the machine has cores), then creates every account
/// (and its token) together.
async fn create(
    app: &App,
    rows: Vec<Row>,
    issue_tokens: bool,
    progress: Option<&Job>,
) -> Result<ImportResult, ApiError> {
    let now = app.clock.now_ms();
    let width = std::thread::available_parallelism().map_or(2, |n| n.get());
    let accounts: Vec<NewAccount> = futures_util::stream::iter(rows)
        .map(|row| async move {
            let password_hash = match row.password {
                Some(p) => {
                    let hash = auth::hash_password(p).await?;
                    if let Some(job) = progress {
                        job.hashed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(hash)
                }
                None => None,
            };
            Ok::<_, ApiError>(NewAccount {
                id: PersonId::new(),
                email: row.email,
                display_name: row.display_name,
                password_hash,
                is_admin: false,
                created_at: now,
            })
        })
        .buffered(width)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let result: Vec<ImportedAccount> = accounts
        .iter()
        .map(|a| ImportedAccount {
            id: a.id,
            email: a.email.clone(),
            token: issue_tokens.then(auth::new_token),
        })
        .collect();
    app.store.create_accounts(accounts).await?;
    if issue_tokens {
        let expires_at = now + app.config.limits.session.as_millis() as i64;
        let sessions = result
            .iter()
            .filter_map(|a| {
                a.token.as_ref().map(|token| SessionRecord {
                    token_hash: auth::token_hash(token),
                    person_id: a.id,
                    csrf_token: auth::new_token(),
                    created_at: now,
                    expires_at,
                })
            })
            .collect();
        app.store.create_sessions(sessions).await?;
    }
    Ok(ImportResult { accounts: result })
}

/// A background account import: its progress, then its accounts (the administrator who started
/// it only).
#[utoipa::path(get, path = "/api/v1/accounts/import/{job}", tag = "accounts", params(("job" = Uuid, Path)),
    responses((status = 200, body = JobView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn job_status(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<JobView>, ApiError> {
    let id: Uuid = ids.get("job")?;
    let job = app
        .imports
        .get(id)
        .filter(|j| j.by == auth.person.id)
        .ok_or(ApiError::not_found("import job"))?;
    Ok(Json(job.view()))
}
