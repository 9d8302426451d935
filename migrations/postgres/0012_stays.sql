-- The session report's raw material: each stay of a person in a room of a main room, written
-- when it ends (a row per change of place). The room's name is kept with it, so a stay in a
-- breakout room deleted since still reads by name. Rows older than the report's retention are
-- deleted as new ones are written.
CREATE TABLE stays (
    main_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    person_id  TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    room_id    TEXT NOT NULL,
    room_name  TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL
);
CREATE INDEX stays_by_main ON stays(main_id, ended_at);
