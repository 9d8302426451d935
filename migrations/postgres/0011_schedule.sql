-- A schedule of rotation rounds under way (domain::breakout::schedule::Schedule as JSON), or
-- NULL. It changes only through `schedule_changed` events.
ALTER TABLE breakout_sessions ADD COLUMN schedule TEXT;
