//! The HTTP API: one module per resource, each with its own `router()`, merged here under
//! `/api/v1`, plus the operational routes.
//!
//! Handlers are glue: extract, authorise (the [`auth::Auth`] extractor), call a room actor
//! or the store, map the result. Rules live in `domain`, SQL in `store`.

pub mod accept;
pub mod account_import;
mod activities;
pub mod auth;
pub mod breakout;
mod calls;
mod content;
mod dashboard;
pub mod error;
mod events;
mod invitations;
mod main_room;
mod meetings;
pub mod openapi;
mod ops;
mod plans;
mod recordings;
mod report;
mod rooms;
mod roster;
mod session;
mod socket;
pub mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::trace::TraceLayer;

use crate::App;
use crate::metrics::RequestLabels;
use error::ApiError;

/// The whole application router.
pub fn router(app: App) -> Router {
    let api = Router::new()
        .merge(session::router())
        .merge(account_import::router())
        .merge(rooms::router())
        .merge(breakout::router())
        .merge(calls::router())
        .merge(recordings::router())
        .merge(content::router(app.config.limits.max_upload_bytes))
        .merge(invitations::router())
        .merge(meetings::router())
        .merge(roster::router())
        .merge(plans::router())
        .merge(activities::router())
        .merge(report::router())
        .merge(events::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(ops::router())
        .merge(openapi::router())
        .merge(crate::web::router())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(app.config.limits.max_body_bytes))
        // A body that stalls (a pause longer than body_timeout) fails its request; a request that
        // takes longer than request_timeout in all (a body dripping in) is answered 408.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            app.config.limits.body_timeout,
        ))
        .layer(middleware::from_fn(idempotency_key))
        .layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), path = %redacted(request.uri().path()))
        }))
        .with_state(app)
}

/// A request path fit for the log: an invitation's token (a credential, in `/invite/{token}` and
/// `/api/v1/invitations/{token}…`) becomes `…`; the query string is left out.
fn redacted(path: &str) -> String {
    let mut out = Vec::new();
    let mut secret_next = false;
    for segment in path.split('/') {
        out.push(if secret_next && !segment.is_empty() {
            "…"
        } else {
            segment
        });
        secret_next = segment == "invite" || (segment == "invitations" && out.len() == 4);
    }
    out.join("/")
}

/// Whether a browser sent this request from a page of another site: it has an `Origin` that is
/// neither this server's host nor the configured public URL. Requests without `Origin` (API
/// clients, same-origin navigations) are not cross-origin.
pub(crate) fn cross_origin(headers: &axum::http::HeaderMap, public_url: &str) -> bool {
    use axum::http::header;
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host);
    !same_host && origin != public_url.trim_end_matches('/')
}

/// Runs a change that carries an `Idempotency-Key` header with its room commands keyed by it
/// (`rooms::idempotency`); answers 400 for a key that is not 1–255 visible ASCII characters.
async fn idempotency_key(request: Request, next: Next) -> Response {
    use crate::rooms::idempotency;
    let safe = request.method().is_safe();
    let Some(value) = request.headers().get("idempotency-key").filter(|_| !safe) else {
        return next.run(request).await;
    };
    let Some(key) = value
        .to_str()
        .ok()
        .filter(|k| idempotency::valid_key(k))
        .map(str::to_owned)
    else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!(
                "the Idempotency-Key header must be 1–{} visible ASCII characters (no spaces)",
                idempotency::MAX_KEY_LEN
            ),
        )
        .into_response();
    };
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_owned(),
    );
    idempotency::scoped(&method, &path, &key, next.run(request)).await
}

/// Answers 408 when receiving and answering a request takes longer than `request_timeout`.
async fn time_limit(State(app): State<App>, request: Request, next: Next) -> Response {
    let limit = app.config.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Counts every answered request by method, route template and status.
async fn count_requests(State(app): State<App>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}
