//! Helpers shared by the domain's tests: people with predictable ids and names.

use super::room::Caller;
use crate::ids::PersonId;

/// Person number `n` (ids are `n + 1`, so none is the nil UUID).
pub fn person(n: u128) -> PersonId {
    PersonId(uuid::Uuid::from_u128(n + 1))
}

/// Person `n` as a caller, named `P{n}`.
pub fn caller(n: u128) -> Caller {
    Caller {
        person_id: person(n),
        display_name: format!("P{n}"),
    }
}
