-- Each breakout round once it ended: who was assigned to which room when it started (the
-- snapshot breakout_sessions.assignments held, copied as it stood), when it started and ended.
-- The rotation planner reads who already met from here; the session report will too.
CREATE TABLE breakout_rounds (
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    round       INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    assignments TEXT NOT NULL,
    PRIMARY KEY (main_id, round)
);
