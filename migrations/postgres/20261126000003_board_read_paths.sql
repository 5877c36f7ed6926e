-- Read paths measured on the 1M-issue benchmark data set (docs/performance.md).
--
-- Board columns count their issues and sum their story points: with the points in the
-- index, each column is an index-only range scan instead of a visit to every heap row of
-- the project. It replaces the plain (project_id, status, rank) index.
CREATE INDEX issues_board_idx ON issues (project_id, status, rank) INCLUDE (story_points)
    WHERE deleted_at IS NULL;
DROP INDEX issues_status_rank_idx;

-- The same for a sprint's board: its issues by column, in rank order, with their points.
CREATE INDEX issues_sprint_board_idx ON issues (project_id, sprint_id, status, rank) INCLUDE (story_points)
    WHERE deleted_at IS NULL AND sprint_id IS NOT NULL;
