//! Full-text search on the `issues.search` tsvector (title weight A, description weight B),
//! GIN-indexed and maintained by the database, so results follow every write, deletion and
//! membership change at once.
//!
//! User text becomes a tsquery through `plainto_tsquery`, `phraseto_tsquery` and, for the
//! prefix term, `to_tsquery` on a word cleaned down to letters and digits: none of them can
//! raise an error, whatever the input.
//!
//! Ranking every match of a common word is what makes full-text search slow; here only a
//! bounded set of candidates is ranked, found in two steps within one statement:
//!
//! 1. each project of the scope walks its newest issues (an equal share of [`WINDOW`],
//!    backwards on the `(project_id, created_at)` index) until it has its share of
//!    [`CANDIDATES`] matches. A common word stops the walk after a few rows, so the cost
//!    does not grow with how common the word is;
//! 2. a project whose walk ended short of its share while older issues remain, but found
//!    some matches, knows the word's density there: when the rows still needed at that
//!    density (with a margin) fit in [`EXTEND_UP_TO`] shares of the window, it walks on
//!    that far. A word matching a few percent of issues is found this way in a few thousand
//!    more rows, cheaper than any index lookup for it;
//! 3. only projects still short after that — the word is rarer there — ask the GIN index
//!    for more matches: the most recent ones when those projects are small (narrowed by
//!    project on an index first), the first ones found when they are large (see
//!    [`NARROW_BY_PROJECT_UP_TO`]).
//!
//! The tsquery is written into the statement (not hidden in a CTE) and the statement is
//! planned for its actual values, so the planner sees each term's frequency.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::IssueFilter;
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::ports::SearchRepository;
use rhythm_domain::search::{
    CANDIDATES, HIGHLIGHT_INPUT_CHARS, Hit, HitKey, KEY_MATCH_SCORE, SearchQuery, TermKind,
};
use rhythm_domain::values::ProjectRef;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::db::{Sql, get};
use crate::issues::{issue_from_row, push_filters};
use crate::projects::project_ref_binds;

/// How many of the scope's newest issues are walked at most before turning to the index.
pub const WINDOW: i64 = 6000;

/// How far a project's second walk may go, in shares of [`WINDOW`]: the rows it would need
/// at the density its first walk saw, times [`EXTEND_MARGIN`], must fit.
pub const EXTEND_UP_TO: i64 = 2;

/// Extra rows the second walk takes beyond the expected need, so that a project with an
/// unlucky first walk still fills its share.
const EXTEND_MARGIN: f64 = 1.5;

/// Up to this many issues in the projects that need the index, its matches are narrowed by
/// project through the `project_id` index and the most recent taken; above, matching rows are
/// read until enough are in scope.
pub const NARROW_BY_PROJECT_UP_TO: i64 = 100_000;

/// Sentinels around highlighted words; HTML-escaping happens after, then they become `<mark>`.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';
/// Both sentinels, stripped from the text before highlighting.
const SENTINELS: &str = "\u{E000}\u{E001}";

/// Appends the condition that the tsvector `column` matches `query`. Every text match of the
/// adapter goes through here: a query that is nothing but exclusions once stop words are gone
/// (`the -login`) would match nearly everything, so it matches nothing. The second test has
/// no column in it, so PostgreSQL evaluates it once per statement, not per row.
pub(crate) fn push_text_match(qb: &mut Sql, column: &str, query: &SearchQuery) {
    qb.push(format!("({column} @@ "));
    push_tsquery(qb, query);
    qb.push(" AND querytree(");
    push_tsquery(qb, query);
    qb.push(") <> 'T')");
}

/// Appends the tsquery for `query` (an expression of type tsquery).
pub(crate) fn push_tsquery(qb: &mut Sql, query: &SearchQuery) {
    if query.groups.is_empty() {
        qb.push("''::tsquery");
        return;
    }
    qb.push("(");
    for (g, group) in query.groups.iter().enumerate() {
        if g > 0 {
            qb.push(" && ");
        }
        qb.push("(");
        for (t, term) in group.iter().enumerate() {
            if t > 0 {
                qb.push(" || ");
            }
            if term.negated {
                qb.push("!!");
            }
            match &term.kind {
                TermKind::Word(word) => {
                    qb.push("plainto_tsquery('english', ");
                    qb.bind(word.clone());
                }
                TermKind::Phrase(phrase) => {
                    qb.push("phraseto_tsquery('english', ");
                    qb.bind(phrase.clone());
                }
                TermKind::Prefix(word) => {
                    // `word` holds letters and digits only (the parser guarantees it).
                    qb.push("to_tsquery('english', ");
                    qb.bind(format!("{word}:*"));
                }
            }
            qb.push(")");
        }
        qb.push(")");
    }
    qb.push(")");
}

/// HTML-escapes a headline and turns the sentinels into `<mark>` tags, always balanced: a
/// stray end is dropped, a nested start ignored, an open mark closed at the end.
fn highlight(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    let mut open = false;
    for c in raw.chars() {
        match c {
            MARK_START if !open => {
                out.push_str("<mark>");
                open = true;
            }
            MARK_END if open => {
                out.push_str("</mark>");
                open = false;
            }
            MARK_START | MARK_END => {}
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

/// A walk over each listed project's issues, newest first: the part of the statement that
/// finds candidates without the text index.
struct Walk<'a> {
    as_of: OffsetDateTime,
    filter: &'a IssueFilter,
    query: &'a SearchQuery,
}

impl Walk<'_> {
    /// Appends `, <name> AS MATERIALIZED (…)`: for each row `p` of `projects` (which has a
    /// `project_id`), the ids of up to `wanted` matches among its issues created up to the
    /// walk's snapshot, newest first, after skipping `skip` issues (if any) and reading at
    /// most `rows`. The bounds are SQL expressions over `p` and `share`.
    fn push(
        &self,
        qb: &mut Sql,
        name: &str,
        projects: &str,
        skip: Option<&str>,
        rows: &str,
        wanted: &str,
    ) {
        qb.push(format!(
            ", {name} AS MATERIALIZED (
                 SELECT p.project_id, w.id FROM {projects} p CROSS JOIN share CROSS JOIN LATERAL (
                     SELECT w.id FROM (
                         SELECT i.id, i.search FROM issues i
                         WHERE i.project_id = p.project_id AND i.created_at <= "
        ));
        qb.bind(self.as_of);
        push_filters(qb, self.filter);
        // With the id, issues created at the same instant fall on one side of the boundary
        // between the two walks.
        qb.push(" ORDER BY i.created_at DESC, i.id DESC");
        if let Some(skip) = skip {
            qb.push(format!(" OFFSET {skip}"));
        }
        qb.push(format!(" LIMIT {rows}) w WHERE "));
        push_text_match(qb, "w.search", self.query);
        qb.push(format!(" LIMIT {wanted}) w)"));
    }
}

#[async_trait]
impl SearchRepository for PgStore {
    #[tracing::instrument(skip_all, fields(scoped = project.is_some()))]
    async fn search(
        &self,
        user: Uuid,
        project: Option<ProjectRef>,
        filter: &IssueFilter,
        page: &PageRequest<HitKey>,
        as_of: OffsetDateTime,
    ) -> Result<Option<Page<Hit, HitKey>>, RepoError> {
        let empty = SearchQuery { groups: Vec::new(), key: None };
        let query = filter.text.as_ref().unwrap_or(&empty);
        // The text condition is written out below, once.
        let filter = &IssueFilter { text: None, ..filter.clone() };
        let mut qb = Sql::new(
            "WITH scope AS MATERIALIZED (
                 SELECT p.id AS project_id, p.key AS project_key, p.issue_counter
                 FROM project_members m JOIN projects p ON p.id = m.project_id
                 WHERE m.user_id = ",
        );
        qb.bind(user);
        qb.push(" AND p.archived_at IS NULL");
        if let Some(project) = &project {
            let (id, key) = project_ref_binds(project);
            qb.push(" AND p.id = COALESCE(");
            qb.bind(id);
            qb.push("::uuid, (SELECT id FROM projects WHERE key = ");
            qb.bind(key.map(str::to_owned));
            qb.push("))");
        }
        // Each project's share of the window and of the candidates.
        qb.push("), share AS (SELECT ceil(");
        qb.bind(WINDOW);
        qb.push("::numeric / greatest(count(*), 1))::bigint AS walk, ceil(");
        qb.bind(CANDIDATES);
        qb.push("::numeric / greatest(count(*), 1))::bigint AS quota FROM scope)");
        // 1. Each project's newest issues, newest first, until its quota of matches: a
        //    common word stops the walk after a few rows.
        let walk = Walk { as_of, filter, query };
        walk.push(&mut qb, "recent", "scope", None, "share.walk", "share.quota");
        // 2. Projects whose walk ended short of the quota with older issues left, but found
        //    some: at the density seen, how many more rows would fill the quota? Those for
        //    which that is a bounded number walk on (skipping the rows already walked).
        qb.push(
            ", walked AS MATERIALIZED (
                 SELECT s.project_id, s.issue_counter,
                        (SELECT count(*) FROM recent r WHERE r.project_id = s.project_id) AS found
                 FROM scope s
             ), extension AS MATERIALIZED (
                 SELECT e.project_id, e.found, e.extra FROM (
                     SELECT w.project_id, w.found,
                            ceil((share.quota - w.found) * share.walk * ",
        );
        qb.bind(EXTEND_MARGIN);
        qb.push(
            "::float8 / w.found)::bigint AS extra
                     FROM walked w CROSS JOIN share
                     WHERE w.issue_counter > share.walk AND w.found BETWEEN 1 AND share.quota - 1) e
                 CROSS JOIN share
                 WHERE e.extra <= share.walk * ",
        );
        qb.bind(EXTEND_UP_TO);
        qb.push(")");
        walk.push(
            &mut qb,
            "further",
            "extension",
            Some("share.walk"),
            "p.extra",
            "share.quota - p.found",
        );
        // 3. Projects still short with older issues left after both walks — the word is too
        //    rare for a bounded walk, or rarer in older issues than in the newest: the index
        //    finds more of their matches. Where those projects are small, an index on
        //    `project_id` narrows the index's matches before any row is read, and the most
        //    recent are taken; where they hold many issues, reading that index costs more
        //    than reading matching rows until enough are in scope, so the project test is
        //    kept off the index (compared as text) and the first matches found are taken.
        qb.push(
            ", unfinished AS MATERIALIZED (
                 SELECT w.project_id, w.issue_counter
                 FROM walked w CROSS JOIN share LEFT JOIN extension e ON e.project_id = w.project_id
                 WHERE w.found + (SELECT count(*) FROM further f WHERE f.project_id = w.project_id)
                           < share.quota
                   AND w.issue_counter > share.walk + COALESCE(e.extra, 0)
             ), older_in_small AS (
                 SELECT i.id FROM issues i
                 WHERE (SELECT COALESCE(sum(issue_counter), 0) FROM unfinished) BETWEEN 1 AND ",
        );
        qb.bind(NARROW_BY_PROJECT_UP_TO);
        qb.push(" AND i.project_id = ANY(ARRAY(SELECT project_id FROM unfinished)) AND ");
        push_text_match(&mut qb, "i.search", query);
        qb.push(" AND i.created_at <= ");
        qb.bind(as_of);
        push_filters(&mut qb, filter);
        qb.push(" ORDER BY i.created_at DESC, i.id DESC LIMIT ");
        qb.bind(CANDIDATES);
        qb.push(
            "), older_in_large AS (
                 SELECT i.id FROM issues i
                 WHERE (SELECT COALESCE(sum(issue_counter), 0) FROM unfinished) > ",
        );
        qb.bind(NARROW_BY_PROJECT_UP_TO);
        qb.push(
            " AND i.project_id::text = ANY(ARRAY(SELECT project_id::text FROM unfinished)) AND ",
        );
        push_text_match(&mut qb, "i.search", query);
        qb.push(" AND i.created_at <= ");
        qb.bind(as_of);
        push_filters(&mut qb, filter);
        qb.push(" LIMIT ");
        qb.bind(CANDIDATES);
        qb.push("), key_match AS (SELECT i.id FROM issues i JOIN scope s ON s.project_id = i.project_id WHERE ");
        match &query.key {
            Some((key, number)) => {
                qb.push("s.project_key = ");
                qb.bind(key.as_str().to_owned());
                qb.push(" AND i.number = ");
                qb.bind(*number);
                qb.push(" AND i.created_at <= ");
                qb.bind(as_of);
                push_filters(&mut qb, filter);
            }
            None => {
                qb.push("false");
            }
        }
        qb.push("), ranked AS (SELECT ");
        crate::issues::push_summary_columns(&mut qb);
        qb.push(", s.project_key, CASE WHEN i.id IN (SELECT id FROM key_match) THEN ");
        qb.bind(KEY_MATCH_SCORE);
        qb.push("::real ELSE ts_rank(i.search, ");
        push_tsquery(&mut qb, query);
        qb.push(
            ")::real END AS score
                 FROM (SELECT id FROM recent UNION SELECT id FROM further UNION SELECT id FROM older_in_small
                       UNION SELECT id FROM older_in_large
                       UNION SELECT id FROM key_match) c
                 JOIN issues i ON i.id = c.id
                 JOIN scope s ON s.project_id = i.project_id
             )
             SELECT v.visible, r.*, ts_headline('english', translate(r.title, ",
        );
        // The user's own text never holds a sentinel, so every mark is the highlighter's.
        qb.bind(SENTINELS);
        qb.push(", ''), ");
        push_tsquery(&mut qb, query);
        qb.push(", ");
        qb.bind(format!("StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true"));
        // The page's own rows only: the highlighter reads the start of the whole
        // description (the listed one is cut shorter).
        qb.push(") AS title_highlight, ts_headline('english', translate(left(d.description, ");
        qb.bind(HIGHLIGHT_INPUT_CHARS);
        qb.push("::int), ");
        qb.bind(SENTINELS);
        qb.push(", ''), ");
        push_tsquery(&mut qb, query);
        qb.push(", ");
        qb.bind(format!(
            "StartSel={MARK_START}, StopSel={MARK_END}, MaxFragments=2, MaxWords=20, MinWords=8"
        ));
        qb.push(
            ") AS description_highlight
             FROM (SELECT count(*) AS visible FROM scope) v
             LEFT JOIN LATERAL (SELECT * FROM ranked r",
        );
        if let Some(after) = &page.after {
            qb.push(" WHERE (r.score, r.created_at, r.id) < (");
            qb.bind(after.score);
            qb.push("::real, ");
            qb.bind(after.created_at);
            qb.push(", ");
            qb.bind(after.id);
            qb.push(")");
        }
        qb.push(" ORDER BY r.score DESC, r.created_at DESC, r.id DESC LIMIT ");
        qb.bind(page.limit.probe());
        qb.push(
            ") r ON true LEFT JOIN issues d ON d.id = r.id
             ORDER BY r.score DESC, r.created_at DESC, r.id DESC",
        );

        // Not a named prepared statement: plans must fit each query's actual terms and
        // scope, not a generic plan made for the first few.
        let rows = qb.fetch_all_unprepared(&self.conn().await?).await?;
        let visible: i64 = match rows.first() {
            Some(row) => get(row, "visible")?,
            None => 0,
        };
        if project.is_some() && visible == 0 {
            return Ok(None);
        }
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(project_key) = get::<Option<String>>(row, "project_key")? else {
                continue;
            };
            let Some(issue) = issue_from_row(row, &project_key)? else {
                continue;
            };
            let title: Option<&str> = get(row, "title_highlight")?;
            let description: Option<&str> = get(row, "description_highlight")?;
            hits.push(Hit {
                score: get(row, "score")?,
                title_highlight: highlight(title.unwrap_or_default()),
                description_highlight: highlight(description.unwrap_or_default()),
                project_key,
                issue,
            });
        }
        Ok(Some(Page::from_probe(hits, page.limit, |hit| HitKey {
            score: hit.score,
            created_at: hit.issue.created_at,
            id: hit.issue.id,
            as_of,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_escape_everything_but_the_marks() {
        let raw = format!("<b>{MARK_START}deploy{MARK_END}</b> & \"quotes\" 'too'");
        assert_eq!(
            highlight(&raw),
            "&lt;b&gt;<mark>deploy</mark>&lt;/b&gt; &amp; &quot;quotes&quot; &#39;too&#39;"
        );
    }

    #[test]
    fn highlights_are_balanced_whatever_the_sentinels() {
        let (s, e) = (MARK_START, MARK_END);
        for (raw, want) in [
            (format!("{e}a{s}b{s}c{e}d"), "a<mark>bc</mark>d"),
            (format!("{s}open"), "<mark>open</mark>"),
            (format!("{e}{e}x"), "x"),
        ] {
            assert_eq!(highlight(&raw), want, "{raw:?}");
        }
    }
}
