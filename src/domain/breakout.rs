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

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::event::Event;
use super::room::{Caller, Ctx, Message, MessageKind, Role, RoomInfo, RoomState};
use super::validate;
use crate::ids::{HelpId, PersonId, RoomId};

/// How people get into breakout rooms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Huddle distributes the unassigned participants evenly at random when a round starts.
    #[default]
    Automatic,
    /// Moderators place people.
    Manual,
    /// Participants choose their rooms.
    Free,
}

/// Settings of a main room's breakout rooms; all may change while a round runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakoutConfig {
    /// Breakout rooms enabled for this main room (the setting seed 001 puts in a meeting's options).
    #[serde(default)]
    pub enabled: bool,
    /// How people get into rooms.
    #[serde(default)]
    pub mode: Mode,
    /// Participants may move between breakout rooms while a round runs.
    #[serde(default)]
    pub free_movement: bool,
    /// Participants may go back to the main room on their own.
    #[serde(default = "yes")]
    pub return_to_main: bool,
    /// Participants may broadcast to all rooms, not only moderators.
    #[serde(default)]
    pub everyone_broadcasts: bool,
    /// Length of a round in seconds; the rooms then close after the countdown. None: no timer.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86_400)]
    pub duration_secs: Option<u32>,
    /// Seconds between "time is up" and the rooms closing.
    #[serde(default = "default_countdown")]
    #[schema(maximum = 600)]
    pub countdown_secs: u32,
    /// Participants may promote their breakout room's content to the main room (owners and
    /// moderators always may).
    #[serde(default = "yes")]
    pub participants_promote: bool,
}

fn yes() -> bool {
    true
}

/// Some of the settings: what is left out keeps its value (`duration_secs: null` removes the
/// timer; leaving it out keeps it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, ToSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChanges {
    /// Breakout rooms enabled.
    pub enabled: Option<bool>,
    /// How people get into rooms.
    pub mode: Option<Mode>,
    /// Participants may move between breakout rooms while a round runs.
    pub free_movement: Option<bool>,
    /// Participants may go back to the main room on their own.
    pub return_to_main: Option<bool>,
    /// Participants may broadcast.
    pub everyone_broadcasts: Option<bool>,
    /// Length of a round in seconds; `null`: no timer.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 86_400)]
    pub duration_secs: Option<Option<u32>>,
    /// Seconds between "time is up" and the rooms closing.
    #[schema(maximum = 600)]
    pub countdown_secs: Option<u32>,
    /// Participants may promote their room's content.
    pub participants_promote: Option<bool>,
}

/// A field that is present (perhaps `null`) rather than left out.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

impl ConfigChanges {
    /// `config` with these changes.
    pub fn over(self, config: &BreakoutConfig) -> BreakoutConfig {
        let c = config.clone();
        BreakoutConfig {
            enabled: self.enabled.unwrap_or(c.enabled),
            mode: self.mode.unwrap_or(c.mode),
            free_movement: self.free_movement.unwrap_or(c.free_movement),
            return_to_main: self.return_to_main.unwrap_or(c.return_to_main),
            everyone_broadcasts: self.everyone_broadcasts.unwrap_or(c.everyone_broadcasts),
            duration_secs: self.duration_secs.unwrap_or(c.duration_secs),
            countdown_secs: self.countdown_secs.unwrap_or(c.countdown_secs),
            participants_promote: self.participants_promote.unwrap_or(c.participants_promote),
        }
    }
}

fn default_countdown() -> u32 {
    60
}

impl Default for BreakoutConfig {
    fn default() -> Self {
        BreakoutConfig {
            enabled: false,
            mode: Mode::Automatic,
            free_movement: false,
            return_to_main: true,
            everyone_broadcasts: false,
            duration_secs: None,
            countdown_secs: default_countdown(),
            participants_promote: true,
        }
    }
}

/// Longest round: one day.
pub const MAX_DURATION_SECS: u32 = 86_400;
/// Longest countdown: ten minutes.
pub const MAX_COUNTDOWN_SECS: u32 = 600;

impl BreakoutConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), DomainError> {
        if let Some(d) = self.duration_secs
            && (d == 0 || d > MAX_DURATION_SECS)
        {
            return Err(DomainError::invalid(
                "duration_secs",
                format!("must be between 1 and {MAX_DURATION_SECS} seconds, or null for no timer"),
            ));
        }
        if self.countdown_secs > MAX_COUNTDOWN_SECS {
            return Err(DomainError::invalid(
                "countdown_secs",
                format!("must be between 0 and {MAX_COUNTDOWN_SECS} seconds"),
            ));
        }
        Ok(())
    }
}

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

/// Refuses a brought-back room while its round lasts: nobody goes into it again, moderators
/// included (they would be alone there, and its people are back in the main room), until the next
/// round opens it.
fn closed_for_the_round(state: &RoomState, room: RoomId) -> Result<(), DomainError> {
    if state.breakout.closed.contains(&room) {
        Err(DomainError::conflict(
            "room_closed",
            "this breakout room was brought back: nobody goes into it again this round",
        ))
    } else {
        Ok(())
    }
}

/// Refuses while a round runs (or counts down): what may only change between rounds.
fn between_rounds(state: &RoomState) -> Result<(), DomainError> {
    if state.breakout.is_live() {
        Err(DomainError::conflict(
            "running",
            "breakout rooms are running: stop the round first",
        ))
    } else {
        Ok(())
    }
}

fn running(state: &RoomState) -> Result<(), DomainError> {
    if state.breakout.is_live() {
        Ok(())
    } else {
        Err(DomainError::conflict(
            "not_running",
            "breakout rooms are not running",
        ))
    }
}

/// The breakout room `person` is in now; else a conflict saying to `what` from inside one.
pub(super) fn breakout_here(
    state: &RoomState,
    person: PersonId,
    what: &str,
) -> Result<RoomId, DomainError> {
    state
        .locations
        .get(&person)
        .copied()
        .filter(|r| *r != state.id())
        .ok_or_else(|| {
            DomainError::conflict(
                "not_in_breakout",
                format!("{what} from inside a breakout room"),
            )
        })
}

/// Decides what a breakout command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: BreakoutCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let me = caller.person_id;
    if !state.has_access(me) {
        return Err(DomainError::NotFound("room"));
    }
    let session = &state.breakout;
    match command {
        BreakoutCommand::Change { changes } => {
            let config = changes.over(&session.config);
            apply(state, caller, BreakoutCommand::Configure { config }, ctx)
        }
        BreakoutCommand::Configure { config } => {
            manager(state, me)?;
            config.validate()?;
            may_switch(session, config.enabled)?;
            let ends_at = match (session.status, config.duration_secs, session.started_at) {
                // A duration shorter than the round has already run means time is up now: the
                // countdown still runs in full, the rooms do not close at once.
                (Status::Running, Some(d), Some(start)) => {
                    Some((start + i64::from(d) * 1000).max(ctx.now))
                }
                (Status::Running, None, _) => None,
                _ => session.ends_at,
            };
            if config == session.config && ends_at == session.ends_at {
                return Ok(vec![]);
            }
            Ok(vec![Event::BreakoutConfigured {
                room: main,
                config,
                ends_at,
            }])
        }
        BreakoutCommand::CreateRooms { count, names } => {
            manager(state, me)?;
            let names = match (count, names) {
                (Some(n), None) => {
                    if n == 0 {
                        return Err(DomainError::invalid("count", "must be at least 1"));
                    }
                    // One more than the limit is enough to be refused below.
                    default_names(state, (n as usize).min(ctx.max_breakout_rooms + 1))
                }
                (None, Some(names)) if !names.is_empty() => names
                    .iter()
                    .map(|n| validate::name("names", n))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(DomainError::invalid(
                        "count",
                        "give either count (1 or more) or names",
                    ));
                }
            };
            let total = state.breakouts.len() + names.len();
            if total > ctx.max_breakout_rooms {
                return Err(DomainError::invalid(
                    "count",
                    format!(
                        "a main room may have at most {} breakout rooms; it has {} and {} more were asked",
                        ctx.max_breakout_rooms,
                        state.breakouts.len(),
                        names.len()
                    ),
                ));
            }
            let rooms = new_rooms(main, names, &ctx);
            Ok(vec![Event::BreakoutRoomsCreated { room: main, rooms }])
        }
        BreakoutCommand::DeleteRooms { rooms } => {
            manager(state, me)?;
            let rooms: Vec<RoomId> = match rooms {
                None => state.breakouts.keys().copied().collect(),
                Some(rooms) => {
                    for r in &rooms {
                        breakout_room(state, *r)?;
                    }
                    let mut unique = rooms;
                    unique.sort();
                    unique.dedup();
                    unique
                }
            };
            if rooms.is_empty() {
                return Ok(vec![]);
            }
            let mut events = Vec::new();
            if session.is_live() && rooms.len() == state.breakouts.len() {
                events.extend(stopped(state, StopReason::RoomsDeleted, ctx.now));
            }
            events.push(Event::BreakoutRoomsDeleted { room: main, rooms });
            Ok(events)
        }
        BreakoutCommand::Assign {
            person_id,
            breakout,
        } => {
            manager(state, me)?;
            assign(state, person_id, breakout, &caller.display_name)
        }
        BreakoutCommand::Reset => {
            manager(state, me)?;
            between_rounds(state)?;
            if session.assignments.is_empty() {
                return Ok(vec![]);
            }
            Ok(vec![Event::AssignmentsReset { room: main }])
        }
        BreakoutCommand::Start => {
            manager(state, me)?;
            if !session.config.enabled {
                return Err(DomainError::conflict(
                    "disabled",
                    "enable breakout rooms first",
                ));
            }
            if session.is_live() {
                return Err(DomainError::conflict(
                    "running",
                    "breakout rooms are already running",
                ));
            }
            if session.schedule.is_some() {
                return Err(DomainError::conflict(
                    "schedule_running",
                    "a schedule starts the rounds itself: stop it to run rounds by hand",
                ));
            }
            if state.breakouts.is_empty() {
                return Err(DomainError::conflict(
                    "no_rooms",
                    "create breakout rooms first",
                ));
            }
            let mut assignments = session.assignments.clone();
            if session.config.mode == Mode::Automatic {
                distribute(state, &mut assignments, ctx.seed);
            }
            let mut assignments: Vec<Assignment> = assignments
                .into_iter()
                .map(|(person_id, breakout)| Assignment {
                    person_id,
                    breakout,
                })
                .collect();
            assignments.sort_by_key(|a| a.person_id);
            let ends_at = session
                .config
                .duration_secs
                .map(|d| ctx.now + i64::from(d) * 1000);
            Ok(vec![Event::BreakoutStarted {
                room: main,
                round: session.round + 1,
                assignments,
                ends_at,
                started_at: ctx.now,
            }])
        }
        BreakoutCommand::Stop => {
            manager(state, me)?;
            if !session.is_live() {
                return Ok(vec![]);
            }
            Ok(stopped(state, StopReason::Stopped, ctx.now))
        }
        BreakoutCommand::BringBack { rooms } => {
            manager(state, me)?;
            running(state)?;
            if rooms.is_empty() {
                return Err(DomainError::invalid(
                    "rooms",
                    "name at least one breakout room",
                ));
            }
            for r in &rooms {
                breakout_room(state, *r)?;
            }
            let mut rooms: Vec<RoomId> = rooms
                .into_iter()
                .filter(|r| !session.closed.contains(r))
                .collect();
            rooms.sort();
            rooms.dedup();
            if rooms.is_empty() {
                return Ok(vec![]);
            }
            Ok(vec![Event::RoomsBroughtBack { room: main, rooms }])
        }
        BreakoutCommand::Broadcast { text, cta } => {
            let role = state.role(main, me);
            let is_manager = role.is_some_and(Role::manages);
            if !is_manager {
                if role.is_none() {
                    return Err(DomainError::Forbidden(
                        "only main-room members may broadcast",
                    ));
                }
                if !session.config.everyone_broadcasts {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators may broadcast",
                    ));
                }
                if cta.is_some() {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators may add a call to action",
                    ));
                }
            }
            running(state)?;
            let messages = state
                .breakouts
                .keys()
                .filter(|r| !session.closed.contains(r))
                .enumerate()
                .map(|(i, room)| Message {
                    id: ctx.message_id(i as u16),
                    room_id: *room,
                    author_id: Some(me),
                    author_name: Some(caller.display_name.clone()),
                    kind: MessageKind::Broadcast,
                    text: text.clone(),
                    created_at: ctx.now,
                })
                .collect();
            Ok(vec![Event::Broadcast {
                room: main,
                from: me,
                from_name: caller.display_name.clone(),
                text,
                cta,
                messages,
            }])
        }
        BreakoutCommand::MessageRoom { breakout, text } => {
            manager(state, me)?;
            breakout_room(state, breakout)?;
            Ok(vec![Event::MessagePosted {
                room: breakout,
                message: Message {
                    id: ctx.message_id(0),
                    room_id: breakout,
                    author_id: Some(me),
                    author_name: Some(caller.display_name.clone()),
                    kind: MessageKind::Broadcast,
                    text,
                    created_at: ctx.now,
                },
            }])
        }
        BreakoutCommand::Join { breakout } => join(state, me, breakout),
        BreakoutCommand::Leave => {
            let Some(&here) = state.locations.get(&me) else {
                return Err(DomainError::conflict(
                    "not_connected",
                    "connect to the event stream first",
                ));
            };
            if here == main {
                return Ok(vec![]);
            }
            match state.role(main, me) {
                None => Err(DomainError::Forbidden(
                    "you have no access to the main room",
                )),
                Some(r) if !r.manages() && session.is_live() && !session.config.return_to_main => {
                    Err(DomainError::Forbidden(
                        "participants may not return to the main room on their own now",
                    ))
                }
                Some(_) => Ok(vec![Event::Located {
                    room: main,
                    person_id: me,
                    location: main,
                }]),
            }
        }
        BreakoutCommand::AskHelp => {
            if state.role(main, me).is_some_and(Role::manages) {
                return Err(DomainError::Forbidden(
                    "moderators answer help requests; they do not ask",
                ));
            }
            running(state)?;
            let here = breakout_here(state, me, "ask for help")?;
            if session.help.values().any(|h| h.breakout == here) {
                return Err(DomainError::conflict(
                    "help_pending",
                    "this room already asked for help",
                ));
            }
            let request = HelpRequest {
                id: HelpId(ctx.uuid(0)),
                breakout: here,
                person_id: me,
                display_name: caller.display_name.clone(),
                created_at: ctx.now,
            };
            Ok(vec![Event::HelpRequested {
                room: main,
                request,
            }])
        }
        BreakoutCommand::Import { rows } => import::apply(state, caller, rows, ctx),
        BreakoutCommand::Rotate { rotation, history } => {
            let met = crate::domain::rotation::Met::of(&history);
            rotate::apply(state, caller, &rotation, &met, ctx)
        }
        BreakoutCommand::Schedule { request, history } => {
            let met = crate::domain::rotation::Met::of(&history);
            schedule::start(state, caller, request, &met, ctx)
        }
        BreakoutCommand::StopSchedule => schedule::stop(state, caller),
        BreakoutCommand::AnswerHelp { id, accept } => {
            manager(state, me)?;
            if session.answered.contains(&id) {
                return Err(DomainError::conflict(
                    "help_answered",
                    "this help request was already answered",
                ));
            }
            let request = session
                .help
                .get(&id)
                .ok_or(DomainError::NotFound("help request"))?;
            let mut events = vec![Event::HelpAnswered {
                room: main,
                id,
                breakout: request.breakout,
                person_id: request.person_id,
                by: me,
                accepted: accept,
            }];
            if accept && state.locations.contains_key(&me) {
                events.push(Event::Located {
                    room: main,
                    person_id: me,
                    location: request.breakout,
                });
            }
            Ok(events)
        }
    }
}

/// The end of a round: everyone back, the rooms' results handed over to the main room, and the
/// schedule (if any) counts it and takes a break.
pub(super) fn stopped(state: &RoomState, reason: StopReason, now: i64) -> Vec<Event> {
    let mut events = vec![Event::BreakoutStopped {
        room: state.id(),
        reason,
    }];
    events.extend(super::activity::hand_over(state));
    events.extend(schedule::after_round(state, now));
    events
}

/// New breakout rooms of `main` with these names, their ids the command's uuids from 0.
pub(super) fn new_rooms(main: RoomId, names: Vec<String>, ctx: &Ctx) -> Vec<RoomInfo> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| RoomInfo {
            id: RoomId(ctx.uuid(i as u16)),
            parent_id: Some(main),
            name,
            created_at: ctx.now,
        })
        .collect()
}

/// `n` names `Room k` not taken yet, lowest `k` first.
pub(super) fn default_names(state: &RoomState, n: usize) -> Vec<String> {
    let taken: HashSet<&str> = state.breakouts.values().map(|r| r.name.as_str()).collect();
    (1..)
        .map(|k| format!("Room {k}"))
        .filter(|name| !taken.contains(name.as_str()))
        .take(n)
        .collect()
}

/// Assign, unassign or (while running) move a person.
fn assign(
    state: &RoomState,
    person: PersonId,
    breakout: Option<RoomId>,
    by: &str,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    if let Some(b) = breakout {
        breakout_room(state, b)?;
        closed_for_the_round(state, b)?;
    }
    let direct_breakout_member = state
        .breakouts
        .keys()
        .any(|b| state.role(*b, person).is_some());
    if state.role(main, person).is_none() && !direct_breakout_member {
        return Err(DomainError::NotFound("member"));
    }
    if state.breakout.assignments.get(&person).copied() == breakout {
        return Ok(vec![]);
    }
    Ok(vec![Event::Assigned {
        room: main,
        person_id: person,
        breakout,
        by: Some(by.to_owned()),
    }])
}

/// A person goes to a breakout room themselves.
fn join(state: &RoomState, me: PersonId, breakout: RoomId) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let session = &state.breakout;
    breakout_room(state, breakout)?;
    let role = state.role(main, me);
    let is_manager = role.is_some_and(Role::manages);
    let assigned = session.assignments.get(&me) == Some(&breakout);
    let direct = state.role(breakout, me).is_some();
    closed_for_the_round(state, breakout)?;
    if !is_manager {
        if role.is_none() && !direct {
            return Err(DomainError::Forbidden(
                "breakout-only members stay in their own room",
            ));
        }
        let free = session.config.free_movement || session.config.mode == Mode::Free;
        if !session.is_live() {
            // Before a round, a free choice is a self-assignment.
            if session.config.mode != Mode::Free {
                return Err(DomainError::Forbidden(
                    "participants choose rooms only in free mode",
                ));
            }
            return Ok(if assigned {
                vec![]
            } else {
                vec![Event::Assigned {
                    room: main,
                    person_id: me,
                    breakout: Some(breakout),
                    by: None,
                }]
            });
        }
        if !(assigned || direct || free) {
            return Err(DomainError::Forbidden(
                "participants may not switch rooms on their own now",
            ));
        }
    }
    if !state.locations.contains_key(&me) {
        return Err(DomainError::conflict(
            "not_connected",
            "connect to the event stream first",
        ));
    }
    let mut events = Vec::new();
    if !is_manager && !assigned && !direct {
        events.push(Event::Assigned {
            room: main,
            person_id: me,
            breakout: Some(breakout),
            by: None,
        });
    }
    if state.locations.get(&me) != Some(&breakout) {
        events.push(Event::Located {
            room: main,
            person_id: me,
            location: breakout,
        });
    }
    Ok(events)
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

/// Applies a breakout event to the state. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    let main = state.id();
    // Everyone in the rooms `from` picks out goes back: main-room members to the main room,
    // breakout-only members (guests) to their own room.
    let back_to_main = |state: &mut RoomState, from: &dyn Fn(RoomId) -> bool| {
        let movers: Vec<(PersonId, RoomId)> = state
            .locations
            .iter()
            .filter(|(_, loc)| **loc != main && from(**loc))
            .filter_map(|(p, loc)| {
                let to = if state.role(main, *p).is_some() {
                    Some(main)
                } else {
                    own_room(state, *p)
                };
                to.filter(|to| to != loc).map(|to| (*p, to))
            })
            .collect();
        for (p, to) in movers {
            state.locations.insert(p, to);
        }
    };
    match event {
        Event::BreakoutConfigured {
            config, ends_at, ..
        } => {
            state.breakout.config = config.clone();
            if state.breakout.status == Status::Running {
                state.breakout.ends_at = *ends_at;
            }
        }
        Event::BreakoutRoomsCreated { rooms, .. } => {
            for info in rooms {
                state.breakouts.insert(info.id, info.clone());
            }
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            let gone: HashSet<RoomId> = rooms.iter().copied().collect();
            back_to_main(state, &|r| gone.contains(&r));
            // Breakout-only members of a deleted room have nowhere left to be.
            state.locations.retain(|_, loc| !gone.contains(loc));
            for r in &gone {
                state.breakouts.remove(r);
                state.members.remove(r);
                state.breakout.closed.remove(r);
            }
            state.breakout.assignments.retain(|_, r| !gone.contains(r));
            state
                .breakout
                .help
                .retain(|_, h| !gone.contains(&h.breakout));
        }
        Event::Assigned {
            person_id,
            breakout,
            ..
        } => {
            match breakout {
                Some(b) => state.breakout.assignments.insert(*person_id, *b),
                None => state.breakout.assignments.remove(person_id),
            };
            // While a round runs a connected person moves with their assignment: unassigned, a
            // main-room member goes to the main room, a breakout-only member (a guest) back to
            // their own room.
            if state.breakout.is_live() && state.locations.contains_key(person_id) {
                let to = match breakout {
                    Some(b) => Some(*b),
                    None if state.role(main, *person_id).is_some() => Some(main),
                    None => own_room(state, *person_id),
                };
                if let Some(to) = to {
                    state.locations.insert(*person_id, to);
                }
            }
        }
        Event::AssignmentsReset { .. } => state.breakout.assignments.clear(),
        Event::AssignmentsImported { assignments, .. } => {
            state.breakout.assignments = assignments
                .iter()
                .map(|a| (a.person_id, a.breakout))
                .collect();
        }
        Event::BreakoutStarted {
            round,
            assignments,
            ends_at,
            started_at,
            ..
        } => {
            let s = &mut state.breakout;
            s.status = Status::Running;
            s.round = *round;
            s.started_at = Some(*started_at);
            s.ends_at = *ends_at;
            s.closes_at = None;
            s.closed.clear();
            s.answered.clear();
            s.assignments = assignments
                .iter()
                .map(|a| (a.person_id, a.breakout))
                .collect();
            for a in assignments {
                if let Some(loc) = state.locations.get_mut(&a.person_id) {
                    *loc = a.breakout;
                }
            }
        }
        Event::BreakoutClosing { closes_at, .. } => {
            state.breakout.status = Status::Closing;
            state.breakout.closes_at = Some(*closes_at);
        }
        Event::BreakoutStopped { .. } => {
            let s = &mut state.breakout;
            s.status = Status::Idle;
            s.started_at = None;
            s.ends_at = None;
            s.closes_at = None;
            s.closed.clear();
            s.help.clear();
            back_to_main(state, &|_| true);
        }
        Event::RoomsBroughtBack { rooms, .. } => {
            let rooms: HashSet<RoomId> = rooms.iter().copied().collect();
            state.breakout.closed.extend(rooms.iter().copied());
            state
                .breakout
                .help
                .retain(|_, h| !rooms.contains(&h.breakout));
            back_to_main(state, &|r| rooms.contains(&r));
        }
        Event::Located {
            person_id,
            location,
            ..
        } => {
            if let Some(loc) = state.locations.get_mut(person_id) {
                *loc = *location;
            }
        }
        Event::Connected {
            person_id,
            location,
            ..
        } => {
            state.locations.insert(*person_id, *location);
        }
        Event::Disconnected { person_id, .. } => {
            state.locations.remove(person_id);
        }
        Event::HelpRequested { request, .. } => {
            state.breakout.help.insert(request.id, request.clone());
        }
        Event::HelpAnswered { id, .. } => {
            state.breakout.help.remove(id);
            state.breakout.answered.insert(*id);
        }
        Event::ScheduleChanged { schedule, .. } => state.breakout.schedule = schedule.clone(),
        _ => {}
    }
}

pub mod import;
pub mod rotate;
pub mod schedule;
#[cfg(test)]
mod tests;
