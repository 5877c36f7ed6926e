-- The search index, rebuilt with what search needs beyond title and description
-- (crates/rhythm-sqlite/src/search.rs):
--
-- - a third column, `search_scope`, holding one token per issue that names its project
--   ('p', the project id in lower-case hex, '0': a digit last, so the porter stemmer leaves
--   it alone). A search of one project matches `{search_scope} : "p…0" AND (query)`, which
--   FTS5 answers by intersecting doclists inside the index, newest first, stopping at the
--   project's share of candidates. Without it, a common word searched in a small project
--   would join every match of the word in the database to `issues` to find the few in scope.
--   User terms are matched in `{title description}` only, so they never reach this column.
-- - the index's content is a view, not `issues` itself: what FTS5 reads back from the
--   content (only the highlighter does) is the title and the first 10 000 characters of the
--   description (`HIGHLIGHT_INPUT_CHARS`), so highlighting a page of hits costs the same
--   however long the descriptions. The index itself holds every word of the description
--   (the triggers insert the full text), so a match further in still finds the issue.
--   The view also turns the highlighter's own marks (U+E000, U+E001), should the text hold
--   them, into U+E002: the same kind of character (private use), so the words and their
--   positions stay the same, and the adapter leaves U+E002 out of highlights.
-- - prefix indexes for every prefix length up to 12 characters (the first schema had 2 to 4):
--   the last word of a query is a prefix term, and FTS5 answers a prefix of a length it has
--   no index for by merging the doclists of every word that starts with it, once per
--   query, so `would*` over 100 000 issues costs 10 ms in each project's query. With the
--   index it is one doclist read lazily, newest first. The longer prefixes hold few entries
--   (only words that long have them): the index grows by a few percent.
-- Because the index holds more than the view shows, it must never be rebuilt with
-- `INSERT INTO issues_fts (issues_fts) VALUES ('rebuild')`: refill it from `issues`, as
-- below.

DROP TRIGGER issues_fts_insert;
DROP TRIGGER issues_fts_delete;
DROP TRIGGER issues_fts_update;
DROP TABLE issues_fts;

CREATE VIEW issues_fts_content AS
SELECT seq,
       replace(replace(title, char(57344), char(57346)), char(57345), char(57346)) AS title,
       replace(replace(substr(description, 1, 10000), char(57344), char(57346)),
               char(57345), char(57346)) AS description,
       'p' || lower(hex(project_id)) || '0' AS search_scope
FROM issues;

CREATE VIRTUAL TABLE issues_fts USING fts5(
    title,
    description,
    search_scope,
    content = 'issues_fts_content',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2',
    prefix = '2 3 4 5 6 7 8 9 10 11 12'
);

INSERT INTO issues_fts (rowid, title, description, search_scope)
SELECT seq, title, description, 'p' || lower(hex(project_id)) || '0' FROM issues;

CREATE TRIGGER issues_fts_insert AFTER INSERT ON issues
BEGIN
    INSERT INTO issues_fts (rowid, title, description, search_scope)
    VALUES (NEW.seq, NEW.title, NEW.description, 'p' || lower(hex(NEW.project_id)) || '0');
END;

CREATE TRIGGER issues_fts_delete AFTER DELETE ON issues
BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, description, search_scope)
    VALUES ('delete', OLD.seq, OLD.title, OLD.description,
            'p' || lower(hex(OLD.project_id)) || '0');
END;

-- An issue never changes project, so only its text is re-indexed.
CREATE TRIGGER issues_fts_update AFTER UPDATE OF title, description ON issues
WHEN OLD.title IS NOT NEW.title OR OLD.description IS NOT NEW.description
BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, description, search_scope)
    VALUES ('delete', OLD.seq, OLD.title, OLD.description,
            'p' || lower(hex(OLD.project_id)) || '0');
    INSERT INTO issues_fts (rowid, title, description, search_scope)
    VALUES (NEW.seq, NEW.title, NEW.description, 'p' || lower(hex(NEW.project_id)) || '0');
END;
