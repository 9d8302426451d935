-- Core schema: people, sessions, rooms (one level of breakout rooms), members, chat, events.
-- Ids are UUID text and times are milliseconds since the Unix epoch in both backends, so that one
-- set of queries serves SQLite and PostgreSQL.

CREATE TABLE people (
    id            TEXT PRIMARY KEY,
    email         TEXT UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- At most one row: inserted by the first-administrator setup, so two concurrent setups cannot both win.
CREATE TABLE setup_done (
    id BIGINT PRIMARY KEY CHECK (id = 1)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_person ON sessions(person_id);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES rooms(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX rooms_parent ON rooms(parent_id);

CREATE TABLE members (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'participant')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, person_id)
);
CREATE INDEX members_person ON members(person_id);

-- seq is the event sequence number of the main room's stream that posted the message.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    author_id   TEXT REFERENCES people(id) ON DELETE SET NULL,
    author_name TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'system', 'broadcast')),
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX messages_room_seq ON messages(room_id, seq);

-- The recent tail of each main room's event stream, for clients that resume after a reconnect.
CREATE TABLE events (
    stream_id  TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
