//! Activities: a moderator gives breakout rooms a task (a text and documents from the main room),
//! which the people of each room see at the top of their room while a round runs; a room hands
//! back a result (a file of the room, or a text), and when the round ends each result is copied
//! into the main room, named by its room.
//!
//! The rules (where the help-center articles stop, `docs/breakout.md` says why):
//! - only owners and moderators set tasks, for some rooms or all; an empty task with no documents
//!   clears it. The documents must be main-room items; setting the task shares them with its rooms.
//! - anyone in a breakout room while a round runs (or closes) may hand in its result; a later one
//!   replaces it. A text becomes a file of the room.
//! - at the end of the round every result is copied into the main room (once: an item promoted
//!   before is not copied again), titled `Room name: title`, and the room's result is cleared;
//!   the task stays for the next round.
//! - who sees a task: owners and moderators always; the room's people while a round runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::content::{ContentItem, NewContent, Promotion};
use super::event::Event;
use super::room::{Caller, Ctx, RoomState};
use crate::ids::{ContentId, PersonId, RoomId};

/// Longest task, in characters.
pub const MAX_TASK_CHARS: usize = 4_000;
/// Most documents one task names.
pub const MAX_DOCUMENTS: usize = 20;

/// A breakout room's task and the result it handed in this round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Activity {
    /// What the room is to do.
    pub task: String,
    /// Main-room items for it (shared with the room).
    pub documents: Vec<ContentId>,
    /// The result handed in this round, if any.
    pub result: Option<HandedIn>,
}

/// A result handed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HandedIn {
    /// The room's item that is the result.
    pub item: ContentId,
    /// Who handed it in.
    pub by: PersonId,
    /// Their display name.
    pub by_name: String,
    /// When, milliseconds since the Unix epoch.
    pub at: i64,
}

/// What a room hands in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Submission {
    /// An item that lives in the room.
    Item(ContentId),
    /// A new file of the room (a text the HTTP layer stored as a file).
    New(NewContent),
}

/// A command about activities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ActivityCommand {
    /// Give these breakout rooms (none named: all of them) this task and documents; an empty
    /// task with no documents clears it.
    Set {
        /// The rooms.
        rooms: Vec<RoomId>,
        /// The task.
        task: String,
        /// Main-room items.
        documents: Vec<ContentId>,
    },
    /// Hand in the result of the breakout room the caller is in.
    HandIn {
        /// The result.
        result: Submission,
    },
}

/// Decides what an activity command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: ActivityCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    match command {
        ActivityCommand::Set {
            rooms,
            task,
            documents,
        } => set(state, caller.person_id, rooms, task, documents),
        ActivityCommand::HandIn { result } => hand_in(state, caller, result, ctx),
    }
}

fn set(
    state: &RoomState,
    me: PersonId,
    rooms: Vec<RoomId>,
    task: String,
    documents: Vec<ContentId>,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    super::breakout::manager(state, me)?;
    let mut rooms = if rooms.is_empty() {
        state.breakouts.keys().copied().collect()
    } else {
        for room in &rooms {
            super::breakout::breakout_room(state, *room)?;
        }
        rooms
    };
    rooms.sort();
    rooms.dedup();
    if rooms.is_empty() {
        return Err(DomainError::conflict(
            "no_rooms",
            "create breakout rooms before giving them a task",
        ));
    }
    let task = task.trim().to_owned();
    if task.chars().count() > MAX_TASK_CHARS {
        return Err(DomainError::invalid(
            "task",
            format!("at most {MAX_TASK_CHARS} characters"),
        ));
    }
    if task
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(DomainError::invalid(
            "task",
            "control characters are not allowed",
        ));
    }
    let mut unique = Vec::with_capacity(documents.len());
    for id in documents {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if unique.len() > MAX_DOCUMENTS {
        return Err(DomainError::invalid(
            "documents",
            format!("at most {MAX_DOCUMENTS} documents"),
        ));
    }
    let mut events = Vec::new();
    for id in &unique {
        let item = state
            .content
            .get(id)
            .filter(|i| i.room_id == main)
            .ok_or(DomainError::NotFound("content item"))?;
        // The task's documents are shared with its rooms (added to whatever they were shared
        // with already).
        let mut shared = item.shared_with.clone();
        shared.extend(rooms.iter().copied());
        shared.sort();
        shared.dedup();
        if shared != item.shared_with {
            events.push(Event::ContentShared {
                room: main,
                id: *id,
                rooms: shared,
                previous: item.shared_with.clone(),
            });
        }
    }
    let clear = task.is_empty() && unique.is_empty();
    for room in rooms {
        let before = state.activities.get(&room);
        let activity = (!clear).then(|| Activity {
            task: task.clone(),
            documents: unique.clone(),
            result: before.and_then(|a| a.result.clone()),
        });
        if before != activity.as_ref() {
            events.push(Event::ActivitySet {
                room: main,
                breakout: room,
                activity,
            });
        }
    }
    Ok(events)
}

fn hand_in(
    state: &RoomState,
    caller: &Caller,
    result: Submission,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let me = caller.person_id;
    if !state.breakout.is_live() {
        return Err(DomainError::conflict(
            "not_running",
            "results are handed in while a round runs",
        ));
    }
    let room = super::breakout::breakout_here(state, me, "hand in a result")?;
    let Some(activity) = state.activities.get(&room) else {
        return Err(DomainError::conflict(
            "no_activity",
            "this room has no task to hand a result in for",
        ));
    };
    let mut events = Vec::new();
    let item = match result {
        Submission::Item(id) => {
            state
                .content
                .get(&id)
                .filter(|i| i.room_id == room)
                .ok_or(DomainError::NotFound("content item"))?;
            id
        }
        Submission::New(new) => {
            let added = super::content::apply(
                state,
                caller,
                super::content::ContentCommand::Add { room, item: new },
                ctx,
            )?;
            let id = match added.first() {
                Some(Event::ContentAdded { item, .. }) => item.id,
                _ => unreachable!("adding content makes one item"),
            };
            events.extend(added);
            id
        }
    };
    events.push(Event::ActivitySet {
        room: main,
        breakout: room,
        activity: Some(Activity {
            result: Some(HandedIn {
                item,
                by: me,
                by_name: caller.display_name.clone(),
                at: ctx.now,
            }),
            ..activity.clone()
        }),
    });
    Ok(events)
}

/// The end of a round: each room's result copied into the main room (named by its room), and
/// cleared. An item already in the main room (promoted by hand) is not copied again.
pub fn hand_over(state: &RoomState) -> Vec<Event> {
    let main = state.id();
    let mut events = Vec::new();
    for (room, activity) in &state.activities {
        let Some(result) = &activity.result else {
            continue;
        };
        let Some(breakout) = state.breakouts.get(room) else {
            continue;
        };
        let original = state
            .content
            .get(&result.item)
            .filter(|i| i.room_id == *room);
        let promoted = state.content.values().any(|c| {
            c.promoted_from
                .as_ref()
                .is_some_and(|p| p.item == result.item)
        });
        if let Some(original) = original.filter(|_| !promoted) {
            events.push(Event::ContentAdded {
                room: main,
                item: Box::new(ContentItem {
                    id: copy_id(result.item),
                    room_id: main,
                    title: format!("{}: {}", breakout.name, original.title),
                    promoted_from: Some(Promotion {
                        room: *room,
                        room_name: breakout.name.clone(),
                        item: result.item,
                        by: result.by,
                        by_name: result.by_name.clone(),
                    }),
                    shared_with: Vec::new(),
                    ..original.clone()
                }),
            });
        }
        events.push(Event::ActivitySet {
            room: main,
            breakout: *room,
            activity: Some(Activity {
                result: None,
                ..activity.clone()
            }),
        });
    }
    events
}

/// The id of the main-room copy of a result: derived from the original's, so that the events of
/// a round's end are the same whoever computes them (the timer has no command's randomness). An
/// item is copied once, so the id is free.
fn copy_id(original: ContentId) -> ContentId {
    const COPY: u128 = 0x5265_7375_6c74_2063_6f70_7920_6f66_2000;
    let bits = original.0.as_u128() ^ COPY;
    // Keep it a well-formed version 7 uuid (the version and variant bits of the original).
    let keep = 0x0000_0000_0000_f000_c000_0000_0000_0000_u128;
    ContentId(uuid::Uuid::from_u128(
        (bits & !keep) | (original.0.as_u128() & keep),
    ))
}

/// Applies an activity event. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    match event {
        Event::ActivitySet {
            breakout, activity, ..
        } => match activity {
            Some(a) if state.breakouts.contains_key(breakout) => {
                state.activities.insert(*breakout, a.clone());
            }
            _ => {
                state.activities.remove(breakout);
            }
        },
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            state.activities.retain(|r, _| !rooms.contains(r));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
