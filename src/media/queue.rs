//! The way from the room actors into the media thread: one queue per main room, taken in turns,
//! bounded for what clients ask, and keeping only the latest of a person's requests that replace
//! each other.
//!
//! One media thread sets up every call of the process, and setting up a peer (a `call_join`) is
//! the most expensive thing it does. With one first-come queue, a flood of joins in one room
//! delayed every other room's joins until the flood was worked off. So:
//!
//! - **Turns.** The media thread takes one command from each main room that has some, in turn: a
//!   join in a quiet room waits for at most one command of each busy room, however long their
//!   queues are. Within a room the order is kept (the actor's location updates come before the
//!   join that needs them).
//! - **Superseded requests.** A person's `call_join` replaces their join or ICE restart still
//!   waiting (the newer offer is the one their client waits for; the answer reaches all their
//!   connections); a `call_media`, `call_view` or `call_pin` replaces the same person's waiting
//!   one (each carries the whole state); a `call_leave` drops what the person still had waiting.
//! - **A share per room.** At most [`ROOM_SHARE`] client requests wait per main room; more are
//!   refused ([`Busy`]) and the client is told to try again. A `call_leave` is never refused.
//! - **Never dropped.** What the actors decide themselves (locations, evictions, recordings, the
//!   end of a call) is always queued: a lost location update would forward media to the wrong
//!   room. Its rate is bounded by the actors' commits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::sfu::Command;
use crate::ids::{PersonId, RoomId};
use crate::turns::Turns;

/// Client requests that may wait per main room.
pub const ROOM_SHARE: usize = 1024;

/// The room's share of the media thread's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// One waiting command, and whether a client asked for it (counted in the room's share).
#[derive(Debug)]
struct Waiting {
    command: Command,
    asked: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Waiting commands by main room, taken in turns.
    rooms: Turns<RoomId, Waiting>,
    /// Client requests waiting per room.
    asked: HashMap<RoomId, usize>,
    /// Live [`Sender`]s; none left closes the queue.
    senders: usize,
}

#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
}

/// The actors' end. Cloning it makes another sender; the queue closes when the last is dropped.
#[derive(Debug)]
pub struct Sender(Arc<Shared>);

/// The media thread's end.
#[derive(Debug)]
pub struct Receiver(Arc<Shared>);

/// A new queue.
pub fn queue() -> (Sender, Receiver) {
    let shared = Arc::new(Shared::default());
    shared.lock().senders = 1;
    (Sender(shared.clone()), Receiver(shared))
}

impl Shared {
    /// A std mutex: held for a few instructions, never across an `.await`. A poisoned lock only
    /// means a thread panicked mid-push; the queues are still valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.lock().senders -= 1;
        self.0.wake.notify_one();
    }
}

/// The kinds of client request that can supersede one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Join,
    Restart,
    Leave,
    Media,
    View,
    Pin,
}

/// A client request's kind and who asked, in which main room; `None` for anything else.
fn asked(command: &Command) -> Option<(Asked, RoomId, PersonId)> {
    let (kind, stream, person) = match command {
        Command::Join { stream, person, .. } => (Asked::Join, stream, person),
        Command::Restart { stream, person, .. } => (Asked::Restart, stream, person),
        Command::Leave { stream, person } => (Asked::Leave, stream, person),
        Command::Media { stream, person, .. } => (Asked::Media, stream, person),
        Command::View { stream, person, .. } => (Asked::View, stream, person),
        Command::Pin { stream, person, .. } => (Asked::Pin, stream, person),
        _ => return None,
    };
    Some((kind, *stream, *person))
}

/// How a client request relates to one already waiting: it replaces it (`Some(true)`), removes
/// it (`Some(false)`), or neither.
fn supersedes(new: &Command, old: &Command) -> Option<bool> {
    let ((new, stream, person), (old, s, p)) = (asked(new)?, asked(old)?);
    if (stream, person) != (s, p) {
        return None;
    }
    match (new, old) {
        (Asked::Join, Asked::Join | Asked::Restart) => Some(true),
        (Asked::Leave, Asked::Leave) => None,
        (Asked::Leave, _) => Some(false),
        (new, old) if new == old => Some(true),
        _ => None,
    }
}

impl Sender {
    /// Queues what an actor decided; never refused.
    pub fn send(&self, command: Command) {
        self.push(command, false);
    }

    /// Queues what a client asked for, replacing or dropping the same person's superseded
    /// requests; refused when the room's share is full (a `call_leave` never is).
    pub fn ask(&self, command: Command) -> Result<(), Busy> {
        let stream = command.stream();
        {
            let mut inner = self.0.lock();
            // The first waiting request this one replaces, and those it makes pointless.
            let mut replace_at = None;
            let mut remove = Vec::new();
            if let Some(waiting) = inner.rooms.waiting_mut(&stream) {
                for (i, w) in waiting.iter().enumerate().filter(|(_, w)| w.asked) {
                    match supersedes(&command, &w.command) {
                        Some(true) if replace_at.is_none() => replace_at = Some(i),
                        Some(_) => remove.push(i),
                        None => {}
                    }
                }
                // Only what comes after `replace_at` is removed, so it keeps its index.
                for &i in remove.iter().rev() {
                    waiting.remove(i);
                }
            }
            if !remove.is_empty() {
                let asked = inner.asked.entry(stream).or_default();
                *asked = asked.saturating_sub(remove.len());
            }
            if let Some(i) = replace_at {
                // Takes the place of the one it replaces: same turn, same share.
                if let Some(waiting) = inner.rooms.waiting_mut(&stream) {
                    waiting[i].command = command;
                }
                return Ok(());
            }
            let leave = matches!(command, Command::Leave { .. });
            if !leave && inner.asked.get(&stream).copied().unwrap_or(0) >= ROOM_SHARE {
                return Err(Busy);
            }
        }
        self.push(command, true);
        Ok(())
    }

    fn push(&self, command: Command, asked: bool) {
        let stream = command.stream();
        let mut inner = self.0.lock();
        inner.rooms.push(stream, Waiting { command, asked });
        if asked {
            *inner.asked.entry(stream).or_default() += 1;
        }
        drop(inner);
        self.0.wake.notify_one();
    }
}

/// What the media thread took from the queue.
#[derive(Debug)]
pub struct Taken {
    /// Commands, one per room in turn.
    pub commands: Vec<Command>,
    /// Every sender is gone and nothing is left: the media thread stops.
    pub closed: bool,
}

impl Receiver {
    /// Waits until something may be waiting (or the queue closed).
    pub async fn ready(&self) {
        self.0.wake.notified().await;
    }

    /// Takes up to `most` commands, one from each room in turn; if more remain, the next
    /// [`Receiver::ready`] returns at once.
    pub fn take(&self, most: usize) -> Taken {
        let mut inner = self.0.lock();
        let mut commands = Vec::new();
        while commands.len() < most {
            let Some((stream, next)) = inner.rooms.pop() else {
                break;
            };
            if next.asked
                && let Some(asked) = inner.asked.get_mut(&stream)
            {
                *asked -= 1;
                if *asked == 0 {
                    inner.asked.remove(&stream);
                }
            }
            commands.push(next.command);
        }
        let more = inner.rooms.has_turns();
        let closed = !more && inner.senders == 0;
        drop(inner);
        if more {
            self.0.wake.notify_one();
        }
        Taken { commands, closed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::MediaState;

    fn join(stream: RoomId, person: PersonId, sdp: &str) -> Command {
        Command::Join {
            stream,
            person,
            sdp: sdp.into(),
            state: MediaState::default(),
        }
    }

    fn sdp_of(command: &Command) -> &str {
        match command {
            Command::Join { sdp, .. } => sdp,
            _ => "",
        }
    }

    #[test]
    fn rooms_take_turns_so_a_flood_delays_another_room_by_one_command() {
        let (tx, rx) = queue();
        let (busy, quiet) = (RoomId::new(), RoomId::new());
        for _ in 0..500 {
            tx.ask(join(busy, PersonId::new(), "flood")).unwrap();
        }
        tx.ask(join(quiet, PersonId::new(), "quiet")).unwrap();
        let taken = rx.take(2);
        assert_eq!(
            taken.commands.iter().map(sdp_of).collect::<Vec<_>>(),
            vec!["flood", "quiet"]
        );
        assert!(!taken.closed);
        assert_eq!(rx.take(usize::MAX).commands.len(), 499);
    }

    #[test]
    fn a_persons_new_join_replaces_the_waiting_one_in_its_place() {
        let (tx, rx) = queue();
        let (stream, person, other) = (RoomId::new(), PersonId::new(), PersonId::new());
        tx.send(Command::Locations {
            stream,
            people: vec![],
        });
        tx.ask(join(stream, person, "first")).unwrap();
        tx.ask(join(stream, other, "other")).unwrap();
        for i in 0..1000 {
            tx.ask(join(stream, person, &format!("again {i}"))).unwrap();
        }
        let taken = rx.take(usize::MAX).commands;
        assert_eq!(taken.len(), 3);
        assert!(matches!(taken[0], Command::Locations { .. }));
        assert_eq!(sdp_of(&taken[1]), "again 999");
        assert_eq!(sdp_of(&taken[2]), "other");
    }

    #[test]
    fn a_leave_drops_what_the_person_had_waiting_and_is_never_refused() {
        let (tx, rx) = queue();
        let stream = RoomId::new();
        let people: Vec<PersonId> = (0..ROOM_SHARE).map(|_| PersonId::new()).collect();
        for p in &people {
            tx.ask(join(stream, *p, "join")).unwrap();
        }
        assert_eq!(tx.ask(join(stream, PersonId::new(), "one more")), Err(Busy));
        // A leave is taken even now; one of someone with a waiting join drops that join.
        let stranger = PersonId::new();
        tx.ask(Command::Leave {
            stream,
            person: stranger,
        })
        .unwrap();
        tx.ask(Command::Leave {
            stream,
            person: people[0],
        })
        .unwrap();
        let taken = rx.take(usize::MAX).commands;
        assert_eq!(taken.len(), ROOM_SHARE + 1);
        assert!(
            matches!(taken[0], Command::Join { person, .. } if person == people[1]),
            "people[0]'s join was dropped"
        );
        assert!(
            matches!(taken[ROOM_SHARE - 1], Command::Leave { person, .. } if person == stranger)
        );
        assert!(matches!(taken[ROOM_SHARE], Command::Leave { person, .. } if person == people[0]));
        // Taken, the share is free again.
        tx.ask(join(stream, PersonId::new(), "now")).unwrap();
        rx.take(usize::MAX);
        // What the actors decide is never refused.
        tx.send(Command::Close {
            stream,
            reason: "deleted",
        });
        assert_eq!(rx.take(usize::MAX).commands.len(), 1);
    }

    #[tokio::test]
    async fn the_queue_closes_when_the_last_sender_is_gone_and_it_is_empty() {
        let (tx, rx) = queue();
        let stream = RoomId::new();
        let second = tx.clone();
        drop(tx);
        second.send(Command::Close {
            stream,
            reason: "deleted",
        });
        drop(second);
        rx.ready().await;
        let taken = rx.take(usize::MAX);
        assert_eq!(taken.commands.len(), 1);
        assert!(taken.closed);
    }
}
