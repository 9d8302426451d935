-- Group plans: named assignments a moderator prepares and loads before a round. A plan names
-- rooms and people as the CSV pre-assignment does (room name, display name, email) so that it
-- outlives the breakout rooms it was made from and loads exactly as that file would. `rooms` is
-- JSON: [{"name":…,"people":[{"email":…,"first_name":…,"last_name":…}]}].
CREATE TABLE breakout_plans (
    id          TEXT PRIMARY KEY,
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    rooms       TEXT NOT NULL,
    created_by  TEXT REFERENCES people(id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (main_id, name)
);
