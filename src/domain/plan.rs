//! Group plans: named assignments of a main room, prepared ahead and loaded before a round.
//!
//! A plan names its rooms and people the way the CSV pre-assignment does — a room by its name, a
//! person by email (with a first and last name for the reader) — so it outlives the breakout
//! rooms it was made from, and loading it is exactly importing that file: rooms are created by
//! name as needed, accounts and guests are matched by address, unknown addresses are invited, and
//! the plan becomes the whole assignment. Editing a plan never touches the live assignment.
//!
//! Invariants of a valid plan ([`validate`]): a name of 1 to 100 characters; at most the room
//! limit of rooms, with distinct names; each address at most once in the whole plan; at most
//! [`roster::MAX_ROWS`] people.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::roster::{self, Row};
use super::validate;
use crate::ids::PlanId;

/// Most plans one main room keeps.
pub const MAX_PLANS: usize = 50;

/// A stored plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupPlan {
    /// Id.
    pub id: PlanId,
    /// Its name, unique in the main room.
    pub name: String,
    /// The rooms, in the order they were given.
    pub rooms: Vec<PlanRoom>,
    /// When it was made, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// A room of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRoom {
    /// The breakout room's name (made when the plan is loaded, if no room has it).
    pub name: String,
    /// Who goes there.
    #[serde(default)]
    pub people: Vec<PlanPerson>,
}

/// A person of a plan, as in the CSV file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPerson {
    /// Their address: matched to an account or guest when the plan is loaded, invited if none.
    pub email: String,
    /// First name (for the reader; an account's own name wins).
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
}

/// Checks and normalises a plan's name and rooms (trimmed names, lower-cased addresses).
pub fn validate(
    name: &str,
    rooms: Vec<PlanRoom>,
    max_rooms: usize,
) -> Result<(String, Vec<PlanRoom>), DomainError> {
    let name = validate::name("name", name)?;
    if rooms.len() > max_rooms {
        return Err(DomainError::invalid(
            "rooms",
            format!(
                "a plan may have at most {max_rooms} rooms; this one has {}",
                rooms.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    let mut emails = HashSet::new();
    let mut people = 0;
    let mut clean = Vec::with_capacity(rooms.len());
    for room in rooms {
        let room_name = validate::name("rooms.name", &room.name)?;
        if !names.insert(room_name.clone()) {
            return Err(DomainError::invalid(
                "rooms.name",
                format!("two rooms are named {room_name:?}"),
            ));
        }
        let mut list = Vec::with_capacity(room.people.len());
        for person in room.people {
            let email = validate::email(&person.email)?;
            if !emails.insert(email.clone()) {
                return Err(DomainError::invalid(
                    "rooms.people",
                    format!("{email} is in the plan twice"),
                ));
            }
            let part = |field: &'static str, raw: &str| -> Result<String, DomainError> {
                let value = raw.trim();
                if value.chars().count() > 100 || value.chars().any(char::is_control) {
                    return Err(DomainError::invalid(
                        field,
                        "must be at most 100 characters, without control characters",
                    ));
                }
                Ok(value.to_owned())
            };
            list.push(PlanPerson {
                email,
                first_name: part("rooms.people.first_name", &person.first_name)?,
                last_name: part("rooms.people.last_name", &person.last_name)?,
            });
        }
        people += list.len();
        clean.push(PlanRoom {
            name: room_name,
            people: list,
        });
    }
    if people > roster::MAX_ROWS {
        return Err(DomainError::invalid(
            "rooms.people",
            format!(
                "a plan may name at most {} people; this one names {people}",
                roster::MAX_ROWS
            ),
        ));
    }
    Ok((name, clean))
}

/// A plan's rooms from the rows of a CSV file: a room per distinct room name, in the order the
/// file first names them. Rows without a room (unassigned) are left out: loading the plan leaves
/// everyone it does not name unassigned anyway.
pub fn rooms_from_rows(rows: &[Row]) -> Vec<PlanRoom> {
    let mut rooms: Vec<PlanRoom> = Vec::new();
    for row in rows {
        let Some(name) = &row.room else { continue };
        let person = PlanPerson {
            email: row.email.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
        };
        match rooms.iter_mut().find(|r| &r.name == name) {
            Some(room) => room.people.push(person),
            None => rooms.push(PlanRoom {
                name: name.clone(),
                people: vec![person],
            }),
        }
    }
    rooms
}

/// The rows of the CSV file a plan stands for (what loading it imports), numbered from 2 (the
/// header is row 1).
pub fn rows(rooms: &[PlanRoom]) -> Vec<Row> {
    rooms
        .iter()
        .flat_map(|room| room.people.iter().map(move |p| (room, p)))
        .enumerate()
        .map(|(i, (room, p))| Row {
            line: i + 2,
            room: Some(room.name.clone()),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            email: p.email.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str) -> PlanPerson {
        PlanPerson {
            email: email.into(),
            first_name: "Ada".into(),
            last_name: String::new(),
        }
    }

    fn room(name: &str, people: &[&str]) -> PlanRoom {
        PlanRoom {
            name: name.into(),
            people: people.iter().map(|e| person(e)).collect(),
        }
    }

    #[test]
    fn a_plan_is_trimmed_and_lower_cased() {
        let (name, rooms) = validate(
            "  Jigsaw ",
            vec![
                room(" Experts A ", &["ADA@Example.org"]),
                room("Empty", &[]),
            ],
            300,
        )
        .unwrap();
        assert_eq!(name, "Jigsaw");
        assert_eq!(rooms[0].name, "Experts A");
        assert_eq!(rooms[0].people[0].email, "ada@example.org");
        assert!(rooms[1].people.is_empty(), "an empty room is kept");
    }

    #[test]
    fn a_bad_plan_is_refused_naming_the_problem() {
        let err = |name: &str, rooms: Vec<PlanRoom>, max: usize| {
            validate(name, rooms, max).unwrap_err().to_string()
        };
        assert!(err("", vec![], 300).starts_with("name"));
        assert!(err("p", vec![room("A", &[]), room("A", &[])], 300).contains("two rooms"));
        assert!(
            err(
                "p",
                vec![room("A", &["a@x.org"]), room("B", &["A@x.org"])],
                300
            )
            .contains("a@x.org is in the plan twice")
        );
        assert!(err("p", vec![room("A", &["not-an-address"])], 300).starts_with("email"));
        assert!(err("p", vec![room("A", &[]), room("B", &[])], 1).contains("at most 1 rooms"));
    }

    #[test]
    fn rows_and_rooms_round_trip() {
        let rooms = vec![room("A", &["a@x.org", "b@x.org"]), room("B", &["c@x.org"])];
        let rows = rows(&rooms);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].line, 4);
        assert_eq!(rooms_from_rows(&rows), rooms);
    }
}
