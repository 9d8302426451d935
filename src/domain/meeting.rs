//! Meetings scheduled inside a room (main or breakout): who may schedule and cancel them, and their
//! calendar form (RFC 5545), which is plain text and so pure.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::event::Event;
use super::room::{Caller, Ctx, RoomState};
use crate::ids::{MeetingId, PersonId, RoomId};

/// Longest meeting: one day.
pub const MAX_DURATION_MINS: u32 = 24 * 60;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// A scheduled meeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Meeting {
    /// Id.
    pub id: MeetingId,
    /// The room it takes place in.
    pub room_id: RoomId,
    /// Title.
    pub title: String,
    /// Plain-text description (may be empty).
    pub description: String,
    /// Start, milliseconds since the Unix epoch.
    pub starts_at: i64,
    /// Length in minutes.
    pub duration_mins: u32,
    /// Who scheduled it.
    pub created_by: PersonId,
    /// Their display name.
    pub created_by_name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Meeting {
    /// End, milliseconds since the Unix epoch.
    pub fn ends_at(&self) -> i64 {
        self.starts_at + i64::from(self.duration_mins) * 60_000
    }
}

/// A meeting to schedule, already validated.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NewMeeting {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Start.
    pub starts_at: i64,
    /// Minutes.
    pub duration_mins: u32,
    /// Also turn the main room's breakout rooms on or off (seed 001: "Breakout Rooms can be
    /// enabled when setting up a meeting"); owners and moderators of a main room only.
    pub breakout_rooms: Option<bool>,
}

/// A meeting command.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum MeetingCommand {
    /// Schedule a meeting in a room.
    Schedule {
        /// The room.
        room: RoomId,
        /// The meeting.
        meeting: NewMeeting,
    },
    /// Cancel a meeting (who scheduled it, or the room's owners and moderators).
    Cancel {
        /// The room named in the request.
        room: RoomId,
        /// Which.
        id: MeetingId,
    },
}

impl RoomState {
    /// The meetings of `room` that have not ended at `now`, soonest first (empty if `person` may
    /// not see the room).
    pub fn upcoming(&self, room: RoomId, person: PersonId, now: i64) -> Vec<&Meeting> {
        if !self.can_see(room, person) {
            return Vec::new();
        }
        let mut meetings: Vec<&Meeting> = self
            .meetings
            .values()
            .filter(|m| m.room_id == room && m.ends_at() > now)
            .collect();
        meetings.sort_by_key(|m| (m.starts_at, m.id));
        meetings
    }
}

/// Decides what a meeting command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: MeetingCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let me = caller.person_id;
    match command {
        MeetingCommand::Schedule { room, meeting } => {
            // Any member of a room may schedule in it, as in a team channel; a breakout room's
            // members schedule from inside it ("this room").
            let role = state
                .room(room)
                .and(state.effective_role(room, me))
                .ok_or(DomainError::NotFound("room"))?;
            let mut events = vec![Event::MeetingScheduled {
                room,
                meeting: Meeting {
                    id: MeetingId(ctx.uuid(0)),
                    room_id: room,
                    title: meeting.title,
                    description: meeting.description,
                    starts_at: meeting.starts_at,
                    duration_mins: meeting.duration_mins,
                    created_by: me,
                    created_by_name: caller.display_name.clone(),
                    created_at: ctx.now,
                },
            }];
            if let Some(enabled) = meeting.breakout_rooms {
                if room != state.id() || !role.manages() {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators of a main room turn its breakout rooms on or off",
                    ));
                }
                let session = &state.breakout;
                super::breakout::may_switch(session, enabled)?;
                if session.config.enabled != enabled {
                    events.push(Event::BreakoutConfigured {
                        room,
                        config: super::breakout::BreakoutConfig {
                            enabled,
                            ..session.config.clone()
                        },
                        ends_at: session.ends_at,
                    });
                }
            }
            Ok(events)
        }
        MeetingCommand::Cancel { room, id } => {
            let role = state
                .room(room)
                .and(state.effective_role(room, me))
                .ok_or(DomainError::NotFound("room"))?;
            let meeting = state
                .meetings
                .get(&id)
                .filter(|m| m.room_id == room)
                .ok_or(DomainError::NotFound("meeting"))?;
            if meeting.created_by != me && !role.manages() {
                return Err(DomainError::Forbidden(
                    "only who scheduled the meeting and the room's owners and moderators may cancel it",
                ));
            }
            Ok(vec![Event::MeetingCancelled { room, id }])
        }
    }
}

/// Applies a meeting event. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    match event {
        Event::MeetingScheduled { meeting, .. } => {
            state.meetings.insert(meeting.id, meeting.clone());
        }
        Event::MeetingCancelled { id, .. } => {
            state.meetings.remove(id);
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            state.meetings.retain(|_, m| !rooms.contains(&m.room_id));
        }
        _ => {}
    }
}

/// The meeting as an iCalendar file (RFC 5545): one `VEVENT` in UTC, CRLF line ends, lines folded
/// at 75 octets. `public_url` (Huddle's address) makes the UID globally unique and gives the
/// room's link.
pub fn ics(meeting: &Meeting, room_title: &str, public_url: &str, now: i64) -> String {
    let public_url = public_url.trim_end_matches('/');
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let url = format!("{public_url}/rooms/{}", meeting.room_id);
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Huddle//Huddle meetings//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@{}", meeting.id, host),
        format!("DTSTAMP:{}", utc(now)),
        format!("DTSTART:{}", utc(meeting.starts_at)),
        format!("DTEND:{}", utc(meeting.ends_at())),
        format!("SUMMARY:{}", text(&meeting.title)),
        format!("LOCATION:{}", text(room_title)),
        format!("URL:{url}"),
    ];
    if !meeting.description.is_empty() {
        lines.push(format!("DESCRIPTION:{}", text(&meeting.description)));
    }
    lines.extend(["END:VEVENT".to_owned(), "END:VCALENDAR".to_owned()]);
    let mut out = String::new();
    for line in lines {
        fold_line(&line, &mut out);
    }
    out
}

/// A UTC date-time in the form `19970714T173000Z`.
fn utc(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 sequence), ending in CRLF.
fn fold_line(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(title: &str, description: &str) -> Meeting {
        Meeting {
            id: MeetingId(uuid::Uuid::from_u128(7)),
            room_id: RoomId(uuid::Uuid::from_u128(8)),
            title: title.into(),
            description: description.into(),
            starts_at: 1_800_000_000_000,
            duration_mins: 90,
            created_by: PersonId(uuid::Uuid::from_u128(9)),
            created_by_name: "Ada \"the\" Host".into(),
            created_at: 0,
        }
    }

    #[test]
    fn ics_escapes_text_and_folds_long_lines() {
        let m = meeting("Plan; review, and\\more", &"é".repeat(100));
        let ics = ics(&m, "Main : Room 1", "https://huddle.example/", 0);
        assert!(ics.contains("SUMMARY:Plan\\; review\\, and\\\\more\r\n"));
        assert!(ics.contains("DTSTART:20270115T080000Z\r\n"));
        assert!(ics.contains("DTEND:20270115T093000Z\r\n"));
        assert!(ics.contains("UID:00000000-0000-0000-0000-000000000007@huddle.example\r\n"));
        assert!(
            ics.contains(
                "URL:https://huddle.example/rooms/00000000-0000-0000-0000-000000000008\r\n"
            )
        );
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{}", "é".repeat(100))));
    }
}
