//! Budgets for the call messages clients send: one token bucket per person across all their
//! connections, and one per main room across everyone in it.
//!
//! A budget per connection let one person with fifty WebSockets send fifty times the rate, and
//! the media thread, which sets up every call of the process, fell behind for everyone. The
//! person's bucket is what one client needs (a join, a few toggles, tiles resizing); the room's
//! bucket is what a whole class joining at once needs, so that many accounts together still have
//! a ceiling per room. Buckets that are full again are forgotten (see [`CallBudgets::forget_full`]),
//! so the maps hold only people and rooms that spoke lately.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use crate::ids::{PersonId, RoomId};

/// A token bucket: `burst` at once, then `per_second`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The size and rate of one kind of bucket.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens a full bucket holds.
    pub burst: f64,
    /// Tokens added a second.
    pub per_second: f64,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + refill).min(rate.burst);
        self.at = now;
    }
}

/// Buckets of one rate by key.
#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    by_key: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(rate: Rate) -> Self {
        Buckets {
            rate,
            by_key: HashMap::new(),
        }
    }

    /// Whether `key`'s bucket holds a token now (refilled to `now`).
    fn has(&mut self, key: K, now: Instant) -> bool {
        let rate = self.rate;
        let bucket = self
            .by_key
            .entry(key)
            .or_insert_with(|| Bucket::full(rate, now));
        bucket.refill(rate, now);
        bucket.tokens >= 1.0
    }

    /// Takes a token that [`Buckets::has`] just found.
    fn take(&mut self, key: K) {
        if let Some(bucket) = self.by_key.get_mut(&key) {
            bucket.tokens -= 1.0;
        }
    }

    fn forget_full(&mut self, now: Instant) {
        let rate = self.rate;
        self.by_key.retain(|_, bucket| {
            bucket.refill(rate, now);
            bucket.tokens < rate.burst
        });
    }
}

/// Whose budget a call message exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The person's, across their connections.
    Person,
    /// The main room's, across everyone in it.
    Room,
}

/// The call budgets of one node: per person and per main room.
#[derive(Debug)]
pub struct CallBudgets {
    people: Buckets<PersonId>,
    rooms: Buckets<RoomId>,
}

impl Default for CallBudgets {
    fn default() -> Self {
        CallBudgets::new(PERSON, ROOM)
    }
}

/// A person's call messages: a burst of 20, then 10 a second (a join, toggles, resized tiles).
pub const PERSON: Rate = Rate {
    burst: 20.0,
    per_second: 10.0,
};

/// A main room's call messages: a class of 500 joining at once, then 100 a second.
pub const ROOM: Rate = Rate {
    burst: 500.0,
    per_second: 100.0,
};

impl CallBudgets {
    /// Budgets of these rates.
    pub fn new(person: Rate, room: Rate) -> CallBudgets {
        CallBudgets {
            people: Buckets::new(person),
            rooms: Buckets::new(room),
        }
    }

    /// Takes one message from `person`'s budget and `stream`'s, or neither when either is spent.
    pub fn take(&mut self, person: PersonId, stream: RoomId, now: Instant) -> Result<(), Exceeded> {
        if !self.people.has(person, now) {
            return Err(Exceeded::Person);
        }
        if !self.rooms.has(stream, now) {
            return Err(Exceeded::Room);
        }
        self.people.take(person);
        self.rooms.take(stream);
        Ok(())
    }

    /// Forgets buckets that are full again: they would start full anyway.
    pub fn forget_full(&mut self, now: Instant) {
        self.people.forget_full(now);
        self.rooms.forget_full(now);
    }

    /// How many buckets are kept (people and rooms).
    pub fn len(&self) -> usize {
        self.people.by_key.len() + self.rooms.by_key.len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_person_has_one_budget_whatever_the_room_and_it_refills() {
        let mut budgets = CallBudgets::default();
        let (person, now) = (PersonId::new(), Instant::now());
        let taken = (0..30)
            .filter(|_| budgets.take(person, RoomId::new(), now).is_ok())
            .count();
        assert_eq!(taken, 20);
        assert_eq!(
            budgets.take(person, RoomId::new(), now),
            Err(Exceeded::Person)
        );
        // A tenth of a second later, one more.
        let later = now + Duration::from_millis(100);
        assert!(budgets.take(person, RoomId::new(), later).is_ok());
        assert!(budgets.take(person, RoomId::new(), later).is_err());
        // Someone else is not affected.
        assert!(budgets.take(PersonId::new(), RoomId::new(), later).is_ok());
    }

    #[test]
    fn a_room_has_a_ceiling_across_its_people_and_a_refusal_costs_nobody() {
        let small = Rate {
            burst: 3.0,
            per_second: 1.0,
        };
        let mut budgets = CallBudgets::new(PERSON, small);
        let (room, now) = (RoomId::new(), Instant::now());
        let people: Vec<PersonId> = (0..5).map(|_| PersonId::new()).collect();
        let results: Vec<_> = people.iter().map(|p| budgets.take(*p, room, now)).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
        assert_eq!(results[4], Err(Exceeded::Room));
        // The refused people kept their own tokens: another room takes them.
        for _ in 0..20 {
            assert!(budgets.take(people[4], RoomId::new(), now).is_ok());
        }
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut budgets = CallBudgets::default();
        let now = Instant::now();
        budgets.take(PersonId::new(), RoomId::new(), now).unwrap();
        assert_eq!(budgets.len(), 2);
        budgets.forget_full(now);
        assert_eq!(budgets.len(), 2, "not full yet");
        budgets.forget_full(now + Duration::from_secs(1));
        assert!(budgets.is_empty());
    }
}
