//! The issue listing: filters, sorts and keyset cursors, as on PostgreSQL.

use rhythm_domain::RepoError;
use rhythm_domain::issue::{
    AssigneeFilter, IssueFilter, IssueKey, IssueSort, IssueSortField, SortValue, SprintFilter,
};
use rhythm_domain::pagination::PageRequest;
use rhythm_domain::search::{SearchQuery, TermKind};
use rhythm_domain::values::SprintState;
use sqlx::{Encode, QueryBuilder, Sqlite, Type};

use crate::db;

/// Continues [`access_prologue`](super::access_prologue) with the page of the project's
/// issues: one row per issue (the access columns, then the summary columns), or one row
/// with a NULL issue when none matches, or no row when the caller has no access.
pub(super) fn push_page(
    qb: &mut QueryBuilder<Sqlite>,
    filter: &IssueFilter,
    sort: IssueSort,
    page: &PageRequest<IssueKey>,
) -> Result<(), RepoError> {
    // SQLite has no LATERAL: the page is a subquery on the access row's project, joined to
    // it so that an empty page still says the caller may look.
    qb.push(", page AS (SELECT ");
    super::push_summary_columns(qb);
    qb.push(" FROM issues i WHERE i.project_id = (SELECT access_project_id FROM access)");
    // Through the module's re-export, which the other modules use.
    super::push_filters(qb, filter);
    push_keyset(qb, sort, page.after.as_ref())?;
    push_order(qb, sort);
    qb.push(" LIMIT ");
    qb.push_bind(page.limit.probe());
    qb.push(
        ") SELECT a.access_project_id, a.project_key, a.role, i.*
         FROM access a LEFT JOIN page i ON 1",
    );
    // A join keeps no order of its own.
    push_order(qb, sort);
    Ok(())
}

/// `AND column = value` for one value, `AND column IN (values)` for several, nothing for
/// none.
fn push_one_of<T>(qb: &mut QueryBuilder<Sqlite>, column: &str, values: Vec<T>)
where
    T: for<'q> Encode<'q, Sqlite> + Type<Sqlite>,
{
    if values.is_empty() {
        return;
    }
    qb.push(" AND ");
    qb.push(column);
    if values.len() == 1 {
        qb.push(" = ");
    } else {
        qb.push(" IN (");
    }
    let several = values.len() > 1;
    for (n, value) in values.into_iter().enumerate() {
        if n > 0 {
            qb.push(", ");
        }
        qb.push_bind(value);
    }
    if several {
        qb.push(")");
    }
}

/// Appends the listing filters to a query over `issues i` (live issues only).
pub(crate) fn push_filters(qb: &mut QueryBuilder<Sqlite>, filter: &IssueFilter) {
    qb.push(" AND i.deleted_at IS NULL");
    push_one_of(qb, "i.status", filter.statuses.iter().map(|s| s.as_str()).collect());
    push_one_of(qb, "i.priority", filter.priorities.iter().map(|p| i64::from(p.level())).collect());
    push_one_of(qb, "i.type", filter.types.iter().map(|t| t.as_str()).collect());
    match filter.assignee {
        Some(AssigneeFilter::User(user)) => {
            qb.push(" AND i.assignee_id = ");
            qb.push_bind(user);
        }
        Some(AssigneeFilter::Nobody) => {
            qb.push(" AND i.assignee_id IS NULL");
        }
        None => {}
    }
    if let Some(reporter) = filter.reporter {
        qb.push(" AND i.reporter_id = ");
        qb.push_bind(reporter);
    }
    match filter.sprint {
        Some(SprintFilter::Sprint(sprint)) => {
            qb.push(" AND i.sprint_id = ");
            qb.push_bind(sprint);
        }
        Some(SprintFilter::Nobody) => {
            qb.push(" AND i.sprint_id IS NULL");
        }
        Some(SprintFilter::Active) => {
            qb.push(
                " AND i.sprint_id = (SELECT s.id FROM sprints s
                                     WHERE s.project_id = i.project_id AND s.state = ",
            );
            qb.push_bind(SprintState::Active.as_str());
            qb.push(")");
        }
        None => {}
    }
    if let Some(since) = filter.updated_since {
        qb.push(" AND i.updated_at >= ");
        qb.push_bind(db::micros(since));
    }
    if let Some(text) = &filter.text {
        qb.push(" AND ");
        push_text_match(qb, text);
    }
}

/// The condition that issue `i` matches `query` in the full-text index: every group has a
/// term that matches (or, negated, does not). A query that is nothing but exclusions would
/// match nearly everything, so it matches nothing.
fn push_text_match(qb: &mut QueryBuilder<Sqlite>, query: &SearchQuery) {
    if !query.is_searchable() {
        qb.push("0");
        return;
    }
    qb.push("(");
    for (g, group) in query.groups.iter().enumerate() {
        if g > 0 {
            qb.push(" AND ");
        }
        qb.push("(");
        for (t, term) in group.iter().enumerate() {
            if t > 0 {
                qb.push(" OR ");
            }
            qb.push(if term.negated { "i.seq NOT IN" } else { "i.seq IN" });
            qb.push(" (SELECT rowid FROM issues_fts WHERE issues_fts MATCH ");
            qb.push_bind(fts_phrase(&term.kind));
            qb.push(")");
        }
        qb.push(")");
    }
    qb.push(")");
}

/// An FTS5 query of one term: a quoted string (a phrase of whatever words it holds, with
/// no operator the user could inject), `*` after it for a prefix.
fn fts_phrase(kind: &TermKind) -> String {
    let (text, prefix) = match kind {
        TermKind::Word(text) | TermKind::Phrase(text) => (text, false),
        TermKind::Prefix(text) => (text, true),
    };
    let quoted = format!("\"{}\"", text.replace('"', "\"\""));
    if prefix { format!("{quoted}*") } else { quoted }
}

fn sort_column(field: IssueSortField) -> &'static str {
    match field {
        IssueSortField::CreatedAt => "i.created_at",
        IssueSortField::UpdatedAt => "i.updated_at",
        IssueSortField::Priority => "i.priority",
        IssueSortField::Number => "i.number",
        IssueSortField::Rank => "i.rank",
    }
}

/// `AND (sort column, id) > (after)` (or `<` descending): the page starts right after the
/// previous one, on the index, however deep.
fn push_keyset(
    qb: &mut QueryBuilder<Sqlite>,
    sort: IssueSort,
    after: Option<&IssueKey>,
) -> Result<(), RepoError> {
    let Some(after) = after else {
        return Ok(());
    };
    let unique = is_unique_in_project(sort.field);
    qb.push(" AND (");
    qb.push(sort_column(sort.field));
    qb.push(if unique { ") " } else { ", i.id) " });
    qb.push(if sort.descending { "< (" } else { "> (" });
    match (sort.field, &after.value) {
        (IssueSortField::CreatedAt | IssueSortField::UpdatedAt, SortValue::Time(t)) => {
            qb.push_bind(db::micros(*t));
        }
        (IssueSortField::Priority | IssueSortField::Number, SortValue::Int(n)) => {
            qb.push_bind(*n);
        }
        (IssueSortField::Rank, SortValue::Text(s)) => {
            qb.push_bind(s.clone());
        }
        _ => return Err(RepoError::Internal("cursor value does not fit the sort".into())),
    }
    if !unique {
        qb.push(", ");
        qb.push_bind(after.id);
    }
    qb.push(")");
    Ok(())
}

/// Ranks and numbers are unique within a project (`issues_project_rank_key`,
/// `issues_project_number_key`), so they need no id to break ties.
fn is_unique_in_project(field: IssueSortField) -> bool {
    matches!(field, IssueSortField::Rank | IssueSortField::Number)
}

fn push_order(qb: &mut QueryBuilder<Sqlite>, sort: IssueSort) {
    let direction = if sort.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    qb.push(sort_column(sort.field));
    qb.push(direction);
    if !is_unique_in_project(sort.field) {
        qb.push(", i.id");
        qb.push(direction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_terms_are_quoted_strings() {
        assert_eq!(fts_phrase(&TermKind::Word("log\"in".into())), "\"log\"\"in\"");
        assert_eq!(fts_phrase(&TermKind::Phrase("sign in".into())), "\"sign in\"");
        assert_eq!(fts_phrase(&TermKind::Prefix("depl".into())), "\"depl\"*");
    }
}
