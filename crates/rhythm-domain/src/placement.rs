//! Rank placement: the rank a moved issue gets, and which neighbours are respaced when the
//! gap at its new spot is too narrow. A store reads ranks through [`RankReader`] while it
//! holds the project's rank lock; this module decides what to write. Every store therefore
//! orders issues the same way, and a new adapter only has to answer the reader's questions.
//!
//! Ranks compare byte by byte and are unique per project, deleted issues included (they
//! keep their rank for a restore). Lower ranks come first: "before" an issue is the nearest
//! lower rank.

use async_trait::async_trait;
use uuid::Uuid;

use crate::board::{Anchor, Move};
use crate::error::RepoError;
use crate::issue::{Changes, FieldChange};
use crate::rank;
use crate::values::IssueStatus;

/// Which way from a rank a read looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lower,
    Higher,
}

/// What placement needs to read from the moved issue's project. Every read leaves the moved
/// issue itself out, counts deleted issues (their ranks stay taken) and sees the state the
/// store holds locked for the move, so concurrent moves of the project are placed one after
/// the other.
#[async_trait]
pub trait RankReader: Send {
    /// The rank of the live issue `number`, when its status is `status`.
    async fn anchor_rank(
        &mut self,
        number: i64,
        status: IssueStatus,
    ) -> Result<Option<String>, RepoError>;

    /// The nearest rank strictly lower (or higher) than `rank`.
    async fn nearest(&mut self, rank: &str, side: Side) -> Result<Option<String>, RepoError>;

    /// The highest rank among the live issues whose status is `status`.
    async fn column_last(&mut self, status: IssueStatus) -> Result<Option<String>, RepoError>;

    /// The rank the project's next new issue will get ([`rank::for_position`] of the next
    /// number). It is above every rank of the project and stays so.
    async fn next_new_rank(&mut self) -> Result<String, RepoError>;

    /// Up to `limit` issues whose rank is `from` or beyond it on `side`, nearest first.
    async fn run(
        &mut self,
        from: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<(Uuid, String)>, RepoError>;
}

/// What a move writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Only the moved issue is written, with this rank (possibly the one it has).
    Rank(String),
    /// The gap was too narrow: the store first writes `rewrites` (the moved issue among
    /// them) as one change — the ranks are unique as a whole, not in every intermediate
    /// state — then the moved issue with `rank`. Respacing changes ranks only: no version
    /// bump and no event for the neighbours, whose order does not change.
    Respaced { rank: String, rewrites: Vec<(Uuid, String)> },
    /// The anchor issue is not live in the target column.
    AnchorMissing,
}

/// Issues on each side of the gap that respacing rewrites at first; the window grows
/// fourfold until the ranks fit, at worst to the whole project.
pub const RESPACE_WINDOW: usize = 16;

/// Where `mv` puts its issue, which now has `current_status` and `current_rank`.
pub async fn place(
    reader: &mut dyn RankReader,
    mv: &Move,
    current_status: IssueStatus,
    current_rank: &str,
) -> Result<Placement, RepoError> {
    let target = mv.status.unwrap_or(current_status);
    let (lo, hi) = match mv.anchor {
        Anchor::Before(number) => {
            let Some(hi) = reader.anchor_rank(number, target).await? else {
                return Ok(Placement::AnchorMissing);
            };
            (reader.nearest(&hi, Side::Lower).await?, Some(hi))
        }
        Anchor::After(number) => {
            let Some(lo) = reader.anchor_rank(number, target).await? else {
                return Ok(Placement::AnchorMissing);
            };
            let hi = reader.nearest(&lo, Side::Higher).await?;
            (Some(lo), hi)
        }
        Anchor::Bottom => match reader.column_last(target).await? {
            // An empty column: any rank is its bottom; keep the issue's.
            None => return Ok(Placement::Rank(current_rank.to_owned())),
            // Already below the column's last issue: nothing to change.
            Some(last) if current_rank > last.as_str() => {
                return Ok(Placement::Rank(current_rank.to_owned()));
            }
            Some(last) => {
                let hi = reader.nearest(&last, Side::Higher).await?;
                (Some(last), hi)
            }
        },
    };
    let hi = match hi {
        Some(hi) => hi,
        None => reader.next_new_rank().await?,
    };
    let rank = rank::between(lo.as_deref(), Some(&hi)).map_err(|e| out_of_order(&lo, &hi, e))?;
    if rank.len() <= rank::REBALANCE_ABOVE {
        return Ok(Placement::Rank(rank));
    }
    respace(reader, mv.issue_id, lo, hi).await
}

/// Evenly spaced ranks for a window of issues around the gap `(lo, hi)`, with the moved
/// issue in the gap. Only a window is rewritten, so a crowded spot in a large project costs
/// a few rows; the order of every other issue stays as it was. `hi` is an issue's rank or
/// the next new issue's, which stays above everything.
async fn respace(
    reader: &mut dyn RankReader,
    moved: Uuid,
    lo: Option<String>,
    hi: String,
) -> Result<Placement, RepoError> {
    let mut window = RESPACE_WINDOW;
    loop {
        let lower = match &lo {
            Some(lo) => reader.run(lo, Side::Lower, window + 1).await?,
            None => Vec::new(),
        };
        let higher = reader.run(&hi, Side::Higher, window + 1).await?;
        // The issue just outside the window on each side is the fixed bound; without one,
        // the bound is the bottom of all ranks, or the next new issue's rank.
        let floor = lower.get(window).map(|(_, rank)| rank.clone());
        let ceiling_bound = higher.get(window).map(|(_, rank)| rank.clone());
        let exhausted = floor.is_none() && ceiling_bound.is_none();
        let mut ids: Vec<Uuid> = lower.iter().take(window).map(|(id, _)| *id).collect();
        ids.reverse();
        let moved_at = ids.len();
        ids.push(moved);
        ids.extend(higher.iter().take(window).map(|(id, _)| *id));
        let ceiling = match ceiling_bound {
            Some(rank) => rank,
            None => reader.next_new_rank().await?,
        };
        let ranks = rank::spread(floor.as_deref(), Some(&ceiling), ids.len())
            .map_err(|e| out_of_order(&floor, &ceiling, e))?;
        let longest = ranks.iter().map(String::len).max().unwrap_or(0);
        if exhausted && longest > rank::MAX_LEN {
            return Err(RepoError::Internal("ranks still too long after respacing".into()));
        }
        if longest <= rank::RESPACED_MAX || exhausted {
            let rank = ranks[moved_at].clone();
            return Ok(Placement::Respaced {
                rank,
                rewrites: ids.into_iter().zip(ranks).collect(),
            });
        }
        window = window.saturating_mul(4);
    }
}

fn out_of_order(lo: &Option<String>, hi: &str, e: crate::error::Invalid) -> RepoError {
    RepoError::Internal(format!("ranks out of order between {lo:?} and {hi}: {e}"))
}

/// The changes a `moved` event records: the status when it changed, and the rank.
pub fn move_changes(
    from_status: IssueStatus,
    to_status: IssueStatus,
    from_rank: &str,
    to_rank: &str,
) -> Changes {
    let mut changes = Changes::new();
    if from_status != to_status {
        changes.insert(
            "status".to_owned(),
            FieldChange { from: from_status.as_str().into(), to: to_status.as_str().into() },
        );
    }
    changes.insert("rank".to_owned(), FieldChange { from: from_rank.into(), to: to_rank.into() });
    changes
}

#[cfg(test)]
mod tests;
