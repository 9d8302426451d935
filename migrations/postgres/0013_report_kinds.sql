-- The session report records more than rooms: time in the call, with camera or microphone on,
-- waiting for help, and broadcasts (a stay of no length). `kind` says which; `detail` carries a
-- help request's outcome or a broadcast's text. `under_way` marks a checkpoint of a stay still under
-- way (it ends where the checkpoint was taken): replaced by each checkpoint, ignored by reports,
-- and kept as the stay's last known extent if Huddle stopped without closing it.
ALTER TABLE stays ADD COLUMN kind TEXT NOT NULL DEFAULT 'room';
ALTER TABLE stays ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE stays ADD COLUMN under_way INTEGER NOT NULL DEFAULT 0;
-- Settling a checkpoint looks each stay up by person and start: without this index PostgreSQL,
-- before its first ANALYZE of the table, plans a nested loop that scans the room's rows once per
-- stay (28 s for 10,000 people). SQLite builds a set for the lookup by itself and needs none.
CREATE INDEX stays_by_person ON stays(main_id, person_id, started_at);
