-- Content items, invitations by email (with their delivery state) and scheduled meetings.

-- Guests: people without an account who followed an invitation. They sign in only through the
-- session the invitation gave them; `invited_email` is where the invitation went (not unique:
-- the same address may later get an account).
ALTER TABLE people ADD COLUMN is_guest BIGINT NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN invited_email TEXT;

-- Files and recordings keep their bytes in DATA_DIR/content under their SHA-256, never under a
-- name the user chose; several items (a promoted copy) may share one file.
CREATE TABLE content (
    id              TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('file', 'link', 'app', 'recording')),
    title           TEXT NOT NULL,
    file_name       TEXT,
    content_type    TEXT,
    size            BIGINT,
    sha256          TEXT,
    url             TEXT,
    created_by      TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    promoted_from   TEXT -- Promotion as JSON, on the main-room copy of a promoted item
);
CREATE INDEX content_room ON content(room_id);
CREATE INDEX content_sha256 ON content(sha256);

-- Main-room items shared with breakout rooms.
CREATE TABLE content_shares (
    item_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (item_id, room_id)
);

-- One row per invitation, with the delivery of its email. The token of the link is made when the
-- email is sent and only its hash is kept; a retry makes a new token (the old link never arrived).
CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    main_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    room_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('moderator', 'participant')),
    external        BIGINT NOT NULL,
    invited_by      TEXT NOT NULL,
    invited_by_name TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked')),
    accepted_by     TEXT,
    closed_at       BIGINT,
    token_hash      TEXT UNIQUE,
    mail_status     TEXT NOT NULL DEFAULT 'queued' CHECK (mail_status IN ('queued', 'sent', 'retrying', 'failed')),
    mail_attempts   BIGINT NOT NULL DEFAULT 0,
    mail_error      TEXT,
    mail_next_at    BIGINT,
    mail_sent_at    BIGINT
);
CREATE INDEX invitations_main ON invitations(main_id);
CREATE INDEX invitations_mail ON invitations(mail_status, mail_next_at);

CREATE TABLE meetings (
    id              TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    starts_at       BIGINT NOT NULL,
    duration_mins   BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX meetings_room ON meetings(room_id, starts_at);
