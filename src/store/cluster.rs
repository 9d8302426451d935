//! The cluster's tables: node heartbeats and stream ownership with its fencing token.
//!
//! A node claims a stream when nobody alive owns it; the claim raises the stream's `epoch`, which
//! is the node's fencing token from then on. Every commit of the owner first runs [`advance`] in
//! its transaction: it checks that the node still holds the claim with that epoch and that the
//! stream is where the node believes it is (`last_seq`), and moves `last_seq` on. A node that was
//! paused or cut off while another took over finds its claim gone and commits nothing.
//!
//! Times are milliseconds from the nodes' clocks (kept in step by NTP; the liveness limit is
//! seconds, far above their skew).

use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::ids::RoomId;

/// A node's claim on a stream: what each of its commits must still hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The node.
    pub node: String,
    /// The claim's epoch: higher than every earlier claim's.
    pub epoch: u64,
}

/// The outcome of claiming a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The stream is this node's, from the stream's `last_seq` on.
    Won {
        /// The fencing token.
        fence: Fence,
        /// The stream's last stored sequence number.
        last_seq: u64,
    },
    /// Another node owns it and is alive.
    Held {
        /// Which.
        node: String,
    },
}

/// A node as its heartbeat row shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// Its id.
    pub node_id: String,
    /// Where it serves HTTP.
    pub address: String,
    /// When it started, ms.
    pub started_at: i64,
    /// Its last heartbeat, ms.
    pub seen_at: i64,
}

/// A stream and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRow {
    /// The main room.
    pub stream: RoomId,
    /// The owning node (empty: given up).
    pub node_id: String,
    /// The claim's epoch.
    pub epoch: u64,
    /// The last sequence number committed under it.
    pub last_seq: u64,
}

/// Writes a node's heartbeat.
pub(super) async fn heartbeat(
    conn: &mut AnyConnection,
    node: &str,
    address: &str,
    started_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO nodes (node_id, address, started_at, seen_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, \
         started_at = excluded.started_at, seen_at = excluded.seen_at",
    )
    .bind(node.to_owned())
    .bind(address.to_owned())
    .bind(started_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every node that ever beat, newest heartbeat first.
pub(super) async fn nodes(conn: &mut AnyConnection) -> Result<Vec<NodeRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT node_id, address, started_at, seen_at FROM nodes ORDER BY seen_at DESC, node_id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(NodeRow {
                node_id: r.try_get("node_id")?,
                address: r.try_get("address")?,
                started_at: r.try_get("started_at")?,
                seen_at: r.try_get("seen_at")?,
            })
        })
        .collect()
}

/// Every owned stream, by node.
pub(super) async fn owners(conn: &mut AnyConnection) -> Result<Vec<OwnerRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT stream_id, node_id, epoch, last_seq FROM stream_owners ORDER BY node_id, stream_id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OwnerRow {
                stream: super::rows::parse("stream id", &r.try_get::<String, _>("stream_id")?)?,
                node_id: r.try_get("node_id")?,
                epoch: r.try_get::<i64, _>("epoch")? as u64,
                last_seq: r.try_get::<i64, _>("last_seq")? as u64,
            })
        })
        .collect()
}

/// Claims `stream` for `node` unless another node whose heartbeat is at least `alive_since` owns
/// it. Runs in the caller's transaction; once it returns `Won`, no earlier owner can commit.
pub(super) async fn claim(
    conn: &mut AnyConnection,
    stream: RoomId,
    node: &str,
    alive_since: i64,
    gone: Option<&str>,
) -> Result<Claim, StoreError> {
    let id = stream.to_string();
    let inserted = sqlx::query(
        "INSERT INTO stream_owners (stream_id, node_id, epoch, last_seq) VALUES ($1, $2, 1, 0) \
         ON CONFLICT (stream_id) DO NOTHING",
    )
    .bind(id.clone())
    .bind(node.to_owned())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let taken = inserted == 1
        || sqlx::query(
            "UPDATE stream_owners SET node_id = $1, epoch = epoch + 1 WHERE stream_id = $2 \
             AND (node_id = $1 OR node_id = '' OR node_id = $4 \
                  OR node_id NOT IN (SELECT node_id FROM nodes WHERE seen_at >= $3))",
        )
        .bind(node.to_owned())
        .bind(id.clone())
        .bind(alive_since)
        // An owner NATS says is gone is taken over whatever its heartbeat says; '' matches the
        // given-up owner, already allowed.
        .bind(gone.unwrap_or("").to_owned())
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
    if !taken {
        let holder: String = sqlx::query("SELECT node_id FROM stream_owners WHERE stream_id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("node_id")?;
        return Ok(Claim::Held { node: holder });
    }
    // The row is locked by this transaction now: an earlier owner's commit waits for it and then
    // finds a new epoch. So every event it did commit is visible to this statement.
    sqlx::query(
        "UPDATE stream_owners SET last_seq = \
         (SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream_id = $1) WHERE stream_id = $1",
    )
    .bind(id.clone())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT epoch, last_seq FROM stream_owners WHERE stream_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Claim::Won {
        fence: Fence {
            node: node.to_owned(),
            epoch: row.try_get::<i64, _>("epoch")? as u64,
        },
        last_seq: row.try_get::<i64, _>("last_seq")? as u64,
    })
}

/// The fence of a commit: `fence` still holds `stream` at `from`; it moves on to `to`.
pub(super) async fn advance(
    conn: &mut AnyConnection,
    stream: RoomId,
    fence: &Fence,
    from: u64,
    to: u64,
) -> Result<(), StoreError> {
    let held = sqlx::query(
        "UPDATE stream_owners SET last_seq = $1 \
         WHERE stream_id = $2 AND node_id = $3 AND epoch = $4 AND last_seq = $5",
    )
    .bind(to as i64)
    .bind(stream.to_string())
    .bind(fence.node.clone())
    .bind(fence.epoch as i64)
    .bind(from as i64)
    .execute(conn)
    .await?
    .rows_affected()
        == 1;
    if held {
        Ok(())
    } else {
        Err(StoreError::Fenced)
    }
}

/// Gives a stream up (the node unloads it or stops): another node may claim it at once.
pub(super) async fn release(
    conn: &mut AnyConnection,
    stream: RoomId,
    fence: &Fence,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE stream_owners SET node_id = '' WHERE stream_id = $1 AND node_id = $2 AND epoch = $3",
    )
    .bind(stream.to_string())
    .bind(fence.node.clone())
    .bind(fence.epoch as i64)
    .execute(conn)
    .await?;
    Ok(())
}
