//! One WebSocket connection: subscribe to every stream the person may see, then forward queued
//! frames, answer resync requests, and ping.
//!
//! Frames the client receives, in order:
//! 1. `hello` — `{"type":"hello","room":null,"seq":0,"person_id":…,"streams":[{"stream":…,"seq":…}]}`
//!    naming each stream and its current sequence number, after any replay was queued;
//! 2. events — `{"type":…,"room":…,"seq":…,"stream":…, …}`, in `seq` order per stream;
//! 3. `resync` — `{"type":"resync","room":STREAM,"stream":STREAM,"seq":N}` when the client fell
//!    too far behind: reload the snapshot, then apply events after `N`.
//!
//! Clients may send `{"type":"dashboard","stream":MAIN,"open":true}` to receive the breakout
//! dashboard (rosters and live locations) of a main room, and `"open":false` to stop; the server
//! confirms with `{"type":"dashboard","stream":MAIN,"seq":N,"open":…}` from which event
//! on it applies.
//!
//! Calls are signalled on this same connection (`call_join`, `call_leave`, `call_media`,
//! `call_mute`, `call_pin`; see `docs/api.md`). They pass the person's and the main room's budget
//! here ([`crate::realtime::budget`], shared by all of a person's connections; a message over it is
//! answered `rate_limited` and the connection reads nothing more for [`READ_PAUSE`]), then the room
//! actor, which checks that the person is in the room, then the media server, whose answers
//! (`call_answer`, `call_state`, `call_muted`, `call_ended`, `call_error`) come back through the
//! connection's queue like events. The `hello` frame carries the call settings.
//!
//! Liveness: the server pings every `ping` interval (told by [`Connections::keep_alive`]) and
//! closes a connection it has not heard from (any frame, pongs included) for two intervals. A write
//! that blocks that long also closes it. The server also closes a connection whose session ended
//! (`4001`, sign in again) and a person's oldest when they open more than allowed (`4008`): see
//! [`crate::realtime::Close`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::time::{Instant, timeout};
use tracing::debug;

use crate::ids::{PersonId, RoomId};
use crate::metrics::Metrics;
use crate::realtime::budget::Exceeded;
use crate::realtime::frames::{call_error, dashboard_request, resync_frame};
use crate::realtime::{Connections, call};
use crate::rooms::Rooms;

/// What a connection needs from the server.
#[derive(Clone)]
pub struct WsContext {
    /// Room actors to subscribe to.
    pub rooms: Arc<Rooms>,
    /// The registry this connection joins.
    pub connections: Arc<Connections>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Frames a connection may have queued before it must resync.
    pub queue: usize,
    /// Ping interval.
    pub ping: Duration,
    /// Receive slots and ICE servers for calls, sent in `hello`.
    pub call_config: Arc<crate::media::ClientConfig>,
}

/// Runs one connection until the client leaves, stops answering, or the server shuts down.
pub async fn serve_socket(
    socket: WebSocket,
    (person, session): (PersonId, String),
    resume: HashMap<RoomId, u64>,
    ctx: WsContext,
) {
    let (conn, mut queue) = ctx.connections.register(person, Some(&session), ctx.queue);
    ctx.metrics.ws_connections.inc();
    let mut socket = socket;

    let mut streams = Vec::new();
    match ctx.rooms.store().streams_of(person).await {
        Ok(ids) => {
            for stream in ids {
                let since = resume.get(&stream).copied();
                if let Ok(subscribed) = ctx.rooms.subscribe(stream, conn.clone(), since).await {
                    // `room` repeats `stream` for clients of the last release (docs/api.md).
                    let mut entry = serde_json::json!({ "stream": stream, "room": stream, "seq": subscribed.seq });
                    if let Some(node) = subscribed.call_node {
                        entry["call_node"] = node.into();
                    }
                    streams.push(entry);
                }
            }
        }
        Err(e) => debug!(error = %e, "listing streams failed"),
    }
    let hello = serde_json::json!({
        "type": "hello", "room": null, "seq": 0, "person_id": person, "streams": streams,
        "call": ctx.call_config.for_person(person, time::OffsetDateTime::now_utc()),
    });
    let mut open = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();

    let mut last_heard = Instant::now();
    let write_timeout = ctx.ping * 2;
    let mut batch: Vec<Utf8Bytes> = Vec::with_capacity(BATCH);
    // Over the call budget, the connection stops reading for a moment: what a flooding client
    // sends then waits in its own socket buffers, not in this server's CPU.
    let mut paused: Option<Instant> = None;
    while open {
        // Biased, queued frames first: a wake-up for a frame then polls nothing else. Pongs are
        // read before the liveness check, so a busy connection is never mistaken for a dead one.
        tokio::select! {
            biased;
            taken = queue.recv_many(&mut batch, BATCH) => {
                if taken == 0 {
                    break;
                }
                // Whatever else is queued goes out in the same flush; an empty frame is only a
                // wake-up (see `ConnHandle::take_attention`).
                let sent = batch.iter().filter(|f| !f.is_empty()).count();
                if sent > 0 {
                    let frames = batch.drain(..).filter(|f| !f.is_empty()).map(Message::Text);
                    open = write(&mut socket, frames, write_timeout).await;
                    if open {
                        ctx.metrics.events_sent.inc_by(sent as u64);
                    }
                }
                batch.clear();
                if open && conn.take_attention() {
                    match attend(&mut socket, &conn, &mut queue, &ctx, last_heard, write_timeout).await {
                        Attended::Go => {}
                        Attended::Closed => open = false,
                        Attended::Leave => break,
                    }
                }
            }
            () = async {
                if let Some(at) = paused {
                    tokio::time::sleep_until(at).await;
                }
            }, if paused.is_some() => paused = None,
            msg = socket.recv(), if paused.is_none() => match msg {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    // Say why before going: a message over the size limit is 1009 (too big),
                    // anything else unreadable 1002 (protocol error).
                    let text = e.to_string();
                    let close = if text.contains("too long") || text.contains("Space limit") {
                        close_frame(1009, "message too big")
                    } else {
                        close_frame(1002, "unreadable frame")
                    };
                    debug!(error = %text, "closing an unreadable WebSocket");
                    let _ = write(&mut socket, std::iter::once(close), write_timeout).await;
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    if let Some((stream, open)) = dashboard_request(&text) {
                        ctx.rooms.dashboard(stream, conn.id, open).await;
                    } else if let Some(request) = call::parse(&text, |stream| {
                        ctx.connections
                            .take_call_budget(person, stream)
                            .map_err(|exceeded| {
                                paused = Some(Instant::now() + READ_PAUSE);
                                rate_limited(stream, exceeded)
                            })
                    }) {
                        match request {
                            Ok((stream, request)) => {
                                ctx.rooms.call(stream, conn.clone(), request).await;
                            }
                            Err(frame) => {
                                let _ = conn.offer(&frame);
                            }
                        }
                    }
                }
                Some(Ok(_)) => last_heard = Instant::now(),
            },
        }
    }

    ctx.connections.unregister(&conn);
    for stream in conn.subscribed_streams() {
        ctx.rooms.unsubscribe(stream, conn.id).await;
    }
    ctx.metrics.ws_connections.dec();
}

/// What became of the connection after its task looked at its flags.
enum Attended {
    /// Carry on.
    Go,
    /// A write failed.
    Closed,
    /// Close frame sent: leave.
    Leave,
}

/// Acts on the flags set for the connection: the server's shutdown, a ping due, resyncs.
async fn attend(
    socket: &mut WebSocket,
    conn: &crate::realtime::ConnHandle,
    queue: &mut tokio::sync::mpsc::Receiver<Utf8Bytes>,
    ctx: &WsContext,
    last_heard: Instant,
    write_timeout: Duration,
) -> Attended {
    if let Some(close) = conn.closing() {
        let close = close_frame(close.code, close.reason);
        let _ = write(socket, std::iter::once(close), write_timeout).await;
        return Attended::Leave;
    }
    if conn.take_ping() {
        if last_heard.elapsed() > ctx.ping * 2 {
            debug!("closing a connection that stopped answering pings");
            let _ = write(
                socket,
                std::iter::once(close_frame(1001, "no pong")),
                write_timeout,
            )
            .await;
            return Attended::Leave;
        }
        let ping = Message::Ping(Default::default());
        if !write(socket, std::iter::once(ping), write_timeout).await {
            return Attended::Closed;
        }
    }
    if !conn.resync_requested() {
        return Attended::Go;
    }
    // Frames already queued predate the overflow: send them first, so that everything after the
    // `resync` frame is newer than it.
    let waiting = queue.len();
    let queued: Vec<Message> = std::iter::from_fn(|| queue.try_recv().ok())
        .take(waiting)
        .filter(|f| !f.is_empty())
        .map(Message::Text)
        .collect();
    let mut open = write(socket, queued.into_iter(), write_timeout).await;
    for stream in conn.take_resyncs() {
        // Follow the stream again from now; the client reloads what it missed.
        let Ok(subscribed) = ctx.rooms.subscribe(stream, conn.clone(), None).await else {
            continue;
        };
        let frame = resync_frame(stream, subscribed.seq);
        open = open && write(socket, std::iter::once(Message::Text(frame)), write_timeout).await;
    }
    if open { Attended::Go } else { Attended::Closed }
}

/// The `call_error` for a call message over the sender's or the room's budget.
fn rate_limited(stream: RoomId, exceeded: Exceeded) -> Utf8Bytes {
    call_error(
        stream,
        "rate_limited",
        match exceeded {
            Exceeded::Person => {
                "too many call messages from you (across your connections); slow down"
            }
            Exceeded::Room => "too many call messages in this room; try again in a moment",
        },
    )
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// How long a connection stops reading after a call message over its budget: the time the
/// person's budget takes to earn one message back.
const READ_PAUSE: Duration = Duration::from_millis(100);

/// Most frames written with one flush.
const BATCH: usize = 16;

/// Sends frames with one flush; false if the connection failed or stayed blocked for `limit`. The
/// timer is only armed when the socket cannot take the frames at once: in a fan-out to thousands
/// of connections, a timer per frame would be most of the work.
async fn write(
    socket: &mut WebSocket,
    frames: impl Iterator<Item = Message>,
    limit: Duration,
) -> bool {
    let mut send = std::pin::pin!(async {
        for frame in frames {
            socket.feed(frame).await?;
        }
        socket.flush().await
    });
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(result) => result.is_ok(),
        std::task::Poll::Pending => matches!(timeout(limit, send).await, Ok(Ok(()))),
    }
}
