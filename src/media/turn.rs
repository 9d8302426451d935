//! TURN credentials for clients behind NATs and firewalls that block UDP: each client gets its
//! own username and password for the configured TURN servers, valid for a limited time, in the
//! "TURN REST API" shared-secret scheme that coturn implements (`use-auth-secret`,
//! `static-auth-secret`). The username is `EXPIRY:PERSON` (the Unix time it stops being valid,
//! and who it was given to), the password base64(HMAC-SHA1(secret, username)). The TURN server
//! recomputes the password from the username and refuses it after the expiry; Huddle and the
//! TURN server share only the secret.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use crate::ids::PersonId;

/// The TURN servers Huddle hands credentials for.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:` and `turns:` URLs.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server.
    pub secret: String,
    /// How long a credential stays valid.
    pub ttl: Duration,
}

/// The secret never reaches a log.
impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"…")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TurnConfig {
    /// The ICE server entry for `person` at `now`, as `RTCPeerConnection` takes it.
    pub fn ice_server(&self, person: PersonId, now: OffsetDateTime) -> serde_json::Value {
        let expiry = now.unix_timestamp() + self.ttl.as_secs() as i64;
        let username = format!("{expiry}:{}", person.0);
        serde_json::json!({
            "urls": self.urls,
            "username": username,
            "credential": password(&self.secret, &username),
        })
    }
}

/// The password for `username`: base64(HMAC-SHA1(secret, username)).
fn password(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_base64_hmac_sha1_of_the_username() {
        // Computed independently: Python's hmac.new(b"north", username, hashlib.sha1), base64.
        assert_eq!(
            password("north", "1700086400:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
            "40AwT4/SBj6sUlSGphG7gV1l2L0="
        );
    }

    #[test]
    fn a_credential_names_its_expiry_and_its_person() {
        let turn = TurnConfig {
            urls: vec!["turn:turn.example.org:3478".into()],
            secret: "north".into(),
            ttl: Duration::from_secs(86_400),
        };
        let person = PersonId("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap());
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            turn.ice_server(person, now),
            serde_json::json!({
                "urls": ["turn:turn.example.org:3478"],
                "username": "1700086400:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                "credential": "40AwT4/SBj6sUlSGphG7gV1l2L0=",
            })
        );
        assert!(!format!("{turn:?}").contains("north"), "no secret in logs");
    }
}
