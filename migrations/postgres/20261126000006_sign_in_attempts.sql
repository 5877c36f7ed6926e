-- Sign-in rate-limit counters, shared by every replica (one row per client address or email,
-- keyed by a SHA-256 digest so no address or email is stored here).
-- UNLOGGED: counters are worth no WAL; after a crash they start from zero, which only
-- forgives attempts of the last minute.
CREATE UNLOGGED TABLE sign_in_attempts (
    key bytea PRIMARY KEY CHECK (octet_length(key) = 32),
    window_started_at timestamptz NOT NULL,
    attempts integer NOT NULL CHECK (attempts > 0)
);
