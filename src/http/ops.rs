//! Operational routes: `/healthz` (the database answers; in a cluster also the node, its health
//! and how many rooms it serves, with their ids for administrators) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::App;

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// Liveness and readiness: 200 when the database answers, 503 otherwise. In a cluster, also the
/// node's id, health and room counts; an administrator's call also lists the rooms' ids.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "healthy"), (status = 503, description = "the database does not answer")))]
async fn healthz(
    State(app): State<App>,
    auth: Result<super::auth::Auth, super::error::ApiError>,
) -> impl IntoResponse {
    let (status, mut body) = match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "database": "ok" }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "status": "unavailable", "database": "unreachable" }),
            )
        }
    };
    // A node of a cluster also says who it is, whether it may serve rooms, and how many it serves
    // and follows. Which rooms those are is for administrators only: an id grants nothing, but
    // anyone who can reach `/healthz` would otherwise learn which rooms exist.
    if let Some(node) = &app.node {
        body["node"] = node.id.clone().into();
        let owned = app.rooms.owned();
        let following: Vec<_> = app
            .rooms
            .loaded()
            .into_iter()
            .filter(|r| !owned.contains(r))
            .collect();
        let mut cluster = serde_json::json!({
            "healthy": node.is_healthy(),
            "nats": if node.bus.is_connected() { "ok" } else { "disconnected" },
            "owned": owned.len(),
            "followed": following.len(),
        });
        if auth.is_ok_and(|a| a.person.is_admin) {
            cluster["rooms"] = serde_json::json!(owned);
            cluster["following"] = serde_json::json!(following);
        }
        body["cluster"] = cluster;
    }
    (status, Json(body))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format"),
    (status = 401, description = "`metrics_token` is set and the request does not carry it", body = super::error::ErrorBody)))]
async fn metrics(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, super::error::ApiError> {
    if let Some(token) = &app.config.metrics_token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !crate::auth::constant_time_eq(sent.trim().as_bytes(), token.0.as_bytes()) {
            return Err(super::error::ApiError::unauthenticated(
                "/metrics needs Authorization: Bearer METRICS_TOKEN",
            ));
        }
    }
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    app.metrics.tasks.set(alive as i64);
    if let Some(node) = &app.node {
        let (owned, loaded) = (app.rooms.owned().len(), app.rooms.loaded().len());
        app.metrics.cluster_rooms_owned.set(owned as i64);
        app.metrics
            .cluster_rooms_followed
            .set(loaded.saturating_sub(owned) as i64);
        app.metrics.cluster_healthy.set(node.is_healthy().into());
        app.metrics
            .cluster_nats_connected
            .set(node.bus.is_connected().into());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    ))
}
