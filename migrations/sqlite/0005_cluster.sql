-- Several nodes on one PostgreSQL (cluster mode; see docs/cluster.md). The tables exist on
-- SQLite too, so that one store serves both, but a single node never writes them.

-- Each node's heartbeat: a node whose `seen_at` is older than the liveness limit is gone.
CREATE TABLE nodes (
    node_id    TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- Which node owns each main room's stream. `epoch` is the fencing token: it grows with every
-- claim, and each commit first checks-and-advances (node, epoch, last_seq) in its transaction,
-- so a node that lost the stream can never commit to it again. An empty `node_id` is a stream
-- given up on purpose, free to claim at once.
CREATE TABLE stream_owners (
    stream_id TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    epoch     BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL
);
CREATE INDEX stream_owners_node ON stream_owners(node_id);

-- The command whose events these are, when it came with an id (a command forwarded between
-- nodes): a retry of it, after its answer was lost in a failover, finds it done.
ALTER TABLE events ADD COLUMN command_id TEXT;
CREATE INDEX events_command ON events(stream_id, command_id);
