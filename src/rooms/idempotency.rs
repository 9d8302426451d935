//! A client's own retries: an HTTP request that carries an `Idempotency-Key` runs its room
//! commands under command ids derived from the key, so that sending the same request again
//! (after a lost answer, a timeout, a failover) answers as the first did instead of acting twice.
//!
//! The HTTP layer wraps the handler in [`scoped`]; [`super::Rooms::command`] asks
//! [`next_command_id`] for the id of each command the handler runs. The id is a hash of the
//! caller, the method, the path, the key and the command's place among the request's commands
//! (a handler may run several), so one person's key never answers another person's request, and
//! the same key on another route is another request. Outside a keyed request there is no id.
//!
//! The actor recognises a repeated id from its memory of recent answers ([`Answers`]) or from
//! `events.command_id` in the store (see `actor::commit`), so a key is honoured as long as its
//! events are kept.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};

use crate::contract::Committed;
use crate::ids::PersonId;

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

struct Keyed {
    /// Method, path and key, as the client sent them.
    scope: String,
    /// How many commands the request has run so far.
    commands: AtomicU32,
}

tokio::task_local! {
    static REQUEST: Keyed;
}

/// Whether `key` is acceptable: 1–255 visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Runs `handler` (one HTTP request's handling) with its commands keyed by `key`.
pub async fn scoped<F: Future>(method: &str, path: &str, key: &str, handler: F) -> F::Output {
    let keyed = Keyed {
        scope: format!("{method}\0{path}\0{key}"),
        commands: AtomicU32::new(0),
    };
    REQUEST.scope(keyed, handler).await
}

/// The id of the next command `person` runs in this keyed request; `None` outside one.
pub fn next_command_id(person: PersonId) -> Option<String> {
    REQUEST
        .try_with(|keyed| {
            let place = keyed.commands.fetch_add(1, Ordering::Relaxed);
            let digest = Sha256::new()
                .chain_update(person.to_string())
                .chain_update([0])
                .chain_update(&keyed.scope)
                .chain_update([0])
                .chain_update(place.to_le_bytes())
                .finalize();
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("key-{hex}")
        })
        .ok()
}

/// How many answers of commands with an id an actor keeps.
const ANSWERS_KEPT: usize = 1024;

/// An actor's memory of the answers of its latest commands that came with an id (from a client's
/// key or from another node), so that a retry is answered as the first was: the last
/// [`ANSWERS_KEPT`], the oldest forgotten first.
#[derive(Default)]
pub(crate) struct Answers {
    by_id: HashMap<String, Committed>,
    /// Their ids, oldest first.
    order: VecDeque<String>,
}

impl Answers {
    /// The answer of the command `id`, if it is remembered.
    pub(crate) fn get(&self, id: &str) -> Option<&Committed> {
        self.by_id.get(id)
    }

    /// Remembers the answer of the command `id`.
    pub(crate) fn remember(&mut self, id: String, committed: Committed) {
        if self.by_id.len() >= ANSWERS_KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(MAX_KEY_LEN)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
        assert!(!valid_key("two words"));
        assert!(!valid_key("clé"));
    }

    #[tokio::test]
    async fn ids_depend_on_the_person_the_request_and_the_commands_place() {
        let (pat, quinn) = (PersonId::new(), PersonId::new());
        assert_eq!(next_command_id(pat), None, "no key, no id");
        let ids = |method: &'static str, key: &'static str, person: PersonId| {
            scoped(method, "/api/v1/rooms/x/messages", key, async move {
                [next_command_id(person), next_command_id(person)]
            })
        };
        let first = ids("POST", "k1", pat).await;
        assert_eq!(first, ids("POST", "k1", pat).await, "the same request");
        assert_ne!(first[0], first[1], "two commands of one request");
        assert_ne!(first, ids("POST", "k2", pat).await);
        assert_ne!(first, ids("PUT", "k1", pat).await);
        assert_ne!(first, ids("POST", "k1", quinn).await);
    }
}
