-- Recordings of calls. A row is written when recording starts and completed when it stops; the
-- raw files live in DATA_DIR/recordings/<id>/ until the composed file has become a content item
-- (whose id is the recording's id), so a row stopped but not composed is a job still to do, and
-- survives a restart.

-- How long a recording plays.
ALTER TABLE content ADD COLUMN duration_ms BIGINT;

CREATE TABLE recordings (
    id              TEXT PRIMARY KEY,
    main_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    room_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    started_by      TEXT NOT NULL,
    started_by_name TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    stopped_at      BIGINT,
    stop_reason     TEXT,
    composed        BIGINT NOT NULL DEFAULT 0,
    error           TEXT
);
CREATE INDEX recordings_main ON recordings(main_id);
