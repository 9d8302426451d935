//! Content items of a room (uploaded files, links, application content, recordings): who may add,
//! see, delete, share and promote them.
//!
//! The bytes of a file never reach the domain: the HTTP layer streams them to the blob store and
//! the command carries only their description ([`FileInfo`]). The rules:
//! - an item lives in one room and is seen by whoever may see that room;
//! - an item of the main room may be shared with some or all breakout rooms: then whoever may see
//!   such a breakout room sees the item there too (breakout-only members still never see the main
//!   room's own list);
//! - promoting an item of a breakout room copies it into the main room, marked with where it came
//!   from; the original stays. The copy outlives the breakout room (a copy, not a link).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::event::Event;
use super::room::{Caller, Ctx, RoomState};
use crate::ids::{ContentId, PersonId, RoomId};

/// What a content item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// An uploaded file.
    File,
    /// A link to a web page.
    Link,
    /// Application content: a title and a URL shown embedded.
    App,
    /// A meeting recording (a file).
    Recording,
}

impl ContentKind {
    /// The kind's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::File => "file",
            ContentKind::Link => "link",
            ContentKind::App => "app",
            ContentKind::Recording => "recording",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<ContentKind> {
        match s {
            "file" => Some(ContentKind::File),
            "link" => Some(ContentKind::Link),
            "app" => Some(ContentKind::App),
            "recording" => Some(ContentKind::Recording),
            _ => None,
        }
    }

    /// Files and recordings have bytes; links and application content have a URL.
    pub fn has_file(self) -> bool {
        matches!(self, ContentKind::File | ContentKind::Recording)
    }
}

/// The stored bytes of a file or recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileInfo {
    /// The file name shown and offered on download (a plain name, no path).
    pub name: String,
    /// The media type it is served with.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex: also where the bytes are stored.
    pub sha256: String,
    /// For a recording: how long it plays, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Where a promoted item came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Promotion {
    /// The breakout room.
    pub room: RoomId,
    /// Its name when the item was promoted.
    pub room_name: String,
    /// The original item (which stays in the breakout room).
    pub item: ContentId,
    /// Who promoted it.
    pub by: PersonId,
    /// Their display name.
    pub by_name: String,
}

/// A content item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContentItem {
    /// Id.
    pub id: ContentId,
    /// The room it lives in.
    pub room_id: RoomId,
    /// What it is.
    pub kind: ContentKind,
    /// Its title.
    pub title: String,
    /// For files and recordings.
    pub file: Option<FileInfo>,
    /// For links and application content: an `http(s)` URL.
    pub url: Option<String>,
    /// Who added it.
    pub created_by: PersonId,
    /// Their display name.
    pub created_by_name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Set on the main-room copy of a promoted item.
    pub promoted_from: Option<Promotion>,
    /// Breakout rooms a main-room item is shared with.
    #[serde(default)]
    pub shared_with: Vec<RoomId>,
}

/// A new item as the HTTP layer describes it, already validated.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NewContent {
    /// What it is.
    pub kind: ContentKind,
    /// Title.
    pub title: String,
    /// For files and recordings.
    pub file: Option<FileInfo>,
    /// For links and application content.
    pub url: Option<String>,
}

/// A content command.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum ContentCommand {
    /// Add an item to a room.
    Add {
        /// The room.
        room: RoomId,
        /// The item.
        item: NewContent,
    },
    /// Delete an item (its author, or a manager of its room).
    Delete {
        /// The room named in the request.
        room: RoomId,
        /// The item.
        id: ContentId,
    },
    /// Share a main-room item with these breakout rooms (`None`: all of them); replaces the list.
    Share {
        /// The item.
        id: ContentId,
        /// The breakout rooms.
        rooms: Option<Vec<RoomId>>,
    },
    /// Copy a breakout room's item into the main room.
    Promote {
        /// The breakout room named in the request.
        room: RoomId,
        /// The item.
        id: ContentId,
    },
}

impl RoomState {
    /// Whether `person` sees item `id` in `room`: it lives there, or it is shared there.
    pub fn item_in(&self, room: RoomId, id: ContentId, person: PersonId) -> Option<&ContentItem> {
        let item = self.content.get(&id)?;
        let here = item.room_id == room || item.shared_with.contains(&room);
        (here && self.can_see(room, person)).then_some(item)
    }

    /// The items `person` sees in `room`, oldest first.
    pub fn items_in(&self, room: RoomId, person: PersonId) -> Vec<&ContentItem> {
        if !self.can_see(room, person) {
            return Vec::new();
        }
        let mut items: Vec<&ContentItem> = self
            .content
            .values()
            .filter(|i| i.room_id == room || i.shared_with.contains(&room))
            .collect();
        items.sort_by_key(|i| (i.created_at, i.id));
        items
    }
}

/// Longest content title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Decides what a content command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: ContentCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let me = caller.person_id;
    let main = state.id();
    match command {
        ContentCommand::Add { room, item } => {
            state
                .room(room)
                .and(state.effective_role(room, me))
                .ok_or(DomainError::NotFound("room"))?;
            if item.kind.has_file() != item.file.is_some()
                || item.kind.has_file() == item.url.is_some()
            {
                return Err(DomainError::invalid(
                    "kind",
                    "files and recordings carry a file; links and application content a url",
                ));
            }
            Ok(vec![Event::ContentAdded {
                room,
                item: Box::new(ContentItem {
                    id: ContentId(ctx.uuid(0)),
                    room_id: room,
                    kind: item.kind,
                    title: item.title,
                    file: item.file,
                    url: item.url,
                    created_by: me,
                    created_by_name: caller.display_name.clone(),
                    created_at: ctx.now,
                    promoted_from: None,
                    shared_with: Vec::new(),
                }),
            }])
        }
        ContentCommand::Delete { room, id } => {
            let item = state
                .item_in(room, id, me)
                .ok_or(DomainError::NotFound("content item"))?;
            if item.room_id != room {
                return Err(DomainError::Forbidden(
                    "this item is shared from the main room; delete or unshare it there",
                ));
            }
            let manages = state.effective_role(room, me).is_some_and(|r| r.manages());
            if item.created_by != me && !manages {
                return Err(DomainError::Forbidden(
                    "only the item's author and the room's owners and moderators may delete it",
                ));
            }
            Ok(vec![Event::ContentDeleted {
                room,
                id,
                shared_with: item.shared_with.clone(),
            }])
        }
        ContentCommand::Share { id, rooms } => {
            let item = state
                .item_in(main, id, me)
                .ok_or(DomainError::NotFound("content item"))?;
            if !state.manages(me) {
                return Err(DomainError::Forbidden(
                    "only owners and moderators may share documents",
                ));
            }
            if item.room_id != main {
                return Err(DomainError::conflict(
                    "not_in_main_room",
                    "only items in the main room can be shared with breakout rooms",
                ));
            }
            let mut rooms = match rooms {
                None => state.breakouts.keys().copied().collect(),
                Some(rooms) => {
                    for r in &rooms {
                        if !state.breakouts.contains_key(r) {
                            return Err(DomainError::invalid(
                                "rooms",
                                format!("{r} is not a breakout room of this main room"),
                            ));
                        }
                    }
                    rooms
                }
            };
            rooms.sort();
            rooms.dedup();
            if rooms == item.shared_with {
                return Ok(vec![]);
            }
            Ok(vec![Event::ContentShared {
                room: main,
                id,
                rooms,
                previous: item.shared_with.clone(),
            }])
        }
        ContentCommand::Promote { room, id } => {
            let item = state
                .item_in(room, id, me)
                .ok_or(DomainError::NotFound("content item"))?;
            let Some(breakout) = state.breakouts.get(&room).filter(|_| item.room_id == room) else {
                return Err(DomainError::conflict(
                    "not_in_breakout_room",
                    "only items that live in a breakout room can be promoted to the main room",
                ));
            };
            if !state.manages(me) && !state.breakout.config.participants_promote {
                return Err(DomainError::Forbidden(
                    "promoting content is turned off for participants in this room",
                ));
            }
            if state
                .content
                .values()
                .any(|c| c.promoted_from.as_ref().is_some_and(|p| p.item == id))
            {
                return Err(DomainError::conflict(
                    "already_promoted",
                    "this item is already in the main room",
                ));
            }
            Ok(vec![Event::ContentAdded {
                room: main,
                item: Box::new(ContentItem {
                    id: ContentId(ctx.uuid(0)),
                    room_id: main,
                    promoted_from: Some(Promotion {
                        room,
                        room_name: breakout.name.clone(),
                        item: id,
                        by: me,
                        by_name: caller.display_name.clone(),
                    }),
                    shared_with: Vec::new(),
                    ..item.clone()
                }),
            }])
        }
    }
}

/// Applies a content event. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    match event {
        Event::ContentAdded { item, .. } => {
            state.content.insert(item.id, (**item).clone());
        }
        Event::ContentDeleted { id, .. } => {
            state.content.remove(id);
        }
        Event::ContentShared { id, rooms, .. } => {
            if let Some(item) = state.content.get_mut(id) {
                item.shared_with.clone_from(rooms);
            }
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            // Their items go with them; main-room items are no longer shared with them.
            state.content.retain(|_, i| !rooms.contains(&i.room_id));
            for item in state.content.values_mut() {
                item.shared_with.retain(|r| !rooms.contains(r));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
