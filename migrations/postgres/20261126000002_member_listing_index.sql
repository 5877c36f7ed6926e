-- Members are listed in the order they joined, keyset-paginated on (added_at, user_id).
CREATE INDEX project_members_added_idx ON project_members (project_id, added_at, user_id);
