//! Full-text search on the FTS5 index `issues_fts` (rowid = `issues.seq`, porter stemming,
//! kept by triggers, so results follow every write at once; schema in the migrations
//! `…0001_schema.sql` and `…0004_search_scope.sql`).
//!
//! The query language is PostgreSQL's ([`fts_query`] compiles it; user text only ever
//! lands inside FTS5 string literals). FTS5 finds the candidates: each project of the scope
//! asks the index for its newest matches (`{search_scope} : "p…" AND (query)`, newest rowid
//! first), up to its share of [`CANDIDATES`], so a common word stops after a few rows and a
//! rare one reads its short doclist; the index intersects the word with the project inside
//! its doclists, so a small project costs little however common the word is elsewhere.
//! "Newest" is the index's order, `seq`, which is creation order: issues are inserted by
//! one writer with the store's clock.
//!
//! The score is not `bm25()`: BM25 weighs a word by how rare it is in the whole index and a
//! row by its length against the average, so every insert moves every score, and a keyset
//! walk (score, then newest first) would repeat or skip hits while issues are created. Here a
//! score depends only on the issue and the query: how many matches the highlighter marks in
//! the title, then in the description (as far as it reads,
//! [`HIGHLIGHT_INPUT_CHARS`](rhythm_domain::search::HIGHLIGHT_INPUT_CHARS)), each part
//! saturating; any title match outranks any description-only match ([`score`]). The
//! candidates are few, so scoring, ordering and the keyset cut are done here, in Rust, on
//! the very `f32` the cursor holds.

pub(crate) mod fts_query;

use std::cmp::Ordering;
use std::collections::HashMap;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::{Issue, IssueFilter};
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::ports::SearchRepository;
use rhythm_domain::search::{CANDIDATES, Hit, HitKey, KEY_MATCH_SCORE, SearchQuery};
use rhythm_domain::values::ProjectRef;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get};
use crate::error::map_sqlx;
use crate::issues::{issue_from_row, push_filters, push_summary_columns};
use crate::projects::project_ref_binds;

use fts_query::FtsQuery;

/// The highlighter's marks around a match; HTML-escaping happens after, then they become
/// `<mark>`.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';
/// What the index's content view shows instead of a mark character the text itself holds
/// (same character class, so the words stay the same); left out of highlights.
const STAND_IN: char = '\u{E002}';

/// Projects searched per statement: each is one `UNION ALL` branch, and a statement has at
/// most 500 (`SQLITE_MAX_COMPOUND_SELECT`).
const PROJECTS_PER_STATEMENT: usize = 64;

/// Description excerpts: up to this many fragments of this many words, each starting a few
/// words before its first match (PostgreSQL's `MaxFragments=2, MaxWords=20`).
const FRAGMENTS: usize = 2;
const FRAGMENT_WORDS: usize = 20;
const WORDS_BEFORE_MATCH: usize = 5;
const FRAGMENT_DELIMITER: &str = " ... ";

/// One ranked issue, with the highlighter's raw output when the text index found it.
struct Candidate {
    issue: Issue,
    project_key: String,
    score: f32,
    title: Option<String>,
    description: Option<String>,
}

#[async_trait]
impl SearchRepository for SqliteStore {
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
        // The text condition is the index query itself.
        let filter = IssueFilter { text: None, ..filter.clone() };
        // One read transaction: the scope and the candidates come from one snapshot.
        let mut tx = self.readers().begin().await.map_err(map_sqlx)?;
        let scope = scope(&mut tx, user, project.as_ref()).await?;
        if project.is_some() && scope.is_empty() {
            return Ok(None);
        }
        let keys: HashMap<Uuid, &str> = scope.iter().map(|(id, key)| (*id, key.as_str())).collect();
        let mut candidates = Vec::new();
        if let Some(fts) = fts_query::compile(query) {
            let share = quota(scope.len());
            for chunk in scope.chunks(PROJECTS_PER_STATEMENT) {
                let rows = text_matches(&mut tx, &fts, chunk, &filter, share, as_of).await?;
                for row in &rows {
                    candidates.push(text_candidate(row, &keys)?);
                }
            }
        }
        if let Some((key, number)) = &query.key
            && let Some((project_id, project_key)) =
                scope.iter().find(|(_, k)| k.as_str() == key.as_str())
            && let Some(issue) =
                key_match(&mut tx, *project_id, project_key, *number, &filter, as_of).await?
        {
            match candidates.iter_mut().find(|c| c.issue.id == issue.id) {
                Some(found) => found.score = KEY_MATCH_SCORE,
                None => candidates.push(Candidate {
                    issue,
                    project_key: project_key.clone(),
                    score: KEY_MATCH_SCORE,
                    title: None,
                    description: None,
                }),
            }
        }
        tx.commit().await.map_err(map_sqlx)?;

        candidates.sort_by(|a, b| order(b, a));
        let probe = usize::try_from(page.limit.probe()).unwrap_or(usize::MAX);
        let hits: Vec<Hit> = candidates
            .into_iter()
            .filter(|c| page.after.as_ref().is_none_or(|after| is_after(c, after)))
            .take(probe)
            .map(into_hit)
            .collect();
        Ok(Some(Page::from_probe(hits, page.limit, |hit| HitKey {
            score: hit.score,
            created_at: hit.issue.created_at,
            id: hit.issue.id,
            as_of,
        })))
    }
}

/// The caller's live projects (only `project`, when given), with their keys.
async fn scope(
    conn: &mut SqliteConnection,
    user: Uuid,
    project: Option<&ProjectRef>,
) -> Result<Vec<(Uuid, String)>, RepoError> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT p.id, p.key FROM project_members m JOIN projects p ON p.id = m.project_id
         WHERE m.user_id = ",
    );
    qb.push_bind(user);
    qb.push(" AND p.archived_at IS NULL");
    if let Some(project) = project {
        let (id, key) = project_ref_binds(project);
        qb.push(" AND p.id = coalesce(");
        qb.push_bind(id);
        qb.push(", (SELECT id FROM projects WHERE key = ");
        qb.push_bind(key.map(str::to_owned));
        qb.push("))");
    }
    qb.push(" ORDER BY p.key");
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(map_sqlx)?;
    rows.iter().map(|row| Ok((get(row, "id")?, get(row, "key")?))).collect()
}

/// Each project's share of the candidates, as on PostgreSQL: an equal part, rounded up.
fn quota(projects: usize) -> i64 {
    let projects = i64::try_from(projects.max(1)).unwrap_or(i64::MAX);
    (CANDIDATES + projects - 1) / projects
}

/// The newest `share` matches of each project of `chunk`, with their highlights: one
/// branch per project, each walking the index newest first and stopping at its share.
async fn text_matches(
    conn: &mut SqliteConnection,
    fts: &FtsQuery,
    chunk: &[(Uuid, String)],
    filter: &IssueFilter,
    share: i64,
    as_of: OffsetDateTime,
) -> Result<Vec<SqliteRow>, RepoError> {
    let mut qb = QueryBuilder::<Sqlite>::new("");
    for (n, (project_id, _)) in chunk.iter().enumerate() {
        if n > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("SELECT * FROM (SELECT ");
        push_summary_columns(&mut qb);
        for (column, name) in [(0, "title_highlight"), (1, "description_highlight")] {
            qb.push(format!(", highlight(issues_fts, {column}, "));
            qb.push_bind(MARK_START.to_string());
            qb.push(", ");
            qb.push_bind(MARK_END.to_string());
            qb.push(format!(") AS {name}"));
        }
        qb.push(
            " FROM issues_fts JOIN issues i ON i.seq = issues_fts.rowid WHERE issues_fts MATCH ",
        );
        qb.push_bind(fts.in_project(*project_id));
        qb.push(" AND i.project_id = ");
        qb.push_bind(*project_id);
        qb.push(" AND i.created_at <= ");
        qb.push_bind(db::micros(as_of));
        push_filters(&mut qb, filter);
        // The index gives rowids (creation order) newest first: no sort, and the walk
        // stops at the share.
        qb.push(" ORDER BY issues_fts.rowid DESC LIMIT ");
        qb.push_bind(share);
        qb.push(")");
    }
    qb.build().fetch_all(&mut *conn).await.map_err(map_sqlx)
}

fn text_candidate(row: &SqliteRow, keys: &HashMap<Uuid, &str>) -> Result<Candidate, RepoError> {
    let project_id: Uuid = get(row, "project_id")?;
    let project_key = keys
        .get(&project_id)
        .ok_or_else(|| RepoError::Internal("a match outside the searched projects".into()))?;
    let issue = issue_from_row(row, project_key)?
        .ok_or_else(|| RepoError::Internal("a match without its issue".into()))?;
    let title: String = get(row, "title_highlight")?;
    let description: String = get(row, "description_highlight")?;
    Ok(Candidate {
        score: score(marks(&title), marks(&description)),
        issue,
        project_key: (*project_key).to_owned(),
        title: Some(title),
        description: Some(description),
    })
}

/// The issue whose key is the whole query, if it is live, in scope and passes the filters.
async fn key_match(
    conn: &mut SqliteConnection,
    project_id: Uuid,
    project_key: &str,
    number: i64,
    filter: &IssueFilter,
    as_of: OffsetDateTime,
) -> Result<Option<Issue>, RepoError> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    push_summary_columns(&mut qb);
    qb.push(" FROM issues i WHERE i.project_id = ");
    qb.push_bind(project_id);
    qb.push(" AND i.number = ");
    qb.push_bind(number);
    qb.push(" AND i.created_at <= ");
    qb.push_bind(db::micros(as_of));
    push_filters(&mut qb, filter);
    let row = qb.build().fetch_optional(&mut *conn).await.map_err(map_sqlx)?;
    match row {
        Some(row) => issue_from_row(&row, project_key),
        None => Ok(None),
    }
}

/// How many matches the highlighter marked.
fn marks(highlighted: &str) -> usize {
    highlighted.chars().filter(|c| *c == MARK_START).count()
}

/// The score of a text match from the marks in its title and description: a title match
/// scores at least 0.5, a description-only match at most 0.1875, and more marks score more,
/// saturating. Every value is a sum of a few powers of two, exact in an `f32`.
fn score(title_marks: usize, description_marks: usize) -> f32 {
    fn part(marks: usize, first: f32, more: f32) -> f32 {
        if marks == 0 {
            return 0.0;
        }
        let extra = i32::try_from(marks.min(16) - 1).unwrap_or(15);
        first + more * (1.0 - 0.5f32.powi(extra))
    }
    part(title_marks, 0.5, 0.25) + part(description_marks, 0.125, 0.0625)
}

/// The [`HitKey`] order: score, then `created_at`, then id.
fn order(a: &Candidate, b: &Candidate) -> Ordering {
    a.score
        .partial_cmp(&b.score)
        .unwrap_or(Ordering::Equal)
        .then(a.issue.created_at.cmp(&b.issue.created_at))
        .then(a.issue.id.cmp(&b.issue.id))
}

/// Whether `c` comes after the cursor `after` in the walk (best first).
fn is_after(c: &Candidate, after: &HitKey) -> bool {
    c.score
        .partial_cmp(&after.score)
        .unwrap_or(Ordering::Equal)
        .then(c.issue.created_at.cmp(&after.created_at))
        .then(c.issue.id.cmp(&after.id))
        == Ordering::Less
}

fn into_hit(c: Candidate) -> Hit {
    let title = c.title.unwrap_or_else(|| plain(&c.issue.title));
    let description = c.description.unwrap_or_else(|| plain(&c.issue.description));
    Hit {
        title_highlight: highlight(&title),
        description_highlight: excerpt(&description),
        score: c.score,
        project_key: c.project_key,
        issue: c.issue,
    }
}

/// Text the highlighter did not mark, with any mark characters it holds left out.
fn plain(text: &str) -> String {
    text.replace([MARK_START, MARK_END], &STAND_IN.to_string())
}

/// HTML-escapes highlighted text and turns the marks into `<mark>` tags, always balanced: a
/// stray end is dropped, a nested start ignored, an open mark closed at the end. (The
/// PostgreSQL adapter's escaping, character for character.)
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
            MARK_START | MARK_END | STAND_IN => {}
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

/// Up to [`FRAGMENTS`] fragments of highlighted text around its first matches, joined by
/// `" ... "`; its first words when nothing is marked. Each fragment is escaped on its own,
/// so its marks are balanced even where it cuts through a marked phrase.
fn excerpt(raw: &str) -> String {
    let words: Vec<(usize, usize)> = word_spans(raw);
    let Some(last) = words.len().checked_sub(1) else {
        return String::new();
    };
    let mut fragments: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    for (index, (start, end)) in words.iter().enumerate() {
        if fragments.len() == FRAGMENTS {
            break;
        }
        if index < from || !raw[*start..*end].contains(MARK_START) {
            continue;
        }
        let first = index.saturating_sub(WORDS_BEFORE_MATCH).max(from);
        let past = (first + FRAGMENT_WORDS).min(words.len());
        fragments.push((first, past));
        from = past;
    }
    if fragments.is_empty() {
        fragments.push((0, FRAGMENT_WORDS.min(words.len())));
    }
    fragments
        .iter()
        .map(|(first, past)| {
            let start = words[*first].0;
            let end = words[(*past).min(last + 1) - 1].1;
            highlight(&raw[start..end])
        })
        .collect::<Vec<_>>()
        .join(FRAGMENT_DELIMITER)
}

/// The byte ranges of the whitespace-separated words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, at));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// The migration's content view cuts descriptions at this many characters; it must stay the
/// domain's `HIGHLIGHT_INPUT_CHARS`.
#[cfg(test)]
const VIEW_CUT: &str = "substr(description, 1, 10000)";

#[cfg(test)]
mod tests {
    use super::*;
    use rhythm_domain::search::HIGHLIGHT_INPUT_CHARS;

    #[test]
    fn the_content_view_reads_what_the_domain_says() {
        let migration = include_str!("../../../migrations/sqlite/20261203000004_search_scope.sql");
        assert!(migration.contains(VIEW_CUT));
        assert_eq!(VIEW_CUT, format!("substr(description, 1, {HIGHLIGHT_INPUT_CHARS})"));
    }

    #[test]
    fn highlights_escape_everything_but_the_marks() {
        let raw = format!("<b>{MARK_START}deploy{MARK_END}</b> & \"quotes\" 'too'{STAND_IN}");
        assert_eq!(
            highlight(&raw),
            "&lt;b&gt;<mark>deploy</mark>&lt;/b&gt; &amp; &quot;quotes&quot; &#39;too&#39;"
        );
        assert_eq!(highlight(&plain("a\u{E000}b\u{E001}c")), "abc");
    }

    #[test]
    fn highlights_are_balanced_whatever_the_marks() {
        let (s, e) = (MARK_START, MARK_END);
        for (raw, want) in [
            (format!("{e}a{s}b{s}c{e}d"), "a<mark>bc</mark>d"),
            (format!("{s}open"), "<mark>open</mark>"),
            (format!("{e}{e}x"), "x"),
        ] {
            assert_eq!(highlight(&raw), want, "{raw:?}");
        }
    }

    #[test]
    fn scores_put_titles_first_and_stay_exact() {
        assert_eq!(score(0, 0), 0.0);
        assert_eq!(score(1, 0), 0.5);
        assert_eq!(score(0, 1), 0.125);
        assert!(score(1, 0) > score(0, 1_000));
        assert!(score(3, 0) > score(2, 0) && score(1, 1) > score(1, 0));
        assert!(score(1_000, 1_000) < 1.0 && score(1_000, 1_000) < KEY_MATCH_SCORE);
        // Exact as an f64 too: a score survives any float round trip unchanged.
        for t in 0..20 {
            for d in 0..20 {
                let s = score(t, d);
                assert_eq!(f64::from(s) as f32, s);
                assert_eq!(s.to_string().parse::<f32>().unwrap(), s);
            }
        }
    }

    #[test]
    fn excerpts_are_fragments_around_the_marks() {
        let (s, e) = (MARK_START, MARK_END);
        let words: Vec<String> = (0..60).map(|n| format!("w{n}")).collect();
        let mut text = words.clone();
        text[10] = format!("{s}w10{e}");
        text[12] = format!("{s}w12{e}");
        text[50] = format!("{s}w50");
        text[51] = format!("w51{e}");
        let got = excerpt(&text.join(" "));
        let first: Vec<String> = (5..25)
            .map(|n| match n {
                10 | 12 => format!("<mark>w{n}</mark>"),
                _ => format!("w{n}"),
            })
            .collect();
        let second = "w45 w46 w47 w48 w49 <mark>w50 w51</mark> w52 w53 w54 w55 w56 w57 w58 w59";
        assert_eq!(got, format!("{} ... {second}", first.join(" ")));
        // Nothing marked: the start.
        assert_eq!(excerpt(&words.join(" ")), words[..20].join(" "));
        assert_eq!(excerpt("  "), "");
        assert_eq!(excerpt(&format!("a {s}b{e}")), "a <mark>b</mark>");
    }
}

#[cfg(test)]
mod store_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rhythm_domain::issue::{IssueFilter, IssuePatch};
    use rhythm_domain::pagination::{Limit, PageRequest};
    use rhythm_domain::search::SearchQuery;
    use rhythm_domain::values::IssueDescription;
    use rhythm_store_tests::fixture::{Fixture, project_ref};

    async fn store() -> crate::SqliteStore {
        let dir = std::env::temp_dir().join("rhythm-sqlite-search-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
        crate::SqliteStore::open(&path, &crate::SqliteSettings::default()).await.unwrap()
    }

    fn text(raw: &str) -> IssueFilter {
        IssueFilter { text: Some(SearchQuery::parse(raw).unwrap()), ..IssueFilter::default() }
    }

    #[tokio::test]
    async fn odd_queries_run_without_error() {
        let f = Fixture::new(store().await);
        let owner = f.user("owner").await;
        let project = f.project(&owner).await;
        f.issue(&project, &owner, "Login \"page\" NOT broken: title* ^x").await;
        let page = PageRequest::first(Limit::new(10).unwrap());
        for raw in [
            "-x",
            "title:",
            "\"",
            "\"\"",
            "NOT",
            "AND",
            "OR",
            "*",
            "^",
            ":",
            "NEAR(a b)",
            "{title}:x",
            "title:login",
            "login*",
            "\"login",
            "a\u{0}b",
            "-",
            "x -",
            "\"!!\"",
            "login -\"page\"",
            "(",
            ")",
            "'",
            "\\",
            "%",
            "_",
            "é",
            "ß*",
            "\u{E000}",
            "AND OR NOT",
        ] {
            let found = f.search.search(owner.id, None, &text(raw), &page).await;
            assert!(found.is_ok(), "{raw:?}: {found:?}");
            let scoped =
                f.search.search(owner.id, Some(project_ref(&project)), &text(raw), &page).await;
            assert!(scoped.is_ok(), "{raw:?}: {scoped:?}");
        }
        let hits = f.search.search(owner.id, None, &text("title:"), &page).await.unwrap();
        assert_eq!(hits.items.len(), 1, "`title:` is a word, not a column filter");
    }

    #[tokio::test]
    async fn highlights_mark_title_and_description() {
        let f = Fixture::new(store().await);
        let owner = f.user("owner").await;
        let project = f.project(&owner).await;
        f.issue(&project, &owner, "Deploy <the> pipeline").await;
        let describe = IssuePatch {
            description: Some(
                IssueDescription::new("Before the \u{E000} pipeline \u{E001} ran, it failed")
                    .unwrap(),
            ),
            ..IssuePatch::default()
        };
        f.issues.update(owner.id, &project_ref(&project), 1, &describe, None).await.unwrap();
        let page = PageRequest::first(Limit::new(10).unwrap());
        let hits = f.search.search(owner.id, None, &text("pipelines"), &page).await.unwrap();
        let hit = &hits.items[0];
        assert_eq!(hit.title_highlight, "Deploy &lt;the&gt; <mark>pipeline</mark>");
        // The text's own mark characters are left out; the words around them stay.
        assert_eq!(hit.description_highlight, "Before the  <mark>pipeline</mark>  ran, it failed");
        assert_eq!(hit.score, super::score(1, 1));
    }
}
