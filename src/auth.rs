//! Who is calling: passwords, session tokens, login rate limits, and the [`Auth`] extractor.
//!
//! A session token is 32 random bytes, given to the client once (as a bearer token and in an
//! HttpOnly cookie) and stored only as its SHA-256 hash, so a copy of the database holds no
//! usable credential. Cookie-authenticated requests that change state must echo the session's
//! CSRF token in `X-CSRF-Token` (a page on another site cannot read it); bearer requests need not,
//! since browsers never attach them on their own.
//!
//! argon2id hashing costs tens of milliseconds of CPU, so it runs in `spawn_blocking`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultKeyedRateLimiter, Quota};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::App;
use crate::config::Limits;
use crate::domain::room::Caller;
use crate::http::error::ApiError;
use crate::store::Person;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "huddle_session";
/// Name of the (script-readable) CSRF cookie.
pub const CSRF_COOKIE: &str = "huddle_csrf";
/// Header that must carry the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Hashes a password with argon2id and a random salt, off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(ApiError::internal)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Checks a password against a stored hash, off the async threads. With no stored hash it still
/// spends the same time, so response times do not tell which emails have accounts.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        // Fixed salt and input: encoding 16 bytes and hashing with default parameters cannot fail.
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(&[7u8; 16]).expect("16 bytes encode");
            Argon2::default()
                .hash_password(b"not a password", &salt)
                .expect("hashing works")
                .to_string()
        });
        let real = stored.is_some();
        let hash_text = stored.as_deref().unwrap_or(dummy);
        let parsed = PasswordHash::new(hash_text).map_err(ApiError::internal)?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(ApiError::internal)?
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A new random token, URL-safe.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Login attempt limits, per client address and per account from one address: a flood of
/// guesses from one place slows that place down, and cannot lock the owner out from another.
pub struct LoginLimits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_account: DefaultKeyedRateLimiter<(String, IpAddr)>,
}

impl LoginLimits {
    /// Limits as configured.
    pub fn new(limits: &Limits) -> LoginLimits {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
        };
        LoginLimits {
            by_address: DefaultKeyedRateLimiter::keyed(quota(limits.login_per_address_per_minute)),
            by_account: DefaultKeyedRateLimiter::keyed(quota(limits.login_per_account_per_minute)),
        }
    }

    /// Forgets addresses and accounts whose attempts are all back (keeps memory flat).
    pub fn prune(&self) {
        self.by_address.retain_recent();
        self.by_account.retain_recent();
    }

    /// Counts one attempt; `Err(wait)` when either limit is exhausted.
    pub fn check(&self, address: IpAddr, account: &str) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        let now = DefaultClock::default().now();
        self.by_address
            .check_key(&address)
            .and_then(|()| self.by_account.check_key(&(account.to_owned(), address)))
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}

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

/// Whether two byte strings are equal, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
