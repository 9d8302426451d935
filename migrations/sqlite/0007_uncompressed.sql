-- PostgreSQL's 0007 stores large texts uncompressed; SQLite compresses nothing, so there is
-- nothing to change here (kept so both stores have the same migrations).
SELECT 1;
