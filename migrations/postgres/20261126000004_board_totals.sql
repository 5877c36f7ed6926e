-- Per project, the live issues and story points of each board column, kept by triggers in
-- the same transaction as every issue write. The unfiltered board of a large project then
-- reads six numbers instead of counting tens of thousands of index entries per request.
-- Element k of each array is the k-th status in the order of the board's columns.
CREATE TABLE project_board_totals (
    project_id uuid     PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    issues     bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0}',
    points     bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0}',
    CONSTRAINT project_board_totals_shape CHECK (
        cardinality(issues) = 6 AND cardinality(points) = 6
    )
);

-- The position of a status among the board's columns (1-based), as in the domain's order.
CREATE FUNCTION rhythm_status_column(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN array_position(
        ARRAY['backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled'], status
    );

CREATE FUNCTION rhythm_project_board_totals_create() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO project_board_totals (project_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER projects_board_totals AFTER INSERT ON projects
    FOR EACH ROW EXECUTE FUNCTION rhythm_project_board_totals_create();

-- Applies an issue write to its project's totals: the old row leaves its column (if it was
-- live), the new row joins its column (if it is live), as one update of at most two array
-- elements. Writes that change none of status, points or liveness touch nothing; issues
-- never move between projects. One row per project is locked, so concurrent writes of one
-- project queue on it rather than deadlock on several.
CREATE FUNCTION rhythm_issue_board_totals() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    project uuid;
    -- Column, issue delta and point delta leaving (1) and joining (2).
    k1 integer;
    i1 bigint := 0;
    p1 bigint := 0;
    k2 integer;
    i2 bigint := 0;
    p2 bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status = NEW.status
            AND OLD.story_points IS NOT DISTINCT FROM NEW.story_points
            AND (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        project := OLD.project_id;
        IF OLD.deleted_at IS NULL THEN
            k1 := rhythm_status_column(OLD.status);
            i1 := -1;
            p1 := -COALESCE(OLD.story_points, 0);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        project := NEW.project_id;
        IF NEW.deleted_at IS NULL THEN
            k2 := rhythm_status_column(NEW.status);
            i2 := 1;
            p2 := COALESCE(NEW.story_points, 0);
        END IF;
    END IF;
    -- Two assignments to one element would not add up: merge them.
    IF k1 IS NULL OR k1 = k2 THEN
        k1 := k2;
        i1 := i1 + i2;
        p1 := p1 + p2;
        k2 := NULL;
    END IF;
    IF k1 IS NULL THEN
        RETURN NULL;
    ELSIF k2 IS NULL THEN
        UPDATE project_board_totals
        SET issues[k1] = issues[k1] + i1, points[k1] = points[k1] + p1
        WHERE project_id = project;
    ELSE
        UPDATE project_board_totals
        SET issues[k1] = issues[k1] + i1, points[k1] = points[k1] + p1,
            issues[k2] = issues[k2] + i2, points[k2] = points[k2] + p2
        WHERE project_id = project;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER issues_board_totals AFTER INSERT OR UPDATE OR DELETE ON issues
    FOR EACH ROW EXECUTE FUNCTION rhythm_issue_board_totals();

-- Rebuilds every project's totals from its issues: for existing data, and after bulk loads
-- that ran with the trigger disabled.
CREATE FUNCTION rhythm_recount_board_totals() RETURNS void
    LANGUAGE sql AS $$
    WITH counted AS (
        SELECT project_id, rhythm_status_column(status) AS k,
               count(*) AS n, COALESCE(sum(story_points), 0) AS points
        FROM issues WHERE deleted_at IS NULL GROUP BY 1, 2
    )
    INSERT INTO project_board_totals AS t (project_id, issues, points)
    SELECT p.id,
           ARRAY(SELECT COALESCE(c.n, 0) FROM generate_series(1, 6) AS g(k)
                 LEFT JOIN counted c ON c.project_id = p.id AND c.k = g.k ORDER BY g.k),
           ARRAY(SELECT COALESCE(c.points, 0) FROM generate_series(1, 6) AS g(k)
                 LEFT JOIN counted c ON c.project_id = p.id AND c.k = g.k ORDER BY g.k)
    FROM projects p
    ON CONFLICT (project_id) DO UPDATE SET issues = EXCLUDED.issues, points = EXCLUDED.points;
$$;

SELECT rhythm_recount_board_totals();
