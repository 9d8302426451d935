-- A breakout room's activity (its task, documents and the result handed in this round), as JSON;
-- NULL for none. It goes with the room.
ALTER TABLE rooms ADD COLUMN activity TEXT;
