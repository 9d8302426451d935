//! A schedule of rotation rounds that runs by itself: N rounds of a set duration with a break
//! between them, each planned by the rotation planner from who already met, until done or
//! stopped.
//!
//! The schedule is part of the session state (`Session::schedule`) and changes only through the
//! `schedule_changed` event, which carries the whole new schedule (or none). Its life:
//! 1. a moderator starts it: round 1 is planned and starts at once;
//! 2. when a round ends for any reason (the timer, a moderator's stop, its rooms deleted), the
//!    schedule counts it done and, if rounds are left, sets `next_at` to the end of the break;
//! 3. at `next_at` the room's timer plans and starts the next round ([`due`], [`next_round`]);
//! 4. after the last round, or when a moderator stops it, the schedule is gone.
//!
//! Rounds of a schedule are started by the schedule only: a hand start during a break is refused
//! (stop the schedule to run rounds by hand).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rotate::{self, Rotation};
use super::{Assignment, between_rounds, manager};
use crate::domain::DomainError;
use crate::domain::event::Event;
use crate::domain::room::{Caller, Ctx, RoomState};
use crate::domain::rotation::Met;
use crate::ids::PersonId;

/// Most rounds in one schedule.
pub const MAX_ROUNDS: u32 = 50;
/// Longest break between rounds: one hour.
pub const MAX_BREAK_SECS: u32 = 3_600;

/// What a moderator asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// How many rounds.
    #[schema(minimum = 1, maximum = 50)]
    pub rounds: u32,
    /// Each round's length in seconds (the countdown setting then runs before the rooms close).
    #[schema(minimum = 1, maximum = 86_400)]
    pub duration_secs: u32,
    /// Seconds in the main room between rounds.
    #[serde(default)]
    #[schema(maximum = 3_600)]
    pub break_secs: u32,
    /// How each round is planned.
    pub rotation: Rotation,
}

/// A schedule under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    /// How many rounds in all.
    pub rounds: u32,
    /// Rounds finished.
    pub done: u32,
    /// Each round's length in seconds.
    pub duration_secs: u32,
    /// Seconds between rounds.
    pub break_secs: u32,
    /// How each round is planned.
    pub rotation: Rotation,
    /// During a break: when the next round starts, milliseconds since the Unix epoch.
    pub next_at: Option<i64>,
}

/// Whether `me` may start a schedule now, whatever its request: the refusal if not.
pub(super) fn may_start(state: &RoomState, me: PersonId) -> Result<(), DomainError> {
    manager(state, me)?;
    if !state.breakout.config.enabled {
        return Err(DomainError::conflict(
            "disabled",
            "enable breakout rooms first",
        ));
    }
    between_rounds(state)?;
    if state.breakout.schedule.is_some() {
        return Err(DomainError::conflict(
            "schedule_running",
            "a schedule is running: stop it before starting another",
        ));
    }
    Ok(())
}

/// Starts a schedule: its first round is planned and starts now.
pub fn start(
    state: &RoomState,
    caller: &Caller,
    request: ScheduleRequest,
    met: &Met,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    may_start(state, caller.person_id)?;
    if request.rounds == 0 || request.rounds > MAX_ROUNDS {
        return Err(DomainError::invalid(
            "rounds",
            format!("must be between 1 and {MAX_ROUNDS}"),
        ));
    }
    if request.duration_secs == 0 || request.duration_secs > super::MAX_DURATION_SECS {
        return Err(DomainError::invalid(
            "duration_secs",
            format!("must be between 1 and {} seconds", super::MAX_DURATION_SECS),
        ));
    }
    if request.break_secs > MAX_BREAK_SECS {
        return Err(DomainError::invalid(
            "break_secs",
            format!("must be between 0 and {MAX_BREAK_SECS} seconds"),
        ));
    }
    let schedule = Schedule {
        rounds: request.rounds,
        done: 0,
        duration_secs: request.duration_secs,
        break_secs: request.break_secs,
        rotation: request.rotation,
        next_at: None,
    };
    let mut events = round(state, &schedule, met, ctx)?;
    events.insert(
        0,
        Event::ScheduleChanged {
            room: state.id(),
            schedule: Some(schedule),
        },
    );
    Ok(events)
}

/// Stops the schedule, and the round under way if there is one.
pub fn stop(state: &RoomState, caller: &Caller) -> Result<Vec<Event>, DomainError> {
    manager(state, caller.person_id)?;
    if state.breakout.schedule.is_none() {
        return Ok(vec![]);
    }
    let main = state.id();
    let mut events = vec![Event::ScheduleChanged {
        room: main,
        schedule: None,
    }];
    if state.breakout.is_live() {
        events.push(Event::BreakoutStopped {
            room: main,
            reason: super::StopReason::Stopped,
        });
    }
    Ok(events)
}

/// What the end of a round does to the schedule: counts it done, then a break, or the end.
pub fn after_round(state: &RoomState, now: i64) -> Option<Event> {
    let schedule = state.breakout.schedule.as_ref()?;
    let done = schedule.done + 1;
    let next = (done < schedule.rounds).then(|| Schedule {
        done,
        next_at: Some(now + i64::from(schedule.break_secs) * 1000),
        ..schedule.clone()
    });
    Some(Event::ScheduleChanged {
        room: state.id(),
        schedule: next,
    })
}

/// Whether the schedule's next round is due at `now`.
pub fn due(state: &RoomState, now: i64) -> bool {
    !state.breakout.is_live()
        && state
            .breakout
            .schedule
            .as_ref()
            .and_then(|s| s.next_at)
            .is_some_and(|at| now >= at)
}

/// The schedule's next round, planned from `met` and started at `ctx.now`. If it cannot be
/// planned any more (constraints that no longer fit the people there), or breakout rooms were
/// turned off during the break, the schedule ends.
pub fn next_round(state: &RoomState, met: &Met, ctx: Ctx) -> Vec<Event> {
    let main = state.id();
    let Some(schedule) = state.breakout.schedule.clone() else {
        return vec![];
    };
    if !state.breakout.config.enabled {
        return vec![Event::ScheduleChanged {
            room: main,
            schedule: None,
        }];
    }
    let running = Schedule {
        next_at: None,
        ..schedule
    };
    match round(state, &running, met, ctx) {
        Ok(mut events) => {
            events.insert(
                0,
                Event::ScheduleChanged {
                    room: main,
                    schedule: Some(running),
                },
            );
            events
        }
        Err(_) => vec![Event::ScheduleChanged {
            room: main,
            schedule: None,
        }],
    }
}

/// A round of the schedule: the rotation's rooms and assignment, then the start.
fn round(
    state: &RoomState,
    schedule: &Schedule,
    met: &Met,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let mut events = rotate::plan(state, &schedule.rotation, met, ctx)?;
    let assignments: Vec<Assignment> = events
        .iter()
        .find_map(|e| match e {
            Event::AssignmentsImported { assignments, .. } => Some(assignments.clone()),
            _ => None,
        })
        .unwrap_or_default();
    events.push(Event::BreakoutStarted {
        room: state.id(),
        round: state.breakout.round + 1,
        assignments,
        ends_at: Some(ctx.now + i64::from(schedule.duration_secs) * 1000),
        started_at: ctx.now,
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::breakout::{BreakoutConfig, Status, tick};
    use crate::domain::room::{Member, Role};
    use crate::domain::testkit::{caller, main_room, person, workshop};

    fn fold(state: &mut RoomState, events: &[Event]) {
        for e in events {
            state.fold(e);
        }
    }

    /// The workshop with breakout rooms on, no countdown, and participants 2, 4, 5, 6.
    fn room() -> RoomState {
        let mut state = workshop();
        for n in 4..7 {
            state.fold(&Event::MemberAdded {
                room: main_room(),
                member: Member {
                    person_id: person(n),
                    display_name: format!("P{n}"),
                    role: Role::Participant,
                },
            });
        }
        state.fold(&Event::BreakoutConfigured {
            room: main_room(),
            config: BreakoutConfig {
                enabled: true,
                countdown_secs: 0,
                ..BreakoutConfig::default()
            },
            ends_at: None,
        });
        state
    }

    fn request(rounds: u32) -> ScheduleRequest {
        ScheduleRequest {
            rounds,
            duration_secs: 60,
            break_secs: 30,
            rotation: Rotation {
                size: Some(2),
                ..Rotation::default()
            },
        }
    }

    #[test]
    fn rounds_follow_breaks_until_the_last_one_ends() {
        let mut state = room();
        let ctx = |now: i64, seed: u64| Ctx::new(now, seed);
        let events = start(&state, &caller(1), request(2), &Met::new(), ctx(0, 1)).unwrap();
        assert!(matches!(
            events[0],
            Event::ScheduleChanged {
                schedule: Some(_),
                ..
            }
        ));
        assert!(matches!(
            events.last(),
            Some(Event::BreakoutStarted {
                round: 1,
                ends_at: Some(60_000),
                ..
            })
        ));
        fold(&mut state, &events);
        assert_eq!(state.breakout.status, Status::Running);
        assert_eq!(state.breakout.next_deadline(), Some(60_000));

        // Time up (no countdown): the round ends and the break runs until 90 s.
        let ended = tick(&state, 60_000);
        fold(&mut state, &ended);
        assert_eq!(
            state
                .breakout
                .schedule
                .as_ref()
                .map(|s| (s.done, s.next_at)),
            Some((1, Some(90_000)))
        );
        assert_eq!(state.breakout.next_deadline(), Some(90_000));
        assert!(!due(&state, 89_999) && due(&state, 90_000));

        let next = next_round(&state, &Met::new(), ctx(90_000, 2));
        assert!(matches!(
            next.last(),
            Some(Event::BreakoutStarted {
                round: 2,
                started_at: 90_000,
                ..
            })
        ));
        fold(&mut state, &next);
        assert_eq!(
            state.breakout.schedule.as_ref().and_then(|s| s.next_at),
            None
        );

        // A moderator stops the last round early: the schedule is over.
        let stopped = crate::domain::breakout::apply(
            &state,
            &caller(1),
            crate::domain::breakout::BreakoutCommand::Stop,
            ctx(100_000, 3),
        )
        .unwrap();
        fold(&mut state, &stopped);
        assert_eq!(state.breakout.schedule, None);
        assert_eq!(state.breakout.next_deadline(), None);
    }

    #[test]
    fn turning_breakout_rooms_off_during_a_break_ends_the_schedule() {
        let mut state = room();
        let started = start(&state, &caller(1), request(3), &Met::new(), Ctx::new(0, 1)).unwrap();
        fold(&mut state, &started);
        let ended = tick(&state, 60_000);
        fold(&mut state, &ended);
        assert!(due(&state, 90_000));
        state.breakout.config.enabled = false;
        let next = next_round(&state, &Met::new(), Ctx::new(90_000, 2));
        assert!(matches!(
            next.as_slice(),
            [Event::ScheduleChanged { schedule: None, .. }]
        ));
    }

    #[test]
    fn only_managers_start_or_stop_and_never_during_a_round() {
        let state = room();
        let ctx = Ctx::new(0, 1);
        assert!(start(&state, &caller(2), request(2), &Met::new(), ctx).is_err());
        assert!(stop(&state, &caller(2)).is_err());
        let mut off = room();
        off.breakout.config.enabled = false;
        assert!(start(&off, &caller(1), request(2), &Met::new(), ctx).is_err());
        let mut running = room();
        fold(
            &mut running,
            &start(&state, &caller(1), request(2), &Met::new(), ctx).unwrap(),
        );
        let again = start(&running, &caller(1), request(2), &Met::new(), ctx).unwrap_err();
        assert!(again.to_string().contains("running"), "{again}");
        assert!(start(&state, &caller(1), request(0), &Met::new(), ctx).is_err());
        // Stopping ends the schedule and the round under way.
        let stopped = stop(&running, &caller(0)).unwrap();
        assert!(matches!(
            stopped.as_slice(),
            [
                Event::ScheduleChanged { schedule: None, .. },
                Event::BreakoutStopped { .. }
            ]
        ));
    }
}
