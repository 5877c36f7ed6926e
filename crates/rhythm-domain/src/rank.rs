//! Ranks: the order of issues on boards and in the backlog, as strings compared byte by
//! byte (fractional indexing). Moving an issue writes only that issue: its new rank is a
//! string strictly between its new neighbours'.
//!
//! Digits are `0-9A-Za-z` (base 62, in byte order). A rank never ends in `0`, so there is
//! always room below it. New issues get [`for_position`] of their number, which sorts
//! below every rank handed out before; fractional ranks of moved issues always stay below
//! the rank the next new issue will get.

use crate::error::Invalid;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: usize = 62;

/// Ranks longer than this are due for respacing: the issues around the spot get evenly
/// spaced ranks again (see [`spread`]).
pub const REBALANCE_ABOVE: usize = 128;
/// Respacing must bring every rank it writes to at most this length, leaving room for many
/// more moves into the same spot before the next respacing.
pub const RESPACED_MAX: usize = REBALANCE_ABOVE / 2;
/// The longest rank there is: respacing keeps every rank within it, and every store must
/// hold ranks of up to this many bytes.
pub const MAX_LEN: usize = 255;

fn digit(byte: u8) -> Option<usize> {
    DIGITS.iter().position(|d| *d == byte)
}

fn check(rank: &str) -> Result<(), Invalid> {
    let valid = !rank.is_empty()
        && rank.len() <= MAX_LEN
        && rank.bytes().all(|b| digit(b).is_some())
        && !rank.ends_with('0');
    if valid { Ok(()) } else { Err(Invalid("is not a valid rank")) }
}

/// Whether `rank` is a rank this module could have made (a client may hand one back in a
/// cursor).
pub fn is_valid(rank: &str) -> bool {
    check(rank).is_ok()
}

/// The rank of the issue numbered `position` when it is created (or when a rebalance puts
/// an issue at that position): 12 hex digits and a `V`. Mirrors the SQL function
/// `rhythm_rank_for_position` of the migrations.
pub fn for_position(position: i64) -> String {
    format!("{position:012x}V")
}

/// A rank strictly between `lo` and `hi` (`None`: no bound on that side). Fails when the
/// bounds are invalid or not in order.
pub fn between(lo: Option<&str>, hi: Option<&str>) -> Result<String, Invalid> {
    let lo = lo.unwrap_or("");
    if !lo.is_empty() {
        check(lo)?;
    }
    if let Some(hi) = hi {
        check(hi)?;
        if lo >= hi {
            return Err(Invalid("bounds are not in order"));
        }
    }
    let mut out = Vec::with_capacity(lo.len() + 2);
    midpoint(lo.as_bytes(), hi.map(str::as_bytes), &mut out);
    String::from_utf8(out).map_err(|_| Invalid("is not a valid rank"))
}

/// `n` ranks strictly between `lo` and `hi`, in order and evenly spread: bisecting the gap
/// recursively keeps each one about `log62(n)` digits longer than the bounds' common prefix.
pub fn spread(lo: Option<&str>, hi: Option<&str>, n: usize) -> Result<Vec<String>, Invalid> {
    let mut out = Vec::with_capacity(n);
    spread_into(lo, hi, n, &mut out)?;
    Ok(out)
}

fn spread_into(
    lo: Option<&str>,
    hi: Option<&str>,
    n: usize,
    out: &mut Vec<String>,
) -> Result<(), Invalid> {
    if n == 0 {
        return Ok(());
    }
    let mid = between(lo, hi)?;
    let below = (n - 1) / 2;
    spread_into(lo, Some(&mid), below, out)?;
    out.push(mid.clone());
    spread_into(Some(&mid), hi, n - 1 - below, out)
}

/// Appends to `out` a key strictly between `a` and `b`, where `a < b` and neither ends in
/// the zero digit (the midpoint algorithm of fractional indexing).
fn midpoint(a: &[u8], b: Option<&[u8]>, out: &mut Vec<u8>) {
    if let Some(b) = b {
        // Copy the common prefix (a is padded with zeros).
        let mut n = 0;
        while n < b.len() && a.get(n).copied().unwrap_or(DIGITS[0]) == b[n] {
            n += 1;
        }
        if n > 0 {
            out.extend_from_slice(&b[..n]);
            let rest_a = if n < a.len() { &a[n..] } else { &[] };
            midpoint(rest_a, Some(&b[n..]), out);
            return;
        }
    }
    let digit_a = a.first().and_then(|d| digit(*d)).unwrap_or(0);
    let digit_b = b.and_then(|b| b.first()).and_then(|d| digit(*d)).unwrap_or(BASE);
    if digit_b - digit_a > 1 {
        // A digit fits in between.
        out.push(DIGITS[(digit_a + digit_b).div_ceil(2)]);
        return;
    }
    match b {
        // b has more digits: its first digit alone is between a and b.
        Some(b) if b.len() > 1 => out.push(b[0]),
        // Adjacent digits: keep a's digit and find room after it.
        _ => {
            out.push(DIGITS[digit_a]);
            let rest_a = if a.len() > 1 { &a[1..] } else { &[] };
            midpoint(rest_a, None, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_sort_like_numbers() {
        let ranks: Vec<String> =
            [1, 2, 9, 10, 15, 16, 255, 4096, 1_000_000].iter().map(|n| for_position(*n)).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        assert_eq!(ranks, sorted);
        assert_eq!(for_position(1), "000000000001V");
        assert_eq!(for_position(255), "0000000000ffV");
        assert!(ranks.iter().all(|r| check(r).is_ok()));
    }

    #[test]
    fn between_is_strictly_between() {
        let cases: [(Option<&str>, Option<&str>); 8] = [
            (None, None),
            (None, Some("000000000001V")),
            (Some("000000000001V"), None),
            (Some("000000000001V"), Some("000000000002V")),
            (Some("a"), Some("b")),
            (Some("a"), Some("a1")),
            (Some("Zz"), Some("a")),
            (Some("1"), Some("2")),
        ];
        for (lo, hi) in cases {
            let mid = between(lo, hi).unwrap();
            assert!(check(&mid).is_ok(), "{mid}");
            if let Some(lo) = lo {
                assert!(lo < mid.as_str(), "{lo} < {mid}");
            }
            if let Some(hi) = hi {
                assert!(mid.as_str() < hi, "{mid} < {hi}");
            }
        }
    }

    #[test]
    fn repeated_inserts_into_one_gap_stay_ordered_and_grow_slowly() {
        // Always insert right above the last inserted key: the worst case.
        let (lo, mut hi) = (for_position(1), for_position(2));
        let mut keys = vec![lo.clone(), hi.clone()];
        for _ in 0..1000 {
            let mid = between(Some(&lo), Some(&hi)).unwrap();
            keys.push(mid.clone());
            hi = mid;
        }
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len(), "all distinct");
        // About one character per log2(62) ≈ 6 halvings: 1000 moves into one spot stay
        // under the database's limit, and pass the rebalance threshold on the way.
        assert!(hi.len() <= 14 + 1000 / 5, "{}", hi.len());
        assert!(hi.len() > REBALANCE_ABOVE, "{}", hi.len());
    }

    #[test]
    fn appending_and_prepending_forever_is_fine() {
        let mut last = for_position(1);
        for _ in 0..1000 {
            let next = between(Some(&last), None).unwrap();
            assert!(next > last);
            last = next;
        }
        let mut first = for_position(1);
        for _ in 0..1000 {
            let prev = between(None, Some(&first)).unwrap();
            assert!(prev < first, "{prev} < {first}");
            first = prev;
        }
    }

    #[test]
    fn spread_ranks_are_ordered_distinct_and_short() {
        let (lo, hi) = (for_position(7), for_position(8));
        let crowded = between(Some(&lo), Some(&hi)).unwrap();
        for (lo, hi, n) in [
            (None, Some(for_position(5)), 4),
            (Some(lo.clone()), Some(hi), 1000),
            (Some(lo.clone()), Some(crowded), 33),
            (Some(lo), None, 10),
        ] {
            let keys = spread(lo.as_deref(), hi.as_deref(), n).unwrap();
            assert_eq!(keys.len(), n);
            let mut bounded = Vec::new();
            bounded.extend(lo.clone());
            bounded.extend(keys.iter().cloned());
            bounded.extend(hi.clone());
            assert!(bounded.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {bounded:?}");
            assert!(keys.iter().all(|k| check(k).is_ok()));
            let prefix = lo.as_ref().map_or(0, String::len).max(hi.as_ref().map_or(0, String::len));
            let longest = keys.iter().map(String::len).max().unwrap();
            assert!(longest <= prefix + 4, "{n} keys need at most a few digits more: {longest}");
        }
        assert!(spread(Some("b"), Some("a"), 3).is_err());
        assert!(spread(Some("b"), Some("a"), 0).unwrap().is_empty());
    }

    #[test]
    fn invalid_bounds_are_refused() {
        assert!(between(Some("b"), Some("a")).is_err());
        assert!(between(Some("a"), Some("a")).is_err());
        assert!(between(Some("a0"), None).is_err());
        assert!(between(Some("a-b"), None).is_err());
        assert!(between(None, Some("")).is_err());
    }
}
