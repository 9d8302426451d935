//! Newtype identifiers. A `RoomId` can never be passed where a `PersonId` is expected.
//!
//! Ids are UUIDv7 (time-ordered, so B-tree inserts stay local) and are stored as text, which lets one
//! SQL dialect serve both SQLite and PostgreSQL (see `store`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A room: a main room or one of its breakout rooms.
    RoomId
);
id_type!(
    /// A person: an account or a guest.
    PersonId
);
id_type!(
    /// A chat message.
    MessageId
);
id_type!(
    /// A help request.
    HelpId
);
id_type!(
    /// A content item: a file, link, application content or recording.
    ContentId
);
id_type!(
    /// An invitation by email.
    InvitationId
);
id_type!(
    /// A scheduled meeting.
    MeetingId
);
id_type!(
    /// A recording of a room's call.
    RecordingId
);
id_type!(
    /// A stored group plan of a main room.
    PlanId
);
