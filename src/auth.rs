//! The secrets of signing in: passwords, session tokens, login rate limits. (Who is calling, from
//! a request, is `http::auth`.)
//!
//! A session token is 32 random bytes, given to the client once (as a bearer token and in an
//! HttpOnly cookie) and stored only as its SHA-256 hash, so a copy of the database holds no
//! usable credential.
//!
//! argon2id hashing costs tens of milliseconds of CPU, so it runs in `spawn_blocking`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultKeyedRateLimiter, Quota};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Limits;

/// Hashing or checking a password failed (the stored hash is unreadable, or the hashing task
/// died): an internal error, whose detail is for the log.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

impl PasswordError {
    fn new(detail: impl std::fmt::Display) -> PasswordError {
        PasswordError(detail.to_string())
    }
}

/// Hashes a password with argon2id and a random salt, off the async threads.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(PasswordError::new)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::new)
    })
    .await
    .map_err(PasswordError::new)?
}

/// Checks a password against a stored hash, off the async threads. With no stored hash it still
/// spends the same time, so response times do not tell which emails have accounts.
pub async fn verify_password(
    password: String,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
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
        let parsed = PasswordHash::new(hash_text).map_err(PasswordError::new)?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(PasswordError::new)?
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

/// Whether two byte strings are equal, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
