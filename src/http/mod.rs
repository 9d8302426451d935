//! The HTTP API: one module per resource, each with its own `router()`, merged here under
//! `/api/v1`, plus the operational routes.
//!
//! Handlers are glue: extract, authorise (the [`crate::auth::Auth`] extractor), call a room actor
//! or the store, map the result. Rules live in `domain`, SQL in `store`.

mod breakout;
mod content;
pub mod error;
mod events;
mod invitations;
mod meetings;
pub mod openapi;
mod ops;
mod rooms;
mod roster;
mod session;
pub mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::trace::TraceLayer;

use crate::App;
use crate::metrics::RequestLabels;
use error::ApiError;

/// The whole application router.
pub fn router(app: App) -> Router {
    let api = Router::new()
        .merge(session::router())
        .merge(rooms::router())
        .merge(breakout::router())
        .merge(content::router(app.config.limits.max_upload_bytes))
        .merge(invitations::router())
        .merge(meetings::router())
        .merge(roster::router())
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
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
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
