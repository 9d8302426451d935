//! What the routes about a main room share: finding the main room a path names (a breakout
//! room's id is refused), running a breakout command on it, and the answer of a command that
//! returns nothing but where the stream is ([`Done`]).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, PathIds};
use crate::App;
use crate::domain::breakout::BreakoutCommand;
use crate::domain::room::Command;
use crate::ids::{PersonId, RoomId};

/// The main room named in the path, refusing a breakout room's id.
pub(super) async fn main_room(app: &App, ids: &PathIds, me: PersonId) -> Result<RoomId, ApiError> {
    let room: RoomId = ids.get("room")?;
    let is_main = app
        .rooms
        .inspect(room, move |state, _| {
            state.has_access(me).then(|| state.id() == room)
        })
        .await?;
    match is_main {
        Some(true) => Ok(room),
        Some(false) => Err(ApiError::not_found("room")),
        None => Err(ApiError::not_found("room")),
    }
}

/// Runs a breakout command on the main room named in the path.
pub(super) async fn run(
    app: &App,
    auth: &Auth,
    ids: &PathIds,
    command: BreakoutCommand,
) -> Result<(RoomId, crate::contract::Committed), ApiError> {
    let room = main_room(app, ids, auth.person.id).await?;
    let committed = app
        .rooms
        .command(room, auth.caller(), Command::Breakout(command))
        .await?;
    Ok((room, committed))
}

/// Runs a command and answers where the stream is after it.
pub(super) async fn done(
    app: &App,
    auth: &Auth,
    ids: &PathIds,
    command: BreakoutCommand,
) -> Result<Json<Done>, ApiError> {
    let (_, committed) = run(app, auth, ids, command).await?;
    Ok(Json(Done { seq: committed.seq }))
}

/// Where the stream is after a command.
#[derive(Serialize, ToSchema)]
pub struct Done {
    /// The main room's stream position after the command.
    pub seq: u64,
}
