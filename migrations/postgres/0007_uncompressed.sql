-- The large texts (a start's event and its assignment snapshot: about 1.2 MB each at 30,000
-- people) are stored out of line without compression. PostgreSQL's default compression (pglz)
-- took 30-40 ms per such value inside the commit and saved 3 % on JSON full of ids; without it
-- the write takes about 3 ms. Values below the TOAST threshold (2 kB: nearly every event) were
-- never compressed anyway. The SQLite store is unchanged (it compresses nothing).
ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;
ALTER TABLE breakout_sessions ALTER COLUMN assignments SET STORAGE EXTERNAL;
