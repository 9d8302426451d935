-- Breakout sessions: one row per main room (with an assignment snapshot), assignment changes, rooms closed during the current round,
-- and open help requests. Locations are not stored: they live in memory (see docs/architecture.md).

CREATE TABLE breakout_sessions (
    room_id    TEXT PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    config     TEXT NOT NULL, -- BreakoutConfig as JSON, `enabled` among its fields
    status     TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'closing')),
    round      BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT,
    ends_at    BIGINT,
    closes_at  BIGINT,
    -- The assignments as the last round started them: {"BREAKOUT_ID": ["PERSON_ID", …]}.
    -- Changes since then are rows of breakout_assignments, which override it.
    assignments TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO breakout_sessions (room_id, config)
    SELECT id, '{}' FROM rooms WHERE parent_id IS NULL;

-- Per-person assignments made since the snapshot in breakout_sessions.assignments; a NULL
-- breakout_id means "unassigned". A start folds everything into a new snapshot and clears these.
CREATE TABLE breakout_assignments (
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    person_id   TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    breakout_id TEXT REFERENCES rooms(id) ON DELETE CASCADE,
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
    created_at   BIGINT NOT NULL
);
CREATE INDEX help_requests_main ON help_requests(main_id);
