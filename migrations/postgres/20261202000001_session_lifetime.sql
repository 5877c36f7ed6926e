-- An absolute lifetime per session (a login's chain of refresh tokens): rotation no longer
-- extends a session forever. Every token of a chain carries the chain's end; existing
-- chains end 90 days (the default RHYTHM_SESSION_MAX_AGE_SECS) after their login.
ALTER TABLE refresh_tokens ADD COLUMN session_expires_at timestamptz;

UPDATE refresh_tokens r
SET session_expires_at = COALESCE(
    (SELECT first.created_at FROM refresh_tokens first WHERE first.id = r.family_id),
    r.created_at
) + interval '90 days';

ALTER TABLE refresh_tokens ALTER COLUMN session_expires_at SET NOT NULL;

-- Pruning looks for chains whose every token is dead.
CREATE INDEX refresh_tokens_session_expires_idx ON refresh_tokens (session_expires_at);
