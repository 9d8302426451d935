-- Breakout sessions: one row per main room, assignments, rooms closed during the current round,
-- and open help requests. Locations are not stored: they live in memory (see docs/architecture.md).

CREATE TABLE breakout_sessions (
    room_id    TEXT PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    enabled    INTEGER NOT NULL DEFAULT 0,
    config     TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'closing')),
    round      INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER,
    ends_at    INTEGER,
    closes_at  INTEGER
);
INSERT INTO breakout_sessions (room_id, config)
    SELECT id, '{}' FROM rooms WHERE parent_id IS NULL;

CREATE TABLE breakout_assignments (
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    person_id   TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    breakout_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (main_id, person_id)
);
CREATE INDEX breakout_assignments_breakout ON breakout_assignments(breakout_id);

CREATE TABLE breakout_closed (
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    breakout_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (main_id, breakout_id)
);

CREATE TABLE help_requests (
    id           TEXT PRIMARY KEY,
    main_id      TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    breakout_id  TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX help_requests_main ON help_requests(main_id);
