-- Row locks that serialize one kind of change per project: rank moves, membership changes.
-- They replace transaction-scoped advisory locks, which exist only on the server that took
-- them: a row lock is part of the data, so it holds wherever the project's rows live (a
-- promoted replica, a shard keyed by project_id). Nothing references these rows, so taking
-- one never waits for foreign-key checks or for the issue counter on the projects row.
CREATE TABLE project_locks (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    purpose    text NOT NULL,
    CONSTRAINT project_locks_pkey PRIMARY KEY (project_id, purpose),
    CONSTRAINT project_locks_purpose_valid CHECK (purpose IN ('ranks', 'members'))
);

INSERT INTO project_locks (project_id, purpose)
SELECT p.id, l.purpose FROM projects p CROSS JOIN (VALUES ('ranks'), ('members')) AS l (purpose);

-- Every project gets its lock rows with it, whichever way it is inserted.
CREATE FUNCTION rhythm_add_project_locks() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO project_locks (project_id, purpose) VALUES (NEW.id, 'ranks'), (NEW.id, 'members');
    RETURN NULL;
END
$$;

CREATE TRIGGER projects_add_locks AFTER INSERT ON projects
    FOR EACH ROW EXECUTE FUNCTION rhythm_add_project_locks();
