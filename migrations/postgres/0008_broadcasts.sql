-- A broadcast is one chat message in every breakout room open at the time (up to 300). It is
-- stored once here instead of as a row per room in messages: `targets` maps each room that got
-- it to the message id it has there, as JSON ({"ROOM":"MESSAGE",…}). A room's chat history
-- reads its own rows from messages and the broadcasts whose targets name it. Broadcasts stored
-- before this migration stay rows in messages and read as before.
CREATE TABLE broadcast_messages (
    main_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    author_id   TEXT REFERENCES people(id) ON DELETE SET NULL,
    author_name TEXT,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    targets     TEXT NOT NULL,
    PRIMARY KEY (main_id, seq)
);
