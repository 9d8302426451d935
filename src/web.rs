//! The web UI: plain ES modules under `web/static/`, embedded in the binary (no Node needed to
//! run Huddle), served with a Content-Security-Policy that allows no inline script and no other
//! host. The page is one app; its paths (`/`, `/setup`, `/signin`, `/accounts`, `/rooms/…`) all
//! load it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::App;

#[derive(RustEmbed)]
#[folder = "web/static/"]
#[exclude = "*.d.ts"] // types for the type check of the modules, not for the page
struct Assets;

/// The page's policy: scripts, styles, images and connections from this server only; embedded
/// application content (seed 000) may come from any `https` page, in a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-src https:; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

pub(crate) fn router() -> Router<App> {
    Router::new()
        .route("/", get(page))
        .route("/setup", get(page))
        .route("/signin", get(page))
        .route("/accounts", get(page))
        .route("/rooms/{*rest}", get(page))
        .route("/invite/{token}", get(page))
        .route("/assets/{*path}", get(asset))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn page() -> Response {
    let mut response = file("index.html");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn asset(Path(path): Path<String>) -> Response {
    if path.contains("..") || path.starts_with('/') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    file(&path)
}
