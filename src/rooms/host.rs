//! What this node's rooms do for the layers below them, which know the rooms only through a
//! trait of their own: the cluster bus ([`Host`]: commands and calls other nodes forward here)
//! and the recordings ([`Commander`]: a recording's end, committed to its room).

use std::sync::Arc;

use async_trait::async_trait;

use super::Rooms;
use crate::cluster::bus::{Host, Presence, RelayedCall};
use crate::contract::{CommandId, Commander, Committed, RoomError};
use crate::domain::room::{Caller, Command};
use crate::ids::{PersonId, RoomId};
use crate::realtime::Connections;
use crate::store::StayRow;

#[async_trait]
impl Host for Rooms {
    async fn command_here(
        self: Arc<Self>,
        stream: RoomId,
        caller: Caller,
        command: Command,
        id: CommandId,
    ) -> Result<Committed, RoomError> {
        Rooms::command_here(&self, stream, caller, command, Some(id)).await
    }

    async fn under_way_here(self: Arc<Self>, stream: RoomId) -> Result<Vec<StayRow>, RoomError> {
        Rooms::under_way_here(&self, stream).await
    }

    async fn attach_here(self: Arc<Self>, stream: RoomId, people: Vec<PersonId>) {
        Rooms::attach_here(&self, stream, &people).await
    }

    async fn presence(self: Arc<Self>, presence: Presence) {
        Rooms::presence(&self, presence).await
    }

    async fn relayed_call(self: Arc<Self>, call: RelayedCall) {
        Rooms::relayed_call(&self, call).await
    }

    fn wake(self: Arc<Self>, stream: RoomId) {
        Rooms::wake(&self, stream)
    }

    fn connections(&self) -> &Connections {
        Rooms::connections(self)
    }
}

#[async_trait]
impl Commander for Rooms {
    async fn command(
        self: Arc<Self>,
        stream: RoomId,
        caller: Caller,
        command: Command,
    ) -> Result<Committed, RoomError> {
        Rooms::command(&self, stream, caller, command).await
    }
}
