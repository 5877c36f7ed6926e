//! Full-text search: parsing what a person types into a query the store can run safely.
//!
//! Web-search syntax: words (all must match), `"quoted phrases"`, `or` between terms,
//! `-exclusion`. The last word also matches as a prefix, for search-as-you-type. Parsing
//! never fails: anything odd degrades to plain words, and the store turns each term into
//! a text-search query with functions that cannot raise errors.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Invalid;
use crate::issue::Issue;
use crate::values::{IssueStatus, ProjectKey};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// The most terms a query may have.
pub const MAX_TERMS: usize = 32;

/// One searchable unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    /// A word, stemmed (`deploying` finds `deploy`).
    Word(String),
    /// Words that must appear in this order.
    Phrase(String),
    /// A word that also matches as the start of longer words (`deplo` finds `deployment`).
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub kind: TermKind,
    /// `-term`: issues containing it are excluded.
    pub negated: bool,
}

/// A parsed query: all groups must match; a group matches when any of its terms does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub groups: Vec<Vec<Term>>,
    /// Set when the whole query is an issue key such as `RHY-42` (any letter case): that
    /// issue comes first.
    pub key: Option<(ProjectKey, i64)>,
}

impl SearchQuery {
    /// Parses user input. Refuses only input over the length bounds.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(Invalid("must be at most 256 characters"));
        }
        let tokens = tokenize(raw);
        if tokens.len() > MAX_TERMS {
            return Err(Invalid("must have at most 32 terms"));
        }
        let mut groups: Vec<Vec<Term>> = Vec::new();
        let mut join_next = false;
        let count = tokens.len();
        for (index, token) in tokens.into_iter().enumerate() {
            let term = match token {
                Token::Or => {
                    join_next = !groups.is_empty();
                    continue;
                }
                Token::Phrase { text, negated } => Term { kind: TermKind::Phrase(text), negated },
                Token::Word { text, negated } => {
                    let is_last = index + 1 == count;
                    let word: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
                    if word.is_empty() {
                        // Punctuation only: nothing to search for.
                        continue;
                    }
                    let kind = if is_last && !negated {
                        TermKind::Prefix(word)
                    } else {
                        TermKind::Word(text)
                    };
                    Term { kind, negated }
                }
            };
            match groups.last_mut() {
                Some(group) if join_next => group.push(term),
                _ => groups.push(vec![term]),
            }
            join_next = false;
        }
        Ok(Self { groups, key: parse_issue_key(raw.trim()) })
    }

    /// Whether anything could match: at least one term that is not an exclusion. (A query
    /// of exclusions alone would match nearly everything; it matches nothing instead.)
    pub fn is_searchable(&self) -> bool {
        self.groups.iter().any(|g| g.iter().any(|t| !t.negated))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word { text: String, negated: bool },
    Phrase { text: String, negated: bool },
    Or,
}

fn tokenize(raw: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let text: String = chars.by_ref().take_while(|c| *c != '"').collect();
            if !text.trim().is_empty() {
                tokens.push(Token::Phrase { text, negated });
            }
            continue;
        }
        let mut text = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '"' {
                break;
            }
            text.push(c);
            chars.next();
        }
        if !negated && text.eq_ignore_ascii_case("or") {
            tokens.push(Token::Or);
        } else if !text.is_empty() {
            tokens.push(Token::Word { text, negated });
        }
    }
    // `or` at either end joins nothing.
    while tokens.last() == Some(&Token::Or) {
        tokens.pop();
    }
    tokens
}

/// `RHY-42` in any letter case → (`RHY`, 42).
fn parse_issue_key(raw: &str) -> Option<(ProjectKey, i64)> {
    let (key, number) = raw.rsplit_once('-')?;
    let key = ProjectKey::parse(&key.to_ascii_uppercase()).ok()?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = number.parse::<i64>().ok().filter(|n| *n > 0)?;
    Some((key, number))
}

/// Which statuses to search, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub statuses: Vec<IssueStatus>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub issue: Issue,
    pub project_key: String,
    /// Relevance: higher is better. An exact issue-key match scores above any text match.
    pub score: f32,
    /// Title and description with `<mark>` around the matches, HTML-escaped otherwise.
    pub title_highlight: String,
    pub description_highlight: String,
}

/// How many matching issues are ranked per query: the most recently created matches (each
/// project searched contributing its share). Up to this many matches in scope, ranking is
/// exact and complete; above, the bound keeps a common word as cheap as a rare one.
pub const CANDIDATES: i64 = 300;

/// How much of a description the highlighter reads: a match further in is found and ranked,
/// but its excerpt shows the start. Bounds the cost of a page of hits (the highlighter is
/// linear in its input) whatever the descriptions hold.
pub const HIGHLIGHT_INPUT_CHARS: i64 = 10_000;

/// The score of an issue whose key is the whole query: above any text match (`ts_rank`
/// stays far below it).
pub const KEY_MATCH_SCORE: f32 = 100.0;

/// Continuation key of search results (score, then newest first), with the time the walk
/// began: issues created later stay out of its pages, so a walk neither repeats nor skips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitKey {
    pub score: f32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
}

impl HitKey {
    /// Whether a key a client handed back holds a score a search can give.
    pub fn is_plausible(&self) -> bool {
        self.score.is_finite() && (0.0..=KEY_MATCH_SCORE).contains(&self.score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str) -> Term {
        Term { kind: TermKind::Word(w.into()), negated: false }
    }

    fn prefix(w: &str) -> Term {
        Term { kind: TermKind::Prefix(w.into()), negated: false }
    }

    #[test]
    fn words_are_anded_and_the_last_is_a_prefix() {
        let q = SearchQuery::parse("fix login deplo").unwrap();
        assert_eq!(q.groups, vec![vec![word("fix")], vec![word("login")], vec![prefix("deplo")]]);
        assert!(q.is_searchable());
    }

    #[test]
    fn phrases_or_and_exclusions() {
        let q = SearchQuery::parse(r#""login page" or signup -flaky crash"#).unwrap();
        assert_eq!(
            q.groups,
            vec![
                vec![
                    Term { kind: TermKind::Phrase("login page".into()), negated: false },
                    word("signup")
                ],
                vec![Term { kind: TermKind::Word("flaky".into()), negated: true }],
                vec![prefix("crash")],
            ]
        );
    }

    #[test]
    fn odd_input_degrades_gracefully() {
        for raw in ["", "   ", "or", "or or", "\"", "\"\"", "-", "&|!():*", "a\"b", "-\"x\""] {
            let q = SearchQuery::parse(raw).unwrap();
            assert!(q.groups.iter().all(|g| !g.is_empty()), "{raw:?}: {q:?}");
        }
        assert!(!SearchQuery::parse("&|!():*").unwrap().is_searchable());
        assert!(!SearchQuery::parse("-only -exclusions").unwrap().is_searchable());
        // A trailing word with punctuation is cleaned for prefix matching.
        assert_eq!(SearchQuery::parse("dep:*").unwrap().groups, vec![vec![prefix("dep")]]);
    }

    #[test]
    fn bounds() {
        assert!(SearchQuery::parse(&"a".repeat(256)).is_ok());
        assert!(SearchQuery::parse(&"a".repeat(257)).is_err());
        assert!(SearchQuery::parse(&"w ".repeat(33)).is_err());
    }

    #[test]
    fn issue_keys_in_any_case() {
        let key = |raw: &str| {
            SearchQuery::parse(raw).unwrap().key.map(|(k, n)| (k.as_str().to_owned(), n))
        };
        assert_eq!(key("RHY-42"), Some(("RHY".to_owned(), 42)));
        assert_eq!(key(" rhy-7 "), Some(("RHY".to_owned(), 7)));
        assert_eq!(key("RHY-0"), None);
        assert_eq!(key("RHY-4x"), None);
        assert_eq!(key("fix RHY-42"), None);
        assert_eq!(key("R-1"), None);
    }
}
