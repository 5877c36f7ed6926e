//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`rhythm-postgres` today). Each method's doc is its specification: what it guarantees,
//! which concurrency it must survive, and which [`RepoError`] it returns in which case, so
//! another adapter can be written from the docs and proven by `rhythm-store-tests`.
//!
//! What holds for every method:
//! - A write is atomic: on any error nothing of it is kept. Transient failures (including the
//!   store giving up on a transaction because of another) are `Unavailable`.
//! - Timestamps are the store's clock at the store's precision, and round-trip exactly: a
//!   cursor built from a returned timestamp finds the same row again.
//! - Keyset pages (`PageRequest`) return at most `limit` items after `after`, in the
//!   documented order with `id` breaking ties, and `next` set exactly when more may follow;
//!   rows inserted or changed between pages are neither repeated nor do they make the walk
//!   skip a row that stayed where it was.
//! - Emails compare case-insensitively by Unicode lower case (`Åsa@x` is `åsa@X`); what is
//!   stored and returned is the email as first written.
//!
//! Ports are object-safe (`Arc<dyn Port>`); with the `mock` feature each gets a mockall
//! double (`MockStoreHealth`…) for service unit tests.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::board::{Board, Move, MoveOutcome};
use crate::error::{DomainError, RepoError};
use crate::issue::{
    CreateOutcome, Deleted, EventKey, Issue, IssueEdit, IssueEvent, IssueFilter, IssueKey,
    IssueSort, NewIssue, UpdateOutcome,
};
use crate::pagination::{Page, PageRequest};
use crate::project::{
    Member, MemberKey, MembershipChange, MembershipState, NewProject, Project, ProjectAccess,
    ProjectPatch, ProjectWithRole, Scoped,
};
use crate::search::{Hit, HitKey};
use crate::sprint::{Completion, CompletionTarget, NewSprint, Sprint, SprintKey, SprintPatch};
use crate::user::{
    AccessToken, NewRefreshToken, NewUser, RefreshSecret, Replacement, Rotation, TokenHash, User,
    UserCredentials,
};
use crate::values::{Password, ProjectRef, Role, SprintState, UserName};

/// A decision the domain takes on state the store holds locked for the rest of a write:
/// `Ok(Some(w))` writes `w`, `Ok(None)` writes nothing, `Err(e)` writes nothing and the
/// port answers `RepoError::Refused(e)`. This is how read-modify-write paths stay
/// storage-neutral: the store reads and locks, the domain decides, the store writes, all in
/// one transaction, so a concurrent writer waits instead of making this one fail. Any
/// `Fn(&State) -> Result<Option<Write>, DomainError>` closure is one.
pub trait Decide<State, Write>: Send + Sync {
    fn decide(&self, state: &State) -> Result<Option<Write>, DomainError>;
}

/// A decision as ports take it. It owns what it needs (`'static`), because mock doubles
/// keep their arguments.
pub type Decision<State, Write> = dyn Decide<State, Write>;

impl<State, Write, F> Decide<State, Write> for F
where
    F: Fn(&State) -> Result<Option<Write>, DomainError> + Send + Sync,
{
    fn decide(&self, state: &State) -> Result<Option<Write>, DomainError> {
        self(state)
    }
}

/// The time services go by: expiry of tokens and sessions, the snapshot of a search walk.
/// Injected, so tests can set it; [`SystemClock`] in production.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Every port a storage adapter must implement for Rhythm to run on it.
pub trait Store:
    StoreHealth
    + UserRepository
    + SessionRepository
    + ProjectRepository
    + MemberRepository
    + IssueRepository
    + SprintRepository
    + BoardRepository
    + SearchRepository
    + AttemptCounter
    + Clone
    + 'static
{
}
impl<T> Store for T where
    T: StoreHealth
        + UserRepository
        + SessionRepository
        + ProjectRepository
        + MemberRepository
        + IssueRepository
        + SprintRepository
        + BoardRepository
        + SearchRepository
        + AttemptCounter
        + Clone
        + 'static
{
}

/// Whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `Ok` when a trivial query round-trips; `Unavailable` when the store cannot be reached
    /// (down, no free connection within the acquire timeout).
    async fn ping(&self) -> Result<(), RepoError>;

    /// The store's connections right now, for metrics.
    fn connections(&self) -> ConnectionStats;
}

/// A connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Open connections, busy or idle.
    pub open: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// The most the pool will open.
    pub max: u32,
}

/// Accounts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account. `Conflict(EmailTaken)` when another account has the same email
    /// in any letter case.
    async fn create(&self, user: &NewUser) -> Result<User, RepoError>;

    /// The account whose email matches `email` case-insensitively, with its password hash.
    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError>;

    /// The account `id` with its password hash.
    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError>;

    /// The account `id`; `None` when there is none.
    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError>;

    /// The account whose email matches `email` case-insensitively.
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepoError>;

    /// Renames the account; `None` when it does not exist.
    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError>;

    /// Replaces the password hash and revokes every refresh token of the user, atomically.
    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError>;
}

/// Refresh tokens ("sessions"). A chain is one login's sequence of rotations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores the first token of a new chain (a login or registration). Token hashes are
    /// unique; `NotFound` when the user does not exist.
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError>;

    /// Atomically exchanges the token `presented`, if it is live at `now`, for
    /// `replacement`, which joins the presented token's chain with its user and session
    /// end and expires at the earlier of its own `expires_at` and the session's end. A token
    /// is live at `now` while it is not rotated, not revoked, `now` is before its
    /// `expires_at` and before its session's end. Of any number of concurrent rotations of
    /// one token exactly one gets `Rotated` (the others then find it rotated: `Reused`). A
    /// token that was already rotated gives `Reused` and revokes its whole chain, the newest
    /// token included; an unknown, expired or revoked one gives `Refused`.
    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &Replacement,
        now: OffsetDateTime,
    ) -> Result<Rotation, RepoError>;

    /// Revokes the token (logout). A token that was already rotated revokes its whole
    /// chain. Unknown or already revoked tokens are no error.
    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError>;

    /// Deletes every chain none of whose tokens is live any more (all expired, revoked, or
    /// the session ended); returns how many tokens went. Chains with a live token keep their
    /// rotated tokens, which replay detection needs.
    async fn prune(&self) -> Result<u64, RepoError>;
}

/// Password hashing: slow on purpose, so implementations run it off the async runtime and
/// bound how many run at once.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string (`$argon2id$…`) with a fresh salt.
    async fn hash(&self, password: &Password) -> Result<String, DomainError>;

    /// Whether `password` matches `stored`. With `stored = None` it verifies against a dummy
    /// hash and answers `false`, taking as long as a real check, so unknown accounts cannot
    /// be told from wrong passwords by timing.
    async fn verify(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool, DomainError>;
}

/// Issuing credentials.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A signed, short-lived access token for `user_id`.
    fn access_token(&self, user_id: Uuid) -> Result<AccessToken, DomainError>;

    /// A new opaque refresh token (≥ 256 random bits) and the hash to store.
    fn refresh_token(&self) -> Result<(RefreshSecret, TokenHash), DomainError>;

    /// The hash of a refresh token a client presented.
    fn hash_refresh_token(&self, presented: &str) -> TokenHash;
}

/// Projects.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Creates the project with `owner` as its first owner, atomically.
    /// `Conflict(ProjectKeyTaken)` when the key is in use (archived projects keep theirs).
    async fn create(&self, project: &NewProject, owner: Uuid)
    -> Result<ProjectWithRole, RepoError>;

    /// The caller's standing in the project. `None` when there is no such live (unarchived)
    /// project or the caller is not a member — the two are deliberately indistinguishable.
    async fn access(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectAccess>, RepoError>;

    /// The project with the caller's role, in one round trip; `None` as for `access`.
    async fn find_for_member(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectWithRole>, RepoError>;

    /// The caller's live projects in key order, after the key `page.after`.
    async fn list_for_member(
        &self,
        user: Uuid,
        page: &PageRequest<String>,
    ) -> Result<Page<ProjectWithRole, String>, RepoError>;

    /// Applies `patch`; `NotFound` when the project is gone or archived.
    async fn update(&self, project_id: Uuid, patch: &ProjectPatch) -> Result<Project, RepoError>;

    /// Archives (soft-deletes) the project; its key stays reserved. `NotFound` when already gone.
    async fn archive(&self, project_id: Uuid) -> Result<(), RepoError>;
}

/// Memberships of projects.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// Members in the order they were added, after `page.after`.
    async fn list(
        &self,
        project_id: Uuid,
        page: &PageRequest<MemberKey>,
    ) -> Result<Page<Member, MemberKey>, RepoError>;

    /// The membership of `user_id` in the project; `None` when there is none.
    async fn find(&self, project_id: Uuid, user_id: Uuid) -> Result<Option<Member>, RepoError>;

    /// Adds a member. `Conflict(AlreadyMember)` when they already are; `NotFound` when the
    /// user does not exist.
    async fn add(&self, project_id: Uuid, user_id: Uuid, role: Role) -> Result<Member, RepoError>;

    /// Reads actor and target under the project's membership lock (membership changes of
    /// one project are serialized, so two owners demoting each other at once are decided
    /// one after the other) and gives the target the role `decide` returns. The member as
    /// written, or as read when `decide` wrote nothing. `NotFound` when the target is not a
    /// member or the project is gone.
    async fn change_role(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, Role>,
    ) -> Result<Member, RepoError>;

    /// Removes the target (or lets the actor leave, when both are the same) if `decide`,
    /// run as for `change_role`, returns `Some`. In the same transaction, the target's
    /// open issues in the project (not done or cancelled) lose their assignee, each with
    /// an `updated` event by the actor; resolved issues keep theirs.
    async fn remove(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, ()>,
    ) -> Result<(), RepoError>;
}

/// Issues and their history.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IssueRepository: Send + Sync {
    /// Creates an issue with the project's next number (gap-free however many creates run
    /// at once: numbers are taken in the same transaction as the insert, and a refused
    /// create takes none), with a `created` event. Its rank is
    /// [`rank::for_position`](crate::rank::for_position) of its number, which is above every
    /// rank the project has, so it lands at the bottom of every column. Ranks are compared
    /// byte by byte and are unique per project, deleted issues included. A resolved status
    /// sets `resolved_at`. The assignee (a member whose role
    /// [`policy::may_be_assigned`](crate::policy::may_be_assigned)) and the sprint (of this
    /// project, not closed) are checked under lock, so a concurrent removal or completion
    /// waits; `InvalidRefs` says which failed. `NotFound` when the project is gone.
    async fn create(
        &self,
        project_id: Uuid,
        issue: &NewIssue,
        reporter: Uuid,
    ) -> Result<CreateOutcome, RepoError>;

    /// The issue `number` of the project, with the caller's standing, in one round trip.
    /// `None` when the project is unknown or archived or the caller is not a member;
    /// `Some` with no issue when there is no such (live, unless `Include`d) issue.
    async fn find(
        &self,
        project: &ProjectRef,
        number: i64,
        user: Uuid,
        deleted: Deleted,
    ) -> Result<Option<Scoped<Option<Issue>>>, RepoError>;

    /// Locks the live issue `issue_id` of the project and hands it to `decide`; writes the
    /// edit it returns, bumping the version once and recording one `updated` event with the
    /// changes, in the same transaction; `resolved_at` is set on entering a resolved status
    /// (kept while it stays resolved) and cleared on leaving it. Concurrent updates of one
    /// issue queue behind the lock, so none fails because of another and each decides on
    /// the one before. The assignee and sprint the edit changes to are checked as on create.
    /// Outcomes, first match wins: `Gone` when the issue is not live; `Refused` when
    /// `decide` refuses; `Unchanged` (with the locked issue) when it writes nothing;
    /// `InvalidRefs` when a reference fails (nothing written); else `Updated`.
    async fn update(
        &self,
        issue_id: Uuid,
        project_id: Uuid,
        actor: Uuid,
        decide: &Decision<Issue, IssueEdit>,
    ) -> Result<UpdateOutcome, RepoError>;

    /// Soft-deletes (`deleted = true`) or restores the issue, bumping its version and
    /// recording a `deleted`/`restored` event; the issue keeps its number and rank. `None`
    /// when it was not in the opposite state (or does not exist).
    async fn set_deleted(
        &self,
        issue_id: Uuid,
        deleted: bool,
        actor: Uuid,
    ) -> Result<Option<Issue>, RepoError>;

    /// A page of the project's live issues matching `filter` in `sort` order, with the
    /// caller's standing, in one round trip. `None` as for `find`. Each description holds
    /// at least its first [`SUMMARY_READ_CHARS`](crate::issue::SUMMARY_READ_CHARS)
    /// characters and may be cut there: a listing never needs more, and reading no more
    /// bounds what a page costs.
    async fn list(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        sort: IssueSort,
        page: &PageRequest<IssueKey>,
    ) -> Result<Option<Scoped<Page<Issue, IssueKey>>>, RepoError>;

    /// The issue's history, oldest first (by time, then event id): every event its writes
    /// recorded, whoever made them.
    async fn events(
        &self,
        issue_id: Uuid,
        page: &PageRequest<EventKey>,
    ) -> Result<Page<IssueEvent, EventKey>, RepoError>;
}

/// Sprints.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SprintRepository: Send + Sync {
    /// Creates a planned sprint. `NotFound` when the project is gone. Dates are the
    /// domain's to check (`sprint::check_dates`); the store keeps them ordered as a second
    /// line (`Invalid`).
    async fn create(&self, project_id: Uuid, sprint: &NewSprint) -> Result<Sprint, RepoError>;

    /// The project's sprints, newest first (by creation, then id), optionally only those in
    /// `state`.
    async fn list(
        &self,
        project_id: Uuid,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, RepoError>;

    async fn find(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Option<Sprint>, RepoError>;

    /// Locks the sprint, hands it to `decide` and applies the patch it returns, in one
    /// transaction: two concurrent edits are decided one after the other, each on the
    /// other's result. The sprint as written (or as locked, when `decide` wrote nothing);
    /// `NotFound` when there is no such sprint.
    async fn update(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        decide: &Decision<Sprint, SprintPatch>,
    ) -> Result<Sprint, RepoError>;

    /// `planned → active`. `Conflict(InvalidState)` unless planned;
    /// `Conflict(ActiveSprintExists)` when the project already has an active sprint — of any
    /// number of concurrent starts in one project exactly one succeeds. `NotFound` when the
    /// project has no such sprint.
    async fn start(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Sprint, RepoError>;

    /// `active → closed`, moving every issue that is not done or cancelled to `target`
    /// with a `moved` event each, in one transaction. `Conflict(InvalidState)` unless
    /// active; `NotFound` when the target sprint is not a planned sprint of the project.
    async fn complete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        target: CompletionTarget,
        actor: Uuid,
    ) -> Result<Completion, RepoError>;

    /// Deletes a planned sprint; its issues return to the backlog, each with an `updated`
    /// event, in one transaction. `Conflict(InvalidState)` unless planned.
    async fn delete(&self, project_id: Uuid, sprint_id: Uuid, actor: Uuid)
    -> Result<(), RepoError>;
}

/// Boards: read-only views over issues, and rank moves.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BoardRepository: Send + Sync {
    /// Every status column of the project's live issues passing `filter`: totals, story
    /// points, and the first `per_column` issues in rank order, with the caller's standing,
    /// in one round trip. `None` as for `IssueRepository::find`. Descriptions may be cut as
    /// in `IssueRepository::list`.
    async fn board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Board>>, RepoError>;

    /// The board of one sprint: as [`BoardRepository::board`] over the sprint's issues, in
    /// the same single round trip. The inner `None` when the project has no such sprint.
    async fn sprint_board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        sprint_id: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Option<Board>>>, RepoError>;

    /// Moves an issue, atomically: its new rank is what
    /// [`placement::place`](crate::placement::place) decides from the reads the adapter
    /// answers through a [`RankReader`](crate::placement::RankReader); respacing, when
    /// placement asks for it, rewrites the neighbours' ranks only (no version bump, no
    /// event). The moved issue gets the rank, the status if one is given (`resolved_at` as on
    /// update), a version bump and a `moved` event with the rank (and status) change. Moves
    /// within a project are serialized (the reads and writes of one move see no other), so
    /// concurrent moves into one spot get distinct ranks in a consistent order.
    /// `AnchorNotInColumn` when the anchor is not live in the target column; `Gone` when the
    /// moved issue is not live; `NotFound` when the project is gone.
    async fn move_issue(&self, mv: &Move) -> Result<MoveOutcome, RepoError>;
}

/// Full-text search.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SearchRepository: Send + Sync {
    /// Live issues matching `filter` (whose `text` is set) and created before `as_of`, best
    /// match first, among the live projects `user` is a member of — or only in `project`.
    /// `None` when `project` is given and the caller may not see it.
    ///
    /// Scoring, which every adapter must keep so that a walk through the pages neither
    /// repeats nor skips an issue:
    /// - an issue whose key is the whole query scores
    ///   [`KEY_MATCH_SCORE`](crate::search::KEY_MATCH_SCORE) and comes first; any other
    ///   score is in `0.0..KEY_MATCH_SCORE`;
    /// - a score depends only on the issue and the query, never on other rows (no corpus
    ///   statistics such as BM25's), so inserting issues does not move the cursor's key;
    /// - a term found in the title scores above the same term found only in the
    ///   description;
    /// - order is score descending, then `created_at` and `id` descending: the [`HitKey`];
    /// - a query whose every positive term is a word the adapter does not index (a stop
    ///   word) matches nothing, as does one with no positive term at all
    ///   ([`SearchQuery::is_searchable`](crate::search::SearchQuery::is_searchable)).
    ///
    /// Only the [`CANDIDATES`](crate::search::CANDIDATES) most recently created matches in
    /// scope are ranked (each project searched contributing its share), so a very broad
    /// query costs what a narrow one does.
    /// Descriptions may be cut as in `IssueRepository::list`; the description highlight is
    /// made from (at least) its first
    /// [`HIGHLIGHT_INPUT_CHARS`](crate::search::HIGHLIGHT_INPUT_CHARS) characters.
    async fn search(
        &self,
        user: Uuid,
        project: Option<ProjectRef>,
        filter: &IssueFilter,
        page: &PageRequest<HitKey>,
        as_of: OffsetDateTime,
    ) -> Result<Option<Page<Hit, HitKey>>, RepoError>;
}

/// Counters of sign-in attempts, kept where every replica sees them, so a limit holds for
/// the whole deployment rather than per process.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AttemptCounter: Send + Sync {
    /// Counts one attempt, made at `now`, against each of `keys` in its current window (a
    /// window starts with the first attempt after the previous one ended and lasts
    /// `window`) and returns, for each key in the order given, the attempts counted in its
    /// window so far, this one included, and the time left until that window ends.
    /// Concurrent attempts on one key are all counted (none lost, as an atomic increment);
    /// keys are taken in a fixed order, so attempts sharing keys never deadlock.
    /// `Unavailable` when the store cannot be reached.
    async fn count_attempt(
        &self,
        keys: &[AttemptKey],
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<AttemptCount>, RepoError>;

    /// Drops the counters of windows that ended by `now`; returns how many. Never waits on
    /// a concurrent attempt (one that holds a counter keeps it).
    async fn forget_ended(
        &self,
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<u64, RepoError>;
}

/// What a sign-in attempt is counted against: an opaque digest (of a client address or an
/// email), so the counters hold no personal data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptKey(pub [u8; 32]);

/// One key's attempts in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCount {
    pub attempts: u32,
    pub window_left: std::time::Duration,
}
