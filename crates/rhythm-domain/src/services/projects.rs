//! Projects and memberships: create, read, update, archive; add, re-role and remove members.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::DomainError;
use crate::pagination::{Page, PageRequest};
use crate::policy::{Action, require};
use crate::ports::{MemberRepository, ProjectRepository, UserRepository};
use crate::project::{
    Member, MemberKey, MemberTarget, MembershipChange, MembershipState, NewProject, ProjectAccess,
    ProjectPatch, ProjectWithRole,
};
use crate::values::{ProjectKey, ProjectRef, Role};

pub struct ProjectService {
    projects: Arc<dyn ProjectRepository>,
    members: Arc<dyn MemberRepository>,
    users: Arc<dyn UserRepository>,
}

impl ProjectService {
    pub fn new(
        projects: Arc<dyn ProjectRepository>,
        members: Arc<dyn MemberRepository>,
        users: Arc<dyn UserRepository>,
    ) -> Self {
        Self { projects, members, users }
    }

    async fn authorize(
        &self,
        user: Uuid,
        project: &ProjectRef,
        action: Action,
    ) -> Result<ProjectAccess, DomainError> {
        super::authorize(self.projects.as_ref(), user, project, action).await
    }

    /// Creates a project; the caller becomes its owner.
    pub async fn create(
        &self,
        user: Uuid,
        project: NewProject,
    ) -> Result<ProjectWithRole, DomainError> {
        Ok(self.projects.create(&project, user).await?)
    }

    pub async fn get(
        &self,
        user: Uuid,
        project: &ProjectRef,
    ) -> Result<ProjectWithRole, DomainError> {
        let found = self.projects.find_for_member(project, user).await?;
        require(found.as_ref().map(|p| p.my_role), Action::Read)?;
        found.ok_or(DomainError::NotFound)
    }

    pub async fn list(
        &self,
        user: Uuid,
        page: &PageRequest<String>,
    ) -> Result<Page<ProjectWithRole, String>, DomainError> {
        if page.after.as_deref().is_some_and(|key| ProjectKey::parse(key).is_err()) {
            return Err(DomainError::InvalidCursor);
        }
        Ok(self.projects.list_for_member(user, page).await?)
    }

    pub async fn update(
        &self,
        user: Uuid,
        project: &ProjectRef,
        patch: ProjectPatch,
    ) -> Result<ProjectWithRole, DomainError> {
        let access = self.authorize(user, project, Action::UpdateProject).await?;
        let updated = self.projects.update(access.project_id, &patch).await?;
        Ok(ProjectWithRole { project: updated, my_role: access.role })
    }

    pub async fn archive(&self, user: Uuid, project: &ProjectRef) -> Result<(), DomainError> {
        let access = self.authorize(user, project, Action::ArchiveProject).await?;
        Ok(self.projects.archive(access.project_id).await?)
    }

    pub async fn members(
        &self,
        user: Uuid,
        project: &ProjectRef,
        page: &PageRequest<MemberKey>,
    ) -> Result<Page<Member, MemberKey>, DomainError> {
        let access = self.authorize(user, project, Action::Read).await?;
        Ok(self.members.list(access.project_id, page).await?)
    }

    /// Adds a member with `role`. Maintainers may grant at most `member`.
    pub async fn add_member(
        &self,
        user: Uuid,
        project: &ProjectRef,
        target: MemberTarget,
        role: Role,
    ) -> Result<Member, DomainError> {
        let access = self.authorize(user, project, Action::ManageMembership { role }).await?;
        let target_id = match target {
            MemberTarget::User(id) => self.users.find(id).await?.map(|u| u.id),
            MemberTarget::Email(email) => self.users.find_by_email(&email).await?.map(|u| u.id),
        }
        .ok_or(DomainError::NotFound)?;
        Ok(self.members.add(access.project_id, target_id, role).await?)
    }

    /// Changes a member's role. Both the current and the new role must be manageable by the
    /// caller (a maintainer moves members between `viewer` and `member` only), and the
    /// project keeps an owner; all decided on the roles as they are under the store's lock.
    pub async fn change_role(
        &self,
        user: Uuid,
        project: &ProjectRef,
        target: Uuid,
        role: Role,
    ) -> Result<Member, DomainError> {
        let change = self.membership_change(user, project, target).await?;
        let decide = move |state: &MembershipState| {
            let actor_role = state.actor_role.ok_or(DomainError::NotFound)?;
            require(Some(actor_role), Action::ManageMembership { role: state.target.role })?;
            require(Some(actor_role), Action::ManageMembership { role })?;
            if state.target.role == role {
                return Ok(None);
            }
            state.keeps_an_owner(Some(role)).map_err(DomainError::Conflict)?;
            Ok(Some(role))
        };
        Ok(self.members.change_role(&change, &decide).await?)
    }

    /// Removes a member, or lets the caller leave when `target` is the caller; the project
    /// keeps an owner.
    pub async fn remove_member(
        &self,
        user: Uuid,
        project: &ProjectRef,
        target: Uuid,
    ) -> Result<(), DomainError> {
        let change = self.membership_change(user, project, target).await?;
        let decide = move |state: &MembershipState| {
            let actor_role = state.actor_role.ok_or(DomainError::NotFound)?;
            let action = if target == user {
                Action::Leave
            } else {
                Action::ManageMembership { role: state.target.role }
            };
            require(Some(actor_role), action)?;
            state.keeps_an_owner(None).map_err(DomainError::Conflict)?;
            Ok(Some(()))
        };
        Ok(self.members.remove(&change, &decide).await?)
    }

    /// A membership change by a member of the project (others get `NotFound`).
    async fn membership_change(
        &self,
        user: Uuid,
        project: &ProjectRef,
        target: Uuid,
    ) -> Result<MembershipChange, DomainError> {
        let access = self.authorize(user, project, Action::Read).await?;
        Ok(MembershipChange { project_id: access.project_id, actor_id: user, target_id: target })
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;
    use time::OffsetDateTime;

    use super::*;
    use crate::error::{Conflict, RepoError};
    use crate::ports::{MockMemberRepository, MockProjectRepository, MockUserRepository};
    use crate::project::MemberUser;
    use crate::user::User;
    use crate::values::ProjectKey;

    fn key() -> ProjectRef {
        ProjectRef::Key(ProjectKey::parse("RHY").unwrap())
    }

    fn member(id: Uuid, role: Role) -> Member {
        Member {
            user: MemberUser { id, name: "M".into(), email: "m@x.io".into() },
            role,
            added_at: OffsetDateTime::now_utc(),
        }
    }

    struct Fixture {
        projects: MockProjectRepository,
        members: MockMemberRepository,
        users: MockUserRepository,
        project_id: Uuid,
        caller_role: Option<Role>,
    }

    impl Fixture {
        /// The caller has `role` in project RHY (or is no member with `None`).
        fn caller(role: Option<Role>) -> Self {
            let project_id = Uuid::now_v7();
            let mut projects = MockProjectRepository::new();
            projects
                .expect_access()
                .returning(move |_, _| Ok(role.map(|role| ProjectAccess { project_id, role })));
            Self {
                projects,
                members: MockMemberRepository::new(),
                users: MockUserRepository::new(),
                project_id,
                caller_role: role,
            }
        }

        /// Under the lock the caller holds the role they were authorized with, the target
        /// `role`, and the project has `owners` owners; membership writes report what the
        /// decision chose into `chosen`.
        fn target(mut self, id: Uuid, role: Role, owners: u32) -> Self {
            let actor_role = self.caller_role;
            let state = move || MembershipState { actor_role, target: member(id, role), owners };
            self.members.expect_change_role().returning(move |_, decide| {
                let state = state();
                Ok(match decide.decide(&state).map_err(|e| RepoError::Refused(Box::new(e)))? {
                    Some(role) => member(id, role),
                    None => state.target,
                })
            });
            self.members.expect_remove().returning(move |_, decide| {
                decide.decide(&state()).map_err(|e| RepoError::Refused(Box::new(e)))?;
                Ok(())
            });
            self
        }

        fn service(self) -> ProjectService {
            ProjectService::new(
                Arc::new(self.projects),
                Arc::new(self.members),
                Arc::new(self.users),
            )
        }
    }

    #[tokio::test]
    async fn non_members_cannot_tell_a_project_exists() {
        let service = Fixture::caller(None).service();
        let me = Uuid::now_v7();
        assert!(matches!(
            service.update(me, &key(), ProjectPatch::default()).await,
            Err(DomainError::NotFound)
        ));
        assert!(matches!(service.archive(me, &key()).await, Err(DomainError::NotFound)));
        assert!(matches!(service.remove_member(me, &key(), me).await, Err(DomainError::NotFound)));
    }

    #[tokio::test]
    async fn maintainers_grant_at_most_member() {
        let mut fixture = Fixture::caller(Some(Role::Maintainer));
        let target = Uuid::now_v7();
        fixture.users.expect_find().returning(move |id| {
            Ok(Some(User {
                id,
                email: "t@x.io".into(),
                name: "T".into(),
                created_at: OffsetDateTime::now_utc(),
            }))
        });
        let project_id = fixture.project_id;
        fixture
            .members
            .expect_add()
            .with(eq(project_id), eq(target), eq(Role::Member))
            .times(1)
            .returning(move |_, id, role| Ok(member(id, role)));
        let service = fixture.service();
        let me = Uuid::now_v7();
        let err =
            service.add_member(me, &key(), MemberTarget::User(target), Role::Maintainer).await;
        assert!(matches!(err, Err(DomainError::Forbidden)));
        let added =
            service.add_member(me, &key(), MemberTarget::User(target), Role::Member).await.unwrap();
        assert_eq!(added.role, Role::Member);
    }

    #[tokio::test]
    async fn adding_an_unknown_user_is_not_found() {
        let mut fixture = Fixture::caller(Some(Role::Owner));
        fixture.users.expect_find_by_email().returning(|_| Ok(None));
        fixture.members.expect_add().never();
        let err = fixture
            .service()
            .add_member(
                Uuid::now_v7(),
                &key(),
                MemberTarget::Email("ghost@x.io".into()),
                Role::Viewer,
            )
            .await;
        assert!(matches!(err, Err(DomainError::NotFound)));
    }

    #[tokio::test]
    async fn maintainers_cannot_touch_maintainers_or_promote() {
        let me = Uuid::now_v7();
        let target = Uuid::now_v7();
        let service =
            Fixture::caller(Some(Role::Maintainer)).target(target, Role::Maintainer, 1).service();
        assert!(matches!(
            service.change_role(me, &key(), target, Role::Member).await,
            Err(DomainError::Forbidden)
        ));
        assert!(matches!(
            service.remove_member(me, &key(), target).await,
            Err(DomainError::Forbidden)
        ));

        let viewer = Uuid::now_v7();
        let service =
            Fixture::caller(Some(Role::Maintainer)).target(viewer, Role::Viewer, 1).service();
        assert!(matches!(
            service.change_role(me, &key(), viewer, Role::Owner).await,
            Err(DomainError::Forbidden)
        ));
        let promoted = service.change_role(me, &key(), viewer, Role::Member).await.unwrap();
        assert_eq!(promoted.role, Role::Member);
    }

    #[tokio::test]
    async fn the_last_owner_stays() {
        let (me, target) = (Uuid::now_v7(), Uuid::now_v7());
        let service = Fixture::caller(Some(Role::Owner)).target(target, Role::Owner, 1).service();
        let err = service.change_role(me, &key(), target, Role::Member).await;
        assert!(matches!(err, Err(DomainError::Conflict(Conflict::LastOwner))), "{err:?}");
        let err = service.remove_member(me, &key(), target).await;
        assert!(matches!(err, Err(DomainError::Conflict(Conflict::LastOwner))), "{err:?}");

        let service = Fixture::caller(Some(Role::Owner)).target(target, Role::Owner, 2).service();
        let demoted = service.change_role(me, &key(), target, Role::Member).await.unwrap();
        assert_eq!(demoted.role, Role::Member);
    }

    #[tokio::test]
    async fn an_actor_who_left_meanwhile_changes_nothing() {
        let (me, target) = (Uuid::now_v7(), Uuid::now_v7());
        let mut fixture = Fixture::caller(Some(Role::Owner));
        fixture.caller_role = None;
        let service = fixture.target(target, Role::Viewer, 1).service();
        let err = service.change_role(me, &key(), target, Role::Member).await;
        assert!(matches!(err, Err(DomainError::NotFound)), "{err:?}");
    }

    #[tokio::test]
    async fn unchanged_role_writes_nothing() {
        let target = Uuid::now_v7();
        let service = Fixture::caller(Some(Role::Owner)).target(target, Role::Viewer, 1).service();
        let member = service.change_role(Uuid::now_v7(), &key(), target, Role::Viewer).await;
        assert_eq!(member.unwrap().role, Role::Viewer);
    }

    #[tokio::test]
    async fn anyone_may_leave_but_viewers_cannot_remove_others() {
        let me = Uuid::now_v7();
        let service = Fixture::caller(Some(Role::Viewer)).target(me, Role::Viewer, 1).service();
        service.remove_member(me, &key(), me).await.unwrap();

        let other = Uuid::now_v7();
        let service = Fixture::caller(Some(Role::Viewer)).target(other, Role::Viewer, 1).service();
        let err = service.remove_member(me, &key(), other).await;
        assert!(matches!(err, Err(DomainError::Forbidden)));
    }
}
