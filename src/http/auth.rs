//! Who is calling: the [`Auth`] extractor, from a bearer token or the session cookie.
//!
//! Cookie-authenticated requests that change state must echo the session's CSRF token in
//! `X-CSRF-Token` (a page on another site cannot read it); bearer requests need not, since
//! browsers never attach them on their own.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};

use super::error::ApiError;
use crate::App;
use crate::auth::{PasswordError, constant_time_eq, token_hash};
use crate::domain::room::Caller;
use crate::store::Person;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "huddle_session";
/// Name of the (script-readable) CSRF cookie.
pub const CSRF_COOKIE: &str = "huddle_csrf";
/// Header that must carry the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer …`
    Bearer,
    /// The session cookie.
    Cookie,
}

/// An authenticated caller. Rejects with 401 when there is no valid session, and with 403 when a
/// cookie-authenticated write lacks the CSRF token.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The person.
    pub person: Person,
    /// Hash of the session token (for logout).
    pub token_hash: String,
    /// How the token came.
    pub via: Via,
}

impl Auth {
    /// The caller as the domain knows them.
    pub fn caller(&self) -> Caller {
        Caller {
            person_id: self.person.id,
            display_name: self.person.display_name.clone(),
        }
    }
}

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let (token, via) = match (bearer, cookie(parts, SESSION_COOKIE)) {
            (Some(t), _) => (t, Via::Bearer),
            (None, Some(t)) => (t, Via::Cookie),
            (None, None) => {
                return Err(ApiError::unauthenticated(
                    "sign in first: send Authorization: Bearer TOKEN or the session cookie",
                ));
            }
        };
        let hash = token_hash(token);
        let (session, person) = app
            .store
            .session(&hash, app.clock.now_ms())
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated("the session is unknown, expired or signed out")
            })?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if via == Via::Cookie && !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !constant_time_eq(sent, session.csrf_token.as_bytes()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "cookie-authenticated changes need the X-CSRF-Token header from sign-in",
                ));
            }
        }
        Ok(Auth {
            person,
            token_hash: hash,
            via,
        })
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        ApiError::internal(e)
    }
}
