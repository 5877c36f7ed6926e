//! The permission policy: who may do what in a project. One pure function, used by every
//! service; nothing else in Rhythm decides on roles.
//!
//! Non-members are told the project does not exist (`NotFound`), so a project's existence
//! never leaks; members whose role is too weak are told `Forbidden`.

use crate::error::DomainError;
use crate::values::Role;

/// Something a caller wants to do inside one project, with the facts the rule depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the project, its members, issues, history, boards, sprints, backlog; search it.
    Read,
    CreateIssue,
    /// Update or move any issue.
    UpdateIssue,
    /// Soft-delete an issue; members may delete only issues they reported.
    DeleteIssue {
        is_reporter: bool,
    },
    RestoreIssue,
    /// Create, update, start, complete or delete sprints.
    ManageSprints,
    /// Change the project's name or description.
    UpdateProject,
    /// Add, change or remove a membership that has (or will have) `role`. A role change is
    /// checked for the old and for the new role.
    ManageMembership {
        role: Role,
    },
    ArchiveProject,
    /// Leave the project. Always allowed to members; the store refuses to let the last
    /// owner go (a conflict, not a permission question).
    Leave,
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The caller is not a member: the project is reported as unknown.
    NotFound,
    /// The caller is a member but the role does not allow the action.
    Forbidden,
}

impl From<Denied> for DomainError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotFound => DomainError::NotFound,
            Denied::Forbidden => DomainError::Forbidden,
        }
    }
}

/// Decides whether a caller with `role` in a project (`None`: not a member) may do `action`.
pub fn authorize(role: Option<Role>, action: Action) -> Result<(), Denied> {
    let Some(role) = role else {
        return Err(Denied::NotFound);
    };
    let allowed = match action {
        Action::Read | Action::Leave => true,
        Action::CreateIssue | Action::UpdateIssue => role >= Role::Member,
        Action::DeleteIssue { is_reporter } => {
            role >= Role::Maintainer || (role == Role::Member && is_reporter)
        }
        Action::RestoreIssue | Action::ManageSprints | Action::UpdateProject => {
            role >= Role::Maintainer
        }
        Action::ManageMembership { role: target } => match target {
            Role::Owner | Role::Maintainer => role == Role::Owner,
            Role::Member | Role::Viewer => role >= Role::Maintainer,
        },
        Action::ArchiveProject => role == Role::Owner,
    };
    if allowed { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Whether a member with `role` may be an issue's assignee: whoever may work on issues.
pub fn may_be_assigned(role: Role) -> bool {
    authorize(Some(role), Action::UpdateIssue).is_ok()
}

/// The wire names of the roles [`may_be_assigned`] accepts, for stores that check an
/// assignee's role under lock in the same statement as the write.
pub fn assignable_role_names() -> Vec<&'static str> {
    Role::ALL.iter().copied().filter(|r| may_be_assigned(*r)).map(Role::as_str).collect()
}

/// Shorthand for services: the policy's answer as a domain error.
pub fn require(role: Option<Role>, action: Action) -> Result<(), DomainError> {
    authorize(role, action).map_err(DomainError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: Result<(), Denied> = Ok(());
    const F: Result<(), Denied> = Err(Denied::Forbidden);

    /// The contract's permission matrix, cell by cell: viewer, member, maintainer, owner.
    fn matrix() -> Vec<(Action, [Result<(), Denied>; 4])> {
        use Action::*;
        vec![
            (Read, [Y, Y, Y, Y]),
            (CreateIssue, [F, Y, Y, Y]),
            (UpdateIssue, [F, Y, Y, Y]),
            (DeleteIssue { is_reporter: true }, [F, Y, Y, Y]),
            (DeleteIssue { is_reporter: false }, [F, F, Y, Y]),
            (RestoreIssue, [F, F, Y, Y]),
            (ManageSprints, [F, F, Y, Y]),
            (UpdateProject, [F, F, Y, Y]),
            (ManageMembership { role: Role::Viewer }, [F, F, Y, Y]),
            (ManageMembership { role: Role::Member }, [F, F, Y, Y]),
            (ManageMembership { role: Role::Maintainer }, [F, F, F, Y]),
            (ManageMembership { role: Role::Owner }, [F, F, F, Y]),
            (ArchiveProject, [F, F, F, Y]),
            (Leave, [Y, Y, Y, Y]),
        ]
    }

    #[test]
    fn every_cell_of_the_permission_matrix() {
        let roles = [Role::Viewer, Role::Member, Role::Maintainer, Role::Owner];
        for (action, expected) in matrix() {
            for (role, want) in roles.iter().zip(expected) {
                assert_eq!(authorize(Some(*role), action), want, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn members_and_stronger_may_be_assigned() {
        assert_eq!(assignable_role_names(), ["member", "maintainer", "owner"]);
        assert!(!may_be_assigned(Role::Viewer));
    }

    #[test]
    fn non_members_get_not_found_for_everything() {
        for (action, _) in matrix() {
            assert_eq!(authorize(None, action), Err(Denied::NotFound), "{action:?}");
        }
    }

    #[test]
    fn the_matrix_covers_every_action_variant() {
        // Adding an Action variant without a row above fails to compile here.
        for (action, _) in matrix() {
            match action {
                Action::Read
                | Action::CreateIssue
                | Action::UpdateIssue
                | Action::DeleteIssue { .. }
                | Action::RestoreIssue
                | Action::ManageSprints
                | Action::UpdateProject
                | Action::ManageMembership { .. }
                | Action::ArchiveProject
                | Action::Leave => {}
            }
        }
        assert_eq!(matrix().len(), 14);
    }

    #[test]
    fn denials_become_domain_errors() {
        assert!(matches!(require(None, Action::Read), Err(DomainError::NotFound)));
        assert!(matches!(
            require(Some(Role::Viewer), Action::CreateIssue),
            Err(DomainError::Forbidden)
        ));
        assert!(require(Some(Role::Owner), Action::ArchiveProject).is_ok());
    }
}
