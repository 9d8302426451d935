//! The breakout session of a main room: configuration, assignments, rounds, the timer, moves,
//! broadcasts and help requests — as pure functions of the state, the caller and a [`Ctx`].
//!
//! Invariants (checked by the property test in `breakout/tests.rs`):
//! - every connected person has exactly one location, a room of this stream they may be in;
//! - assignments point at existing breakout rooms only;
//! - there are never more breakout rooms than the limit;
//! - automatic assignment fills the smallest rooms first, so rooms it fills differ by at most one;
//! - a refused command changes nothing.
//!
//! Rules where the help-center articles leave room are written down in `docs/breakout.md`.
//!
//! Here: the session's types, the guards the commands share, the timer, connections and who goes
//! where. `config`: the configuration; `apply`: what each command does; `fold`: events folded in;
//! `import`, `rotate`, `schedule`: CSV assignments, rotation rounds, schedules; `permissions`:
//! what a person may do now, and why not.

mod apply;
mod config;
mod fold;
mod permissions;

pub use apply::apply;
pub(super) use apply::breakout_here;
use apply::{between_rounds, default_names, new_rooms, stopped};
pub use config::{BreakoutConfig, ConfigChanges, MAX_COUNTDOWN_SECS, MAX_DURATION_SECS, Mode};
pub use fold::fold;
pub use permissions::{Permissions, may_join, permissions};

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::event::Event;
use super::room::{Role, RoomInfo, RoomState};
use super::validate;
use crate::ids::{HelpId, PersonId, RoomId};

/// Where a round is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No round running; everyone is in the main room.
    #[default]
    Idle,
    /// People are in their breakout rooms.
    Running,
    /// Time is up; the rooms close at `closes_at`.
    Closing,
}

/// Why a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A moderator stopped it.
    Stopped,
    /// The timer ran out.
    TimeUp,
    /// The breakout rooms were deleted.
    RoomsDeleted,
}

/// One person's breakout room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    /// Who.
    pub person_id: PersonId,
    /// Where.
    pub breakout: RoomId,
}

/// A call to action shown with a broadcast: a button that opens a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallToAction {
    /// The button's text.
    pub label: String,
    /// An `http` or `https` URL.
    pub url: String,
}

impl CallToAction {
    /// Validates the label and the URL (absolute, `http` or `https`, no spaces or controls).
    pub fn validate(self) -> Result<CallToAction, DomainError> {
        let label = validate::name("cta.label", &self.label)?;
        let url = validate::http_url("cta.url", &self.url)?;
        Ok(CallToAction { label, url })
    }
}

/// A request for help from a breakout room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HelpRequest {
    /// Id.
    pub id: HelpId,
    /// The room asking.
    pub breakout: RoomId,
    /// Who asked.
    pub person_id: PersonId,
    /// Their display name.
    pub display_name: String,
    /// When, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A main room's breakout session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Settings, `enabled` among them.
    pub config: BreakoutConfig,
    /// Where the round is.
    pub status: Status,
    /// Rounds started so far.
    pub round: u32,
    /// When the current round started.
    pub started_at: Option<i64>,
    /// When the countdown starts (running with a duration).
    pub ends_at: Option<i64>,
    /// When the rooms close (closing).
    pub closes_at: Option<i64>,
    /// Assignments, kept across rounds until reset.
    pub assignments: HashMap<PersonId, RoomId>,
    /// Rooms brought back during this round.
    pub closed: HashSet<RoomId>,
    /// Open help requests.
    pub help: BTreeMap<HelpId, HelpRequest>,
    /// Help requests of this round already answered (a second answer is a conflict, not a
    /// request that never existed).
    pub answered: HashSet<HelpId>,
    /// A schedule of rotation rounds under way.
    pub schedule: Option<schedule::Schedule>,
}

impl Session {
    /// Whether a round is under way (running or closing).
    pub fn is_live(&self) -> bool {
        self.status != Status::Idle
    }

    /// The next moment the timer must act, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        match self.status {
            Status::Running => self.ends_at,
            Status::Closing => self.closes_at,
            Status::Idle => self.schedule.as_ref().and_then(|s| s.next_at),
        }
    }
}

/// A breakout command.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum BreakoutCommand {
    /// Replace the settings (`enabled` among them).
    Configure {
        /// The settings.
        config: BreakoutConfig,
    },
    /// Change some settings, the others kept (decided on the current settings, so two
    /// moderators changing different settings at once both keep their change).
    Change {
        /// What changes.
        changes: ConfigChanges,
    },
    /// Create `count` rooms named `Room k`, or one room per given name.
    CreateRooms {
        /// How many, with default names.
        count: Option<u32>,
        /// Or these names.
        names: Option<Vec<String>>,
    },
    /// Delete some breakout rooms, or all when `None`.
    DeleteRooms {
        /// Which.
        rooms: Option<Vec<RoomId>>,
    },
    /// Assign (or with `None` unassign) a person; while running this moves them.
    Assign {
        /// Who.
        person_id: PersonId,
        /// Where.
        breakout: Option<RoomId>,
    },
    /// Clear every assignment.
    Reset,
    /// Start a round.
    Start,
    /// End the round now.
    Stop,
    /// Close these rooms for this round and bring their people back.
    BringBack {
        /// Which rooms.
        rooms: Vec<RoomId>,
    },
    /// Broadcast to every breakout room.
    Broadcast {
        /// Validated text.
        text: String,
        /// Validated call to action.
        cta: Option<CallToAction>,
    },
    /// Post a moderator's message in one breakout room.
    MessageRoom {
        /// Which room.
        breakout: RoomId,
        /// Validated text.
        text: String,
    },
    /// Go to a breakout room (moderators: any; participants: when allowed).
    Join {
        /// Which room.
        breakout: RoomId,
    },
    /// Go back to the main room.
    Leave,
    /// Ask the moderators for help in the room you are in.
    AskHelp,
    /// Replace the pre-assignment from a CSV file's matched rows.
    Import {
        /// The rows.
        rows: Vec<import::ImportRow>,
    },
    /// Plan the next round so that people meet as few of the same people again as possible.
    Rotate {
        /// Rooms, constraints, who takes part.
        rotation: rotate::Rotation,
        /// The rounds of this session so far (who already met).
        history: Vec<crate::domain::rotation::PastRound>,
    },
    /// Start a schedule of rotation rounds that runs by itself.
    Schedule {
        /// Rounds, their length, the break, how each is planned.
        request: schedule::ScheduleRequest,
        /// The rounds of this session so far (who already met).
        history: Vec<crate::domain::rotation::PastRound>,
    },
    /// Stop the schedule (and its round under way).
    StopSchedule,
    /// Accept (and join) or dismiss a help request.
    AnswerHelp {
        /// Which request.
        id: HelpId,
        /// Accept or dismiss.
        accept: bool,
    },
}

pub(super) fn manager(state: &RoomState, person: PersonId) -> Result<Role, DomainError> {
    let role = state.role(state.id(), person);
    match role {
        Some(r) if r.manages() => Ok(r),
        Some(_) => Err(DomainError::Forbidden(
            "only owners and moderators may do this",
        )),
        None if state.has_access(person) => Err(DomainError::Forbidden(
            "only owners and moderators may do this",
        )),
        None => Err(DomainError::NotFound("room")),
    }
}

/// Whether breakout rooms may be turned on or off now: not off while a round runs.
pub(super) fn may_switch(session: &Session, enabled: bool) -> Result<(), DomainError> {
    if !enabled && session.is_live() {
        return Err(DomainError::conflict(
            "running",
            "stop the breakout rooms before disabling them",
        ));
    }
    Ok(())
}

pub(super) fn breakout_room(state: &RoomState, room: RoomId) -> Result<&RoomInfo, DomainError> {
    state
        .breakouts
        .get(&room)
        .ok_or(DomainError::NotFound("breakout room"))
}

/// Fills in the unassigned participants of the main room: each goes to a room with the fewest
/// people so far (ties broken at random), so rooms filled this way differ by at most one.
pub fn distribute(state: &RoomState, assignments: &mut HashMap<PersonId, RoomId>, seed: u64) {
    let main = state.id();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut people: Vec<PersonId> = state
        .members
        .get(&main)
        .map(|m| {
            m.values()
                .filter(|m| m.role == Role::Participant && !assignments.contains_key(&m.person_id))
                .map(|m| m.person_id)
                .collect()
        })
        .unwrap_or_default();
    people.sort();
    people.shuffle(&mut rng);
    let mut rooms: Vec<RoomId> = state.breakouts.keys().copied().collect();
    if rooms.is_empty() {
        return;
    }
    rooms.shuffle(&mut rng);
    let mut sizes: HashMap<RoomId, usize> = rooms.iter().map(|r| (*r, 0)).collect();
    for room in assignments.values() {
        if let Some(n) = sizes.get_mut(room) {
            *n += 1;
        }
    }
    // Rooms ordered by size, then by their shuffled position; a person joins the first.
    let mut order: Vec<(usize, usize, RoomId)> = rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (sizes[r], i, *r))
        .collect();
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize, RoomId)>> =
        order.drain(..).map(std::cmp::Reverse).collect();
    for person in people {
        let Some(std::cmp::Reverse((size, i, room))) = heap.pop() else {
            break;
        };
        assignments.insert(person, room);
        heap.push(std::cmp::Reverse((size + 1, i, room)));
    }
}

/// A round found past its deadline when its room is loaded (Huddle was down then): it ends at
/// once, without a countdown nobody could have seen.
pub fn overdue(state: &RoomState, now: i64) -> Vec<Event> {
    let session = &state.breakout;
    if session.is_live() && session.next_deadline().is_some_and(|at| now >= at) {
        stopped(state, StopReason::TimeUp, now)
    } else {
        vec![]
    }
}

/// What the timer does at `now`: start the countdown, or close the rooms.
pub fn tick(state: &RoomState, now: i64) -> Vec<Event> {
    let main = state.id();
    let session = &state.breakout;
    match (session.status, session.next_deadline()) {
        (Status::Running, Some(ends_at)) if now >= ends_at => {
            let closes_at = ends_at + i64::from(session.config.countdown_secs) * 1000;
            if now >= closes_at {
                stopped(state, StopReason::TimeUp, now)
            } else {
                vec![Event::BreakoutClosing {
                    room: main,
                    closes_at,
                }]
            }
        }
        (Status::Closing, Some(closes_at)) if now >= closes_at => {
            stopped(state, StopReason::TimeUp, now)
        }
        _ => vec![],
    }
}

/// Where a person goes when they connect.
pub fn home(state: &RoomState, person: PersonId) -> Option<RoomId> {
    let main = state.id();
    let session = &state.breakout;
    // During a round, whoever is assigned to an open room is there.
    if let Some(room) = session.assignments.get(&person)
        && session.is_live()
        && !session.closed.contains(room)
    {
        return Some(*room);
    }
    if state.role(main, person).is_none() {
        // Breakout-only members (guests) live in their (first) breakout room.
        return own_room(state, person);
    }
    Some(main)
}

/// The first breakout room a breakout-only member is a direct member of.
fn own_room(state: &RoomState, person: PersonId) -> Option<RoomId> {
    state
        .breakouts
        .keys()
        .find(|b| state.role(**b, person).is_some())
        .copied()
}

/// The event for a person's first connection to this stream, if they belong here.
pub fn connect(state: &RoomState, person: PersonId, display_name: String) -> Option<Event> {
    if state.locations.contains_key(&person) {
        return None;
    }
    let location = home(state, person)?;
    Some(Event::Connected {
        room: state.id(),
        person_id: person,
        display_name,
        location,
    })
}

/// The event for a person's last connection closing.
pub fn disconnect(state: &RoomState, person: PersonId) -> Option<Event> {
    state
        .locations
        .contains_key(&person)
        .then(|| Event::Disconnected {
            room: state.id(),
            person_id: person,
        })
}

pub mod import;
pub mod rotate;
pub mod schedule;
#[cfg(test)]
mod tests;
