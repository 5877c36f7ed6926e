//! Building blocks of the contract tests: accounts, projects and issues made through the
//! ports, and the domain's services over the store under test.

use std::sync::Arc;

use rhythm_domain::issue::{
    CreateOutcome, Issue, IssueFilter, IssueSort, IssueSortField, NewIssue,
};
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::{
    BoardRepository, IssueRepository, MemberRepository, ProjectRepository, SessionRepository,
    SprintRepository, Store, SystemClock, UserRepository,
};
use rhythm_domain::project::{NewProject, Project};
use rhythm_domain::services::boards::BoardService;
use rhythm_domain::services::issues::IssueService;
use rhythm_domain::services::projects::ProjectService;
use rhythm_domain::services::search::SearchService;
use rhythm_domain::services::sprints::SprintService;
use rhythm_domain::user::{NewUser, User};
use rhythm_domain::values::{
    Email, IssueDescription, IssueStatus, IssueTitle, IssueType, Priority, ProjectDescription,
    ProjectKey, ProjectName, ProjectRef, Role, UserName,
};
use uuid::Uuid;

/// A store under test and the services over it.
pub struct Fixture<S: Store> {
    pub store: Arc<S>,
    pub projects: ProjectService,
    pub issues: IssueService,
    pub boards: BoardService,
    pub sprints: SprintService,
    pub search: SearchService,
}

impl<S: Store> Fixture<S> {
    pub fn new(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            projects: ProjectService::new(store.clone(), store.clone(), store.clone()),
            issues: IssueService::new(store.clone(), store.clone()),
            boards: BoardService::new(store.clone(), store.clone()),
            sprints: SprintService::new(store.clone(), store.clone(), store.clone()),
            search: SearchService::new(store.clone(), Arc::new(SystemClock)),
            store,
        }
    }

    // The store as one port at a time: `Store` joins every port, whose method names overlap.
    pub fn user_repo(&self) -> &dyn UserRepository {
        self.store.as_ref()
    }

    pub fn session_repo(&self) -> &dyn SessionRepository {
        self.store.as_ref()
    }

    pub fn project_repo(&self) -> &dyn ProjectRepository {
        self.store.as_ref()
    }

    pub fn member_repo(&self) -> &dyn MemberRepository {
        self.store.as_ref()
    }

    pub fn issue_repo(&self) -> &dyn IssueRepository {
        self.store.as_ref()
    }

    pub fn sprint_repo(&self) -> &dyn SprintRepository {
        self.store.as_ref()
    }

    pub fn board_repo(&self) -> &dyn BoardRepository {
        self.store.as_ref()
    }

    /// A new account with a unique email.
    pub async fn user(&self, name: &str) -> User {
        let email = format!("{name}-{}@contract.rhythm.test", Uuid::now_v7().simple());
        self.user_with_email(name, &email).await
    }

    pub async fn user_with_email(&self, name: &str, email: &str) -> User {
        let new = NewUser {
            id: Uuid::now_v7(),
            email: Email::parse(email).unwrap(),
            name: UserName::new(name).unwrap(),
            password_hash: "$argon2id$not-checked-here".into(),
        };
        self.user_repo().create(&new).await.unwrap()
    }

    /// A new project owned by `owner`, with a unique key.
    pub async fn project(&self, owner: &User) -> Project {
        let key = unique_key();
        self.project_with_key(owner, &key).await
    }

    pub async fn project_with_key(&self, owner: &User, key: &str) -> Project {
        let new = NewProject {
            id: Uuid::now_v7(),
            key: ProjectKey::parse(key).unwrap(),
            name: ProjectName::new(format!("Project {key}")).unwrap(),
            description: ProjectDescription::new("").unwrap(),
        };
        self.project_repo().create(&new, owner.id).await.unwrap().project
    }

    /// Adds `user` to `project` with `role`.
    pub async fn member(&self, project: &Project, user: &User, role: Role) {
        self.member_repo().add(project.id, user.id, role).await.unwrap();
    }

    /// A new issue titled `title`, reported by `reporter`.
    pub async fn issue(&self, project: &Project, reporter: &User, title: &str) -> Issue {
        let created =
            self.issue_repo().create(project.id, &new_issue(title), reporter.id).await.unwrap();
        match created {
            CreateOutcome::Created(issue) => *issue,
            CreateOutcome::InvalidRefs(refs) => panic!("unexpected invalid references {refs:?}"),
        }
    }

    /// Every live issue of the project in `field` order (ascending), read page by page.
    pub async fn all_issues(
        &self,
        project: &Project,
        user: &User,
        field: IssueSortField,
    ) -> Vec<Issue> {
        let sort = IssueSort { field, descending: false };
        let mut page = PageRequest::first(Limit::new(100).unwrap());
        let mut all = Vec::new();
        loop {
            let found = self
                .issue_repo()
                .list(&ProjectRef::Id(project.id), user.id, &IssueFilter::default(), sort, &page)
                .await
                .unwrap()
                .expect("the member sees the project");
            all.extend(found.value.items);
            match found.value.next {
                Some(next) => page.after = Some(next),
                None => return all,
            }
        }
    }

    /// The issue `number` of the project as the store holds it, deleted or not.
    pub async fn stored_issue(&self, project: &Project, user: &User, number: i64) -> Issue {
        self.issue_repo()
            .find(
                &ProjectRef::Id(project.id),
                number,
                user.id,
                rhythm_domain::issue::Deleted::Include,
            )
            .await
            .unwrap()
            .expect("the member sees the project")
            .value
            .expect("the issue exists")
    }

    /// How many events the issue's history holds of each kind, in order.
    pub async fn event_kinds(&self, issue: &Issue) -> Vec<rhythm_domain::issue::EventKind> {
        let mut page = PageRequest::first(Limit::new(200).unwrap());
        let mut kinds = Vec::new();
        loop {
            let found = self.issue_repo().events(issue.id, &page).await.unwrap();
            kinds.extend(found.items.iter().map(|e| e.kind));
            match found.next {
                Some(next) => page.after = Some(next),
                None => return kinds,
            }
        }
    }
}

pub fn project_ref(project: &Project) -> ProjectRef {
    ProjectRef::Id(project.id)
}

/// A project key no other test uses.
pub fn unique_key() -> String {
    let random = Uuid::now_v7().simple().to_string().to_uppercase();
    format!("C{}", &random[random.len() - 9..])
}

pub fn new_issue(title: &str) -> NewIssue {
    NewIssue {
        id: Uuid::now_v7(),
        title: IssueTitle::new(title).unwrap(),
        description: IssueDescription::new("").unwrap(),
        status: IssueStatus::Todo,
        priority: Priority::None,
        issue_type: IssueType::Task,
        assignee_id: None,
        sprint_id: None,
        story_points: None,
    }
}
