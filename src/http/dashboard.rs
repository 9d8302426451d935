//! The breakout session as the page shows it: the settings, every room with its people and
//! task, who is assigned and who is where, the timer and the help requests ([`BreakoutSession`]),
//! as much of it as the caller may see.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Role;
use crate::domain::breakout::{
    BreakoutConfig, HelpRequest, Permissions, Status, may_join, permissions,
};
use crate::domain::room::RoomState;
use crate::ids::{PersonId, RoomId};

/// A breakout room on the dashboard.
#[derive(Serialize, ToSchema)]
pub struct DashboardRoom {
    /// Id.
    pub id: RoomId,
    /// Own name.
    pub name: String,
    /// `Main : Breakout`.
    pub title: String,
    /// Brought back (closed) during this round.
    pub closed: bool,
    /// Who is assigned here.
    pub assigned: Vec<PersonId>,
    /// Who is in the room right now.
    pub present: Vec<PersonId>,
    /// `null` when the caller may go into this room now (join it, choose it, go back to it),
    /// else why not.
    pub may_join: Option<String>,
    /// Its task and the result handed in: for owners and moderators, and for the room's people
    /// while a round runs.
    pub activity: Option<super::activities::ActivityView>,
}

/// A person on the dashboard.
#[derive(Serialize, ToSchema)]
pub struct DashboardPerson {
    /// Id.
    pub person_id: PersonId,
    /// Display name.
    pub display_name: String,
    /// Role in the main room (absent for breakout-only members).
    pub role: Option<Role>,
    /// Their breakout room, if assigned.
    pub assignment: Option<RoomId>,
    /// Where they are now, if connected.
    pub location: Option<RoomId>,
}

/// The whole breakout session of a main room, as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct BreakoutSession {
    /// The main room.
    pub room: RoomId,
    /// The stream position this view reflects.
    pub seq: u64,
    /// Whether the caller owns or moderates the main room (and so sees the controls).
    pub can_manage: bool,
    /// What the caller may do now, each `null` or why not (the refusal the command would get).
    pub may: Permissions,
    /// Settings.
    pub settings: BreakoutConfig,
    /// `idle`, `running` or `closing`.
    pub status: Status,
    /// Rounds started so far.
    pub round: u32,
    /// When the current round started.
    pub started_at: Option<i64>,
    /// When the countdown starts.
    pub ends_at: Option<i64>,
    /// When the rooms close.
    pub closes_at: Option<i64>,
    /// Breakout rooms the caller may see, by name.
    pub rooms: Vec<DashboardRoom>,
    /// Everyone, for a main-room member; for a breakout-only member or guest, the people of their
    /// own room only (its members and whoever is assigned to it or in it), without roles.
    pub people: Vec<DashboardPerson>,
    /// Open help requests (all for moderators; the caller's own for others).
    pub help: Vec<HelpRequest>,
    /// A schedule of rotation rounds under way: rounds, done, the break's end. Its rotation
    /// (constraints, attributes) only for owners and moderators.
    pub schedule: Option<ScheduleView>,
}

/// A schedule of rotation rounds, as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    /// Rounds in all.
    pub rounds: u32,
    /// Rounds finished.
    pub done: u32,
    /// Each round's length in seconds.
    pub duration_secs: u32,
    /// Seconds between rounds.
    pub break_secs: u32,
    /// During a break: when the next round starts.
    pub next_at: Option<i64>,
    /// How each round is planned (owners and moderators only).
    pub rotation: Option<crate::domain::breakout::rotate::Rotation>,
}

pub(super) fn session_view(state: &RoomState, seq: u64, me: PersonId) -> Option<BreakoutSession> {
    if !state.has_access(me) {
        return None;
    }
    let main = state.id();
    let manages = state.manages(me);
    let main_member = state.role(main, me).is_some();
    let s = &state.breakout;
    let visible = |room: RoomId| main_member || state.can_see(room, me);
    let mut rooms: Vec<DashboardRoom> = state
        .breakouts
        .values()
        .filter(|r| visible(r.id))
        .map(|r| DashboardRoom {
            id: r.id,
            name: r.name.clone(),
            title: state.title(r.id).unwrap_or_default(),
            closed: s.closed.contains(&r.id),
            assigned: sorted(
                s.assignments
                    .iter()
                    .filter(|(_, b)| **b == r.id)
                    .map(|(p, _)| *p),
            ),
            present: sorted(
                state
                    .locations
                    .iter()
                    .filter(|(_, l)| **l == r.id)
                    .map(|(p, _)| *p),
            ),
            activity: super::activities::activity_view(state, r.id, me),
            may_join: may_join(state, me, r.id),
        })
        .collect();
    // Creation order, as the main room lists them: a rename never moves a card.
    rooms.sort_by_key(|r| {
        let created = state.room(r.id).map_or(0, |info| info.created_at);
        (created, r.id)
    });
    // A main-room member sees everyone. A breakout-only member or guest sees their own room and
    // who is in it (its members, and whoever is assigned to it or in it now), with no roles and
    // nothing of where anyone is outside it.
    let shown = |room: Option<RoomId>| room.filter(|r| main_member || visible(*r));
    let mut people: Vec<DashboardPerson> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (room, members) in &state.members {
        for m in members.values() {
            let (assignment, location) = (
                s.assignments.get(&m.person_id).copied(),
                state.locations.get(&m.person_id).copied(),
            );
            let belongs = if *room == main {
                main_member || shown(assignment).is_some() || shown(location).is_some()
            } else {
                visible(*room)
            };
            if belongs && seen.insert(m.person_id) {
                people.push(DashboardPerson {
                    person_id: m.person_id,
                    display_name: m.display_name.clone(),
                    role: state.role(main, m.person_id).filter(|_| main_member),
                    assignment: shown(assignment),
                    location: shown(location),
                });
            }
        }
    }
    people.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.person_id.cmp(&b.person_id))
    });
    let help = s
        .help
        .values()
        .filter(|h| manages || h.person_id == me)
        .cloned()
        .collect();
    Some(BreakoutSession {
        room: main,
        seq,
        can_manage: manages,
        may: permissions(state, me),
        settings: s.config.clone(),
        status: s.status,
        round: s.round,
        started_at: s.started_at,
        ends_at: s.ends_at,
        closes_at: s.closes_at,
        rooms,
        people,
        help,
        schedule: s.schedule.as_ref().map(|x| ScheduleView {
            rounds: x.rounds,
            done: x.done,
            duration_secs: x.duration_secs,
            break_secs: x.break_secs,
            next_at: x.next_at,
            rotation: manages.then(|| x.rotation.clone()),
        }),
    })
}

pub(super) fn sorted(ids: impl Iterator<Item = PersonId>) -> Vec<PersonId> {
    let mut v: Vec<PersonId> = ids.collect();
    v.sort();
    v
}

/// Sort key that puts "Room 2" before "Room 10".
pub(super) fn natural(name: &str) -> (String, u64) {
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let number = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (
        name.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_owned(),
        number,
    )
}
