//! The query compiler: a [`SearchQuery`] as an FTS5 expression.
//!
//! User text never reaches FTS5's syntax: every term becomes a string literal (`"` doubled,
//! control characters blanked, since a NUL would end the expression early), a prefix term
//! `"deplo" *`. Inside a string FTS5 sees only words, so `NOT`, `AND`, `NEAR`, `title:`,
//! `*`, `^` and lone quotes are plain text there (or nothing at all) and cannot raise an
//! error.
//!
//! The boolean structure mirrors the tsquery the PostgreSQL adapter builds: groups ANDed,
//! terms within a group ORed, `-term` negated. FTS5's `NOT` is binary (`a NOT b`), so a
//! group holding exclusions becomes a restriction of the groups without any:
//! `p1 OR … OR -n1 OR …` is `NOT (n1 AND … NOT (p1 OR …))`. As on PostgreSQL (whose
//! `querytree` is then `T`), a query without at least one group of positive terms only
//! would match nearly everything, so it matches nothing ([`compile`] answers `None`).
//! A term with no letter or digit (a phrase of punctuation) holds no token; PostgreSQL
//! drops such a term from its group, and so does this compiler.

use rhythm_domain::search::{SearchQuery, Term, TermKind};

/// The columns user terms are matched in: the index has a third one, the project token,
/// which no user term may reach.
const TEXT_COLUMNS: &str = "{title description}";

/// A query in FTS5's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FtsQuery {
    /// The whole query over the title and the description.
    pub matching: String,
}

impl FtsQuery {
    /// The query restricted to the issues of one project, by the token the index holds
    /// for it.
    pub(crate) fn in_project(&self, project_id: uuid::Uuid) -> String {
        format!("{{search_scope}} : \"{}\" AND {}", project_token(project_id), self.matching)
    }
}

/// The token the index holds for an issue's project (`search_scope` in the migration
/// `20261203000004_search_scope.sql`): `p`, the id in lower-case hex, and a digit last, so
/// the porter stemmer (which only strips letter suffixes) leaves it as it is.
pub(crate) fn project_token(project_id: uuid::Uuid) -> String {
    format!("p{}0", project_id.simple())
}

/// The FTS5 query for `query`; `None` when it can match nothing (see the module doc).
pub(crate) fn compile(query: &SearchQuery) -> Option<FtsQuery> {
    let mut required = Vec::new();
    let mut restrictions = Vec::new();
    for group in &query.groups {
        let positive: Vec<String> = literals(group.iter().filter(|t| !t.negated));
        let negative: Vec<String> = literals(group.iter().filter(|t| t.negated));
        match (positive.is_empty(), negative.is_empty()) {
            (true, true) => {}
            (false, true) => required.push(any(&positive)),
            // Neither of the excluded terms, or one of the group's positive terms.
            (true, false) => restrictions.push(all(&negative)),
            (false, false) => {
                restrictions.push(format!("({} NOT {})", all(&negative), any(&positive)));
            }
        }
    }
    if required.is_empty() {
        return None;
    }
    let mut expression = all(&required);
    for restriction in restrictions {
        expression = format!("({expression} NOT {restriction})");
    }
    Some(FtsQuery { matching: format!("{TEXT_COLUMNS} : {expression}") })
}

fn literals<'a>(terms: impl Iterator<Item = &'a Term>) -> Vec<String> {
    terms.filter_map(|t| literal(&t.kind)).collect()
}

/// One term as an FTS5 string (a phrase of the words it holds), `*` after it for a
/// prefix; `None` when it holds no word.
fn literal(kind: &TermKind) -> Option<String> {
    let (text, prefix) = match kind {
        TermKind::Word(text) | TermKind::Phrase(text) => (text, false),
        TermKind::Prefix(text) => (text, true),
    };
    if !text.chars().any(char::is_alphanumeric) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 4);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\"\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    if prefix {
        out.push_str(" *");
    }
    Some(out)
}

/// `(a OR b …)`.
fn any(items: &[String]) -> String {
    format!("({})", items.join(" OR "))
}

/// `(a AND b …)`.
fn all(items: &[String]) -> String {
    format!("({})", items.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(raw: &str) -> Option<String> {
        compile(&SearchQuery::parse(raw).unwrap()).map(|q| q.matching)
    }

    #[test]
    fn groups_are_anded_terms_ored_and_the_last_word_is_a_prefix() {
        assert_eq!(
            compiled("fix login deplo").as_deref(),
            Some(r#"{title description} : (("fix") AND ("login") AND ("deplo" *))"#)
        );
        assert_eq!(
            compiled(r#""login page" or signup crash"#).as_deref(),
            Some(r#"{title description} : (("login page" OR "signup") AND ("crash" *))"#)
        );
    }

    #[test]
    fn exclusions_restrict_the_positive_groups() {
        assert_eq!(
            compiled("login -broken").as_deref(),
            Some(r#"{title description} : ((("login")) NOT ("broken"))"#)
        );
        // `crash (login or -broken)`: crash, and login or not broken.
        assert_eq!(
            compiled("crash login or -broken x").as_deref(),
            Some(
                r#"{title description} : ((("crash") AND ("x" *)) NOT (("broken") NOT ("login")))"#
            )
        );
        assert_eq!(
            compiled("-a or -b c").as_deref(),
            Some(r#"{title description} : ((("c" *)) NOT ("a" AND "b"))"#)
        );
    }

    #[test]
    fn nothing_but_exclusions_matches_nothing() {
        for raw in ["-login", "-a -b", "login or -broken", "", "   ", "&|!():*", "\"\"", "\"!!\""] {
            assert_eq!(compiled(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn wordless_terms_are_dropped_from_their_group() {
        assert_eq!(
            compiled(r#""!!" or login x"#).as_deref(),
            Some(r#"{title description} : (("login") AND ("x" *))"#)
        );
    }

    #[test]
    fn user_text_stays_inside_string_literals() {
        for (raw, expected) in [
            (r#"a"b"#, r#"{title description} : (("a") AND ("b"))"#),
            ("title: x", r#"{title description} : (("title:") AND ("x" *))"#),
            ("NOT AND", r#"{title description} : (("NOT") AND ("AND" *))"#),
            ("x* ^y z", r#"{title description} : (("x*") AND ("^y") AND ("z" *))"#),
            ("NEAR(a b) c", r#"{title description} : (("NEAR(a") AND ("b)") AND ("c" *))"#),
            ("{title}:x c", r#"{title description} : (("{title}:x") AND ("c" *))"#),
            ("a\u{0}b c", "{title description} : ((\"a b\") AND (\"c\" *))"),
            (r#""say ""hi"" now""#, r#"{title description} : (("say ") AND ("hi") AND (" now"))"#),
        ] {
            assert_eq!(compiled(raw).as_deref(), Some(expected), "{raw:?}");
        }
    }

    #[test]
    fn odd_input_never_leaves_a_quote_open() {
        let odd = [
            "-x",
            "title:",
            "\"",
            "\"\"\"",
            "NOT",
            "AND",
            "OR",
            "*",
            "^",
            ":",
            "-",
            "--x",
            "a OR",
            "\"unclosed phrase",
            "x\"y\"z",
            "(a",
            "a)",
            "{",
            "}",
            "a:b:c",
            "\u{0}",
            "é*",
        ];
        for raw in odd {
            let Some(matching) = compiled(raw) else { continue };
            // Outside the literals only the compiler's own syntax remains.
            let mut outside = String::new();
            let mut inside = false;
            let mut chars = matching.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if inside && chars.peek() == Some(&'"') {
                        chars.next();
                        continue;
                    }
                    inside = !inside;
                } else if !inside {
                    outside.push(c);
                }
            }
            assert!(!inside, "{raw:?}: {matching}");
            let words: Vec<&str> = outside
                .split(|c: char| c.is_whitespace() || "(){}:*".contains(c))
                .filter(|w| !w.is_empty())
                .collect();
            assert!(
                words.iter().all(|w| ["AND", "OR", "NOT", "title", "description"].contains(w)),
                "{raw:?}: {matching}"
            );
        }
    }

    #[test]
    fn a_project_token_is_one_unstemmed_word() {
        let id = uuid::Uuid::from_u128(0xabcdef);
        let token = project_token(id);
        assert_eq!(token, "p00000000000000000000000000abcdef0");
        let query = compile(&SearchQuery::parse("x").unwrap()).unwrap();
        assert_eq!(
            query.in_project(id),
            format!("{{search_scope}} : \"{token}\" AND {{title description}} : ((\"x\" *))")
        );
    }
}
