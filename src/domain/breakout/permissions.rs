//! What a person may do with the breakout session now, and why not: every answer is the refusal
//! the command itself would give (a dry run of [`apply`](super::apply)), so the page shows the
//! server's rules and reasons and never derives them again.

use serde::Serialize;
use utoipa::ToSchema;

use super::{BreakoutCommand, between_rounds, manager, schedule};
use crate::domain::DomainError;
use crate::domain::room::{Caller, Ctx, RoomState};
use crate::ids::{PersonId, RoomId};

/// The dashboard's actions for one person: `null` when they may do it now, else why not (the
/// message the command would be refused with).
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Start a round.
    pub start: Option<String>,
    /// Clear every assignment.
    pub reset: Option<String>,
    /// Import a CSV of assignments.
    pub import: Option<String>,
    /// Load a plan or place a rotation round.
    pub plan: Option<String>,
    /// Run a schedule of rotation rounds.
    pub schedule: Option<String>,
    /// Go back to the main room from a breakout room.
    pub leave: Option<String>,
    /// Ask the moderators for help.
    pub help: Option<String>,
}

/// What `me` may do now in the main room of `state`.
pub fn permissions(state: &RoomState, me: PersonId) -> Permissions {
    let may = |command| may(state, me, command);
    Permissions {
        start: may(BreakoutCommand::Start),
        reset: may(BreakoutCommand::Reset),
        import: may(BreakoutCommand::Import { rows: Vec::new() }),
        // The guards of those commands (a dry run of the planner would cost as much as planning).
        plan: refusal(manager(state, me).and_then(|_| between_rounds(state))),
        schedule: refusal(schedule::may_start(state, me)),
        // Leaving the main room is no command (it answers nothing): said here.
        leave: if in_breakout(state, me) {
            may(BreakoutCommand::Leave)
        } else {
            Some("you are in the main room".into())
        },
        help: may(BreakoutCommand::AskHelp),
    }
}

/// Whether `me` may go into `breakout` now (join it, choose it, or go back to it), else why not.
pub fn may_join(state: &RoomState, me: PersonId, breakout: RoomId) -> Option<String> {
    may(state, me, BreakoutCommand::Join { breakout })
}

fn may(state: &RoomState, me: PersonId, command: BreakoutCommand) -> Option<String> {
    let caller = Caller {
        person_id: me,
        display_name: String::new(),
    };
    // The time and randomness do not change whether a command is refused.
    refusal(super::apply(state, &caller, command, Ctx::new(0, 0)).map(|_| ()))
}

fn refusal(result: Result<(), DomainError>) -> Option<String> {
    result.err().map(|e| e.to_string())
}

fn in_breakout(state: &RoomState, me: PersonId) -> bool {
    state.locations.get(&me).is_some_and(|at| *at != state.id())
}
