-- Rhythm's schema on SQLite: the same tables, names and rules as PostgreSQL's
-- (migrations/postgres/), in SQLite's terms.
--
-- Representation, chosen so that SQLite's own comparisons give PostgreSQL's order:
-- - ids are 16-byte BLOBs (uuid bytes; BLOBs compare with memcmp, as uuid does);
-- - timestamps are INTEGER microseconds since the Unix epoch, UTC (PostgreSQL's precision;
--   integer order is time order, so keyset cursors work unchanged);
-- - dates are TEXT 'YYYY-MM-DD'; JSON is TEXT; ranks are TEXT compared byte by byte
--   (BINARY, SQLite's default collation).
-- Tables are STRICT, so a value of the wrong type is refused instead of stored.
-- Tables that other tables or the search index point at have an INTEGER PRIMARY KEY
-- (`seq`), because VACUUM may renumber an implicit rowid.

CREATE TABLE users (
    id            BLOB    NOT NULL,
    email         TEXT    NOT NULL,
    -- The email in Unicode lower case, written by the adapter: SQLite's lower() folds
    -- ASCII only, and uniqueness must hold for `Åsa@x` and `åsa@X` alike.
    email_key     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_format CHECK (
        length(email) BETWEEN 3 AND 254
        AND instr(email, '@') > 1
        AND instr(email, ' ') = 0
        AND instr(substr(email, instr(email, '@') + 1), '@') = 0
        AND length(email) > instr(email, '@')
    ),
    CONSTRAINT users_name_length CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT users_password_hash_present CHECK (password_hash <> '')
) STRICT;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_key);

CREATE TABLE refresh_tokens (
    id                 BLOB    NOT NULL,
    family_id          BLOB    NOT NULL,
    user_id            BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash         BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    rotated_at         INTEGER,
    revoked_at         INTEGER,
    session_expires_at INTEGER NOT NULL,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_hash_length CHECK (length(token_hash) = 32),
    CONSTRAINT refresh_tokens_expiry_after_creation CHECK (expires_at > created_at)
) STRICT;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_session_expires_idx ON refresh_tokens (session_expires_at);

CREATE TABLE projects (
    id            BLOB    NOT NULL,
    key           TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    issue_counter INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    archived_at   INTEGER,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_key_key UNIQUE (key),
    CONSTRAINT projects_key_format CHECK (
        length(key) BETWEEN 2 AND 10
        AND key GLOB '[A-Z]*'
        AND NOT key GLOB '*[^A-Z0-9]*'
    ),
    CONSTRAINT projects_name_length CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT projects_description_length CHECK (length(description) <= 10000),
    CONSTRAINT projects_issue_counter_non_negative CHECK (issue_counter >= 0)
) STRICT;
CREATE INDEX projects_live_created_idx ON projects (created_at, id) WHERE archived_at IS NULL;

CREATE TABLE project_members (
    project_id BLOB    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    CONSTRAINT project_members_pkey PRIMARY KEY (project_id, user_id),
    CONSTRAINT project_members_role_valid
        CHECK (role IN ('owner', 'maintainer', 'member', 'viewer'))
) STRICT, WITHOUT ROWID;
CREATE INDEX project_members_user_idx ON project_members (user_id, project_id, role);
CREATE INDEX project_members_added_idx ON project_members (project_id, added_at, user_id);

CREATE TABLE sprints (
    id           BLOB    NOT NULL,
    project_id   BLOB    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    goal         TEXT    NOT NULL DEFAULT '',
    starts_on    TEXT,
    ends_on      TEXT,
    state        TEXT    NOT NULL DEFAULT 'planned',
    started_at   INTEGER,
    completed_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CONSTRAINT sprints_pkey PRIMARY KEY (id),
    CONSTRAINT sprints_project_id_id_key UNIQUE (project_id, id),
    CONSTRAINT sprints_name_length CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT sprints_goal_length CHECK (length(goal) <= 10000),
    CONSTRAINT sprints_dates_format CHECK (
        (starts_on IS NULL OR starts_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')
        AND (ends_on IS NULL OR ends_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')
    ),
    CONSTRAINT sprints_dates_ordered CHECK (ends_on >= starts_on),
    CONSTRAINT sprints_state_valid CHECK (state IN ('planned', 'active', 'closed')),
    CONSTRAINT sprints_state_timestamps CHECK (
        (state = 'planned' AND started_at IS NULL AND completed_at IS NULL)
        OR (state = 'active' AND started_at IS NOT NULL AND completed_at IS NULL)
        OR (state = 'closed' AND started_at IS NOT NULL AND completed_at IS NOT NULL)
    )
) STRICT;
CREATE UNIQUE INDEX sprints_one_active_per_project ON sprints (project_id) WHERE state = 'active';
CREATE INDEX sprints_project_created_idx ON sprints (project_id, created_at, id);

CREATE TABLE issues (
    -- The search index's rowid: stable across VACUUM, and creation order.
    seq          INTEGER PRIMARY KEY,
    id           BLOB    NOT NULL,
    project_id   BLOB    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    title        TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL DEFAULT 'todo',
    priority     INTEGER NOT NULL DEFAULT 0,
    type         TEXT    NOT NULL DEFAULT 'task',
    assignee_id  BLOB    REFERENCES users (id),
    reporter_id  BLOB    NOT NULL REFERENCES users (id),
    sprint_id    BLOB,
    story_points INTEGER,
    rank         TEXT    NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    deleted_at   INTEGER,
    CONSTRAINT issues_id_key UNIQUE (id),
    CONSTRAINT issues_project_number_key UNIQUE (project_id, number),
    -- Not deferrable in SQLite: respacing writes ranks in two phases instead.
    CONSTRAINT issues_project_rank_key UNIQUE (project_id, rank),
    CONSTRAINT issues_sprint_same_project_fkey FOREIGN KEY (project_id, sprint_id)
        REFERENCES sprints (project_id, id),
    CONSTRAINT issues_number_positive CHECK (number > 0),
    CONSTRAINT issues_title_length CHECK (length(title) BETWEEN 1 AND 255),
    CONSTRAINT issues_description_length CHECK (length(description) <= 100000),
    CONSTRAINT issues_status_valid CHECK (
        status IN ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled')
    ),
    CONSTRAINT issues_priority_valid CHECK (priority BETWEEN 0 AND 4),
    CONSTRAINT issues_type_valid CHECK (type IN ('task', 'bug', 'feature', 'story')),
    CONSTRAINT issues_story_points_range CHECK (story_points BETWEEN 0 AND 1000),
    CONSTRAINT issues_rank_format CHECK (
        length(rank) BETWEEN 1 AND 255 AND NOT rank GLOB '*[^0-9A-Za-z]*'
    ),
    CONSTRAINT issues_version_positive CHECK (version >= 1),
    CONSTRAINT issues_resolved_iff_closed CHECK (
        (status IN ('done', 'cancelled')) = (resolved_at IS NOT NULL)
    )
) STRICT;

CREATE INDEX issues_created_idx  ON issues (project_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX issues_updated_idx  ON issues (project_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX issues_priority_idx ON issues (project_id, priority, id) WHERE deleted_at IS NULL;
CREATE INDEX issues_board_idx    ON issues (project_id, status, rank, story_points)
    WHERE deleted_at IS NULL;
CREATE INDEX issues_assignee_idx ON issues (project_id, assignee_id, created_at, id)
    WHERE deleted_at IS NULL AND assignee_id IS NOT NULL;
CREATE INDEX issues_sprint_board_idx ON issues (project_id, sprint_id, status, rank, story_points)
    WHERE deleted_at IS NULL AND sprint_id IS NOT NULL;
CREATE INDEX issues_reporter_idx ON issues (project_id, reporter_id, created_at, id)
    WHERE deleted_at IS NULL;
-- Foreign keys are checked through an index on the referring side (a user or sprint delete
-- would otherwise scan every issue).
CREATE INDEX issues_assignee_fk_idx ON issues (assignee_id) WHERE assignee_id IS NOT NULL;

CREATE TABLE issue_events (
    id         BLOB    NOT NULL,
    project_id BLOB    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    issue_id   BLOB    NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    actor_id   BLOB    NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL,
    changes    TEXT    NOT NULL DEFAULT '{}',
    at         INTEGER NOT NULL,
    CONSTRAINT issue_events_pkey PRIMARY KEY (id),
    CONSTRAINT issue_events_kind_valid CHECK (
        kind IN ('created', 'updated', 'moved', 'deleted', 'restored')
    ),
    CONSTRAINT issue_events_changes_object CHECK (json_type(changes) = 'object')
) STRICT;
CREATE INDEX issue_events_issue_idx ON issue_events (issue_id, at, id);

-- Board totals per project and status column, kept by triggers as on PostgreSQL, so a
-- board's counts cost six rows, not a scan of the project.
CREATE TABLE project_board_totals (
    project_id BLOB    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    issues     INTEGER NOT NULL DEFAULT 0,
    points     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT project_board_totals_pkey PRIMARY KEY (project_id, status)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER projects_board_totals AFTER INSERT ON projects
BEGIN
    INSERT INTO project_board_totals (project_id, status)
    VALUES (NEW.id, 'backlog'), (NEW.id, 'todo'), (NEW.id, 'in_progress'),
           (NEW.id, 'in_review'), (NEW.id, 'done'), (NEW.id, 'cancelled');
END;

CREATE TRIGGER issues_board_totals_insert AFTER INSERT ON issues
WHEN NEW.deleted_at IS NULL
BEGIN
    UPDATE project_board_totals
    SET issues = issues + 1, points = points + coalesce(NEW.story_points, 0)
    WHERE project_id = NEW.project_id AND status = NEW.status;
END;

CREATE TRIGGER issues_board_totals_update AFTER UPDATE OF status, story_points, deleted_at ON issues
WHEN OLD.status IS NOT NEW.status
    OR OLD.story_points IS NOT NEW.story_points
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    UPDATE project_board_totals
    SET issues = issues - 1, points = points - coalesce(OLD.story_points, 0)
    WHERE OLD.deleted_at IS NULL AND project_id = OLD.project_id AND status = OLD.status;
    UPDATE project_board_totals
    SET issues = issues + 1, points = points + coalesce(NEW.story_points, 0)
    WHERE NEW.deleted_at IS NULL AND project_id = NEW.project_id AND status = NEW.status;
END;

CREATE TRIGGER issues_board_totals_delete AFTER DELETE ON issues
WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE project_board_totals
    SET issues = issues - 1, points = points - coalesce(OLD.story_points, 0)
    WHERE project_id = OLD.project_id AND status = OLD.status;
END;

-- Sign-in attempt counters (PostgreSQL keeps them UNLOGGED; here they are ordinary rows).
CREATE TABLE sign_in_attempts (
    key               BLOB    NOT NULL,
    window_started_at INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    CONSTRAINT sign_in_attempts_pkey PRIMARY KEY (key),
    CONSTRAINT sign_in_attempts_key_length CHECK (length(key) = 32),
    CONSTRAINT sign_in_attempts_positive CHECK (attempts > 0)
) STRICT, WITHOUT ROWID;

-- Full-text search: an external-content FTS5 index over issues' title and description,
-- kept by triggers. `porter unicode61` stems English and folds case and diacritics; the
-- prefix indexes make the last word of a query (search-as-you-type) cheap.
CREATE VIRTUAL TABLE issues_fts USING fts5(
    title,
    description,
    content = 'issues',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2',
    prefix = '2 3 4'
);

CREATE TRIGGER issues_fts_insert AFTER INSERT ON issues
BEGIN
    INSERT INTO issues_fts (rowid, title, description)
    VALUES (NEW.seq, NEW.title, NEW.description);
END;

CREATE TRIGGER issues_fts_delete AFTER DELETE ON issues
BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, description)
    VALUES ('delete', OLD.seq, OLD.title, OLD.description);
END;

CREATE TRIGGER issues_fts_update AFTER UPDATE OF title, description ON issues
WHEN OLD.title IS NOT NEW.title OR OLD.description IS NOT NEW.description
BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, description)
    VALUES ('delete', OLD.seq, OLD.title, OLD.description);
    INSERT INTO issues_fts (rowid, title, description)
    VALUES (NEW.seq, NEW.title, NEW.description);
END;
