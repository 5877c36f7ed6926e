//! Search across the caller's projects, or within one.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::DomainError;
use crate::issue::IssueFilter;
use crate::pagination::{Page, PageRequest};
use crate::ports::{Clock, SearchRepository};
use crate::search::{Hit, HitKey};
use crate::values::ProjectRef;

pub struct SearchService {
    search: Arc<dyn SearchRepository>,
    clock: Arc<dyn Clock>,
}

impl SearchService {
    pub fn new(search: Arc<dyn SearchRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { search, clock }
    }

    /// Ranked hits. Membership is part of the query itself: only projects the caller
    /// belongs to are searched, so nothing else can leak. A query without searchable words
    /// finds nothing.
    pub async fn search(
        &self,
        user: Uuid,
        project: Option<ProjectRef>,
        filter: &IssueFilter,
        page: &PageRequest<HitKey>,
    ) -> Result<Page<Hit, HitKey>, DomainError> {
        if page.after.as_ref().is_some_and(|key| !key.is_plausible()) {
            return Err(DomainError::InvalidCursor);
        }
        let searchable = filter.text.as_ref().is_some_and(|q| q.is_searchable() || q.key.is_some());
        // The walk's snapshot, carried by its cursors: later pages leave out issues created
        // after the first one.
        let as_of = page.after.as_ref().map_or_else(|| self.clock.now(), |key| key.as_of);
        let found = self.search.search(user, project, filter, page, as_of).await?;
        let page = found.ok_or(DomainError::NotFound)?;
        if !searchable {
            return Ok(Page { items: Vec::new(), next: None });
        }
        Ok(page)
    }
}
