//! `cargo xtask conformance`: fuzzes the running API against its own OpenAPI document with
//! schemathesis (installed from PyPI into a virtual environment under `target/`).
//!
//! The server runs on a fresh database with a registered user and a project `RHY` with a
//! few issues and a sprint, and schemathesis calls every operation with that user's token.
//!
//! Besides schemathesis's checks, `conformance_hooks.py` holds the few refusals of
//! schema-valid requests that depend on the data to what they must be.
//!
//! The run is deterministic: a fixed seed and a fixed number of examples per operation (no
//! time budget, which would make the number of cases depend on the machine's speed). A
//! failed check is a finding in Rhythm and fails the run; an error of the tool itself (its
//! generator crashing, say) is reported as such and the run retried once.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase;
use xshell::{Shell, cmd};

use crate::db;
use crate::server::{RhythmProcess, build_rhythm};

/// Pinned so a new release cannot break CI without a change here.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The seed of every CI run. Change it on purpose (to explore other inputs), in its own
/// commit, never by chance.
pub const SEED: u64 = 20261202;

/// Test cases per API operation.
pub const EXAMPLES: u32 = 100;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,negative_data_rejection,\
                      positive_data_acceptance,refusals_depend_only_on_state";

/// The custom check `refusals_depend_only_on_state` (see the file's docs).
const HOOKS: &str = include_str!("conformance_hooks.py");

/// `positive_data_acceptance`'s default statuses (schemathesis 4.32).
const ACCEPTANCE: [&str; 8] = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"];

/// Refusals of schema-valid bodies that depend on the data, not the request's form: a
/// reference to a sprint, member or issue that does not exist (or is closed, a viewer, in
/// another column), and a sprint's dates, whose order JSON Schema cannot state. By operation, the fields such a
/// 422 may name; the check `refusals_depend_only_on_state` holds every 422 of these
/// operations to them.
const STATE_DEPENDENT_FIELDS: &[(&str, &[&str])] = &[
    ("POST /api/v1/projects/{project}/issues", &["assignee_id", "sprint_id"]),
    ("PATCH /api/v1/projects/{project}/issues/{number}", &["assignee_id", "sprint_id"]),
    ("POST /api/v1/projects/{project}/sprints", &["ends_on"]),
    ("PATCH /api/v1/projects/{project}/sprints/{sprint_id}", &["ends_on"]),
    // A move's anchor must be an issue in the target column.
    ("POST /api/v1/projects/{project}/issues/{number}/move", &["before", "after"]),
];

/// Statuses that count as rejecting invalid input: schemathesis's defaults without 5xx (a
/// server error is never a proper rejection) and with 412 and 413, which Rhythm answers to a
/// stale `If-Match` and to a body over its size limit (fuzzed bodies of long strings of
/// escaped characters pass 1 MiB).
const REJECTION_CONFIG: &str = r#"[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429"]
"#;

pub struct Options {
    pub seed: u64,
    pub max_examples: u32,
}

/// Creates the virtual environment and installs schemathesis unless already there.
fn schemathesis(sh: &Shell, target: &Path) -> anyhow::Result<PathBuf> {
    let venv = target.join("conformance-venv");
    let st = venv.join("bin").join("st");
    let installed = st.exists()
        && cmd!(sh, "{st} --version")
            .quiet()
            .read()
            .map(|v| SCHEMATHESIS.ends_with(v.split_whitespace().last().unwrap_or("")))
            .unwrap_or(false);
    if !installed {
        eprintln!("installing {SCHEMATHESIS} into {}", venv.display());
        let python = crate::python::interpreter(sh, target)?;
        cmd!(sh, "{python} -m venv --clear {venv}")
            .run()
            .context("python3 with the venv module is needed for the conformance run")?;
        let pip = venv.join("bin").join("pip");
        cmd!(sh, "{pip} install --quiet --disable-pip-version-check {SCHEMATHESIS}").run()?;
    }
    Ok(st)
}

/// Registers the fuzzing user and gives it a project with some content.
async fn seed(base: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let session: Value = post(
        "/api/v1/auth/register",
        None,
        json!({"email": "fuzz@conformance.test", "name": "Fuzz", "password": "conformance-pass"}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let token = session["access_token"].as_str().context("no access token")?.to_owned();
    post("/api/v1/projects", Some(&token), json!({"key": "RHY", "name": "Rhythm"}))
        .await?
        .error_for_status()?;
    let sprint: Value =
        post("/api/v1/projects/RHY/sprints", Some(&token), json!({"name": "Sprint 1"}))
            .await?
            .error_for_status()?
            .json()
            .await?;
    for (i, title) in ["Deploy the API", "Login page crashes", "Dark mode"].iter().enumerate() {
        let body = if i == 0 {
            json!({"title": title, "sprint_id": sprint["id"]})
        } else {
            json!({"title": title})
        };
        post("/api/v1/projects/RHY/issues", Some(&token), body).await?.error_for_status()?;
    }
    Ok(token)
}

pub fn run(sh: &Shell, runtime: &tokio::runtime::Runtime, options: &Options) -> anyhow::Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| sh.current_dir().join("target"), PathBuf::from);
    let st = schemathesis(sh, &target)?;
    let binary = build_rhythm(sh, false)?;

    let server_url = db::url_or_default("postgres");
    let database = format!("rhythm_conformance_{}", std::process::id());
    let base_url =
        server_url.rsplit_once('/').map_or(server_url.as_str(), |(base, _)| base).to_owned();
    let url = format!("{base_url}/{database}");
    runtime.block_on(async {
        db::ensure_reachable(&url).await?;
        sqlx::Postgres::create_database(&url).await.context("creating the conformance database")
    })?;
    let outcome = fuzz(sh, runtime, &st, &binary, &url, &target, options);
    runtime.block_on(sqlx::Postgres::force_drop_database(&url)).ok();
    outcome
}

fn fuzz(
    sh: &Shell,
    runtime: &tokio::runtime::Runtime,
    st: &Path,
    binary: &Path,
    database_url: &str,
    target: &Path,
    options: &Options,
) -> anyhow::Result<()> {
    let log = target.join("conformance-rhythm.log");
    let env = [("RHYTHM_AUTH_RATE_PER_MIN", "0".to_owned()), ("RUST_LOG", "warn".to_owned())];
    let rhythm = RhythmProcess::start(binary, database_url, &env, log)?;
    let base = rhythm.base_url.clone();
    let token = runtime.block_on(seed(&base))?;
    let schema = format!("{base}/api/v1/openapi.json");
    let header = format!("Authorization: Bearer {token}");
    let document: Value = runtime
        .block_on(async { reqwest::get(&schema).await?.error_for_status()?.json().await })?;
    let config = target.join("conformance-schemathesis.toml");
    std::fs::write(&config, configuration(&document))
        .context("writing the schemathesis configuration")?;
    let hooks = target.join("conformance_hooks.py");
    std::fs::write(&hooks, HOOKS).context("writing the schemathesis hooks")?;
    let refusals = target.join("conformance-state-dependent.json");
    let fields: serde_json::Map<String, Value> = STATE_DEPENDENT_FIELDS
        .iter()
        .map(|(op, fields)| ((*op).to_owned(), json!(fields)))
        .collect();
    std::fs::write(&refusals, json!({ "fields": fields }).to_string())?;
    let _hooks = sh.push_env("SCHEMATHESIS_HOOKS", &hooks);
    let _refusals = sh.push_env("RHYTHM_STATE_DEPENDENT", &refusals);
    let (seed, examples) = (options.seed.to_string(), options.max_examples.to_string());
    for attempt in 1..=2 {
        let report_dir = target.join(format!("conformance-report-{attempt}"));
        std::fs::remove_dir_all(&report_dir).ok();
        let output = cmd!(
            sh,
            "{st} --config-file {config} run {schema} --url {base} --header {header} --checks {CHECKS}
                --seed {seed} --max-examples {examples}
                --workers 1 --max-response-time 5 --report junit --report-dir {report_dir} --no-color"
        )
        .ignore_status()
        .output()?;
        println!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        if output.status.success() {
            return Ok(());
        }
        let report = read_reports(&report_dir);
        if report.contains("<failure") {
            bail!(
                "schemathesis found failures in Rhythm (see above; seed {seed}; rhythm's log: {})",
                rhythm.log.display()
            );
        }
        // No check failed, yet the run did not pass: the tool errored (its own crash, or it
        // could not run an operation). Say so plainly and try once more.
        eprintln!(
            "conformance: schemathesis errored without a failed check (attempt {attempt} of 2; \
             a tool error, not a finding in Rhythm)"
        );
    }
    bail!("schemathesis errored twice without a failed check: the tool, not Rhythm (see above)")
}

/// The run's configuration: which statuses reject invalid data, and on which operations a
/// schema-valid request may be refused because of the data (a listing's cursor the server
/// did not issue: 400; an `If-Match` of another version: 412; a body's references and
/// cross-field rules: 422).
fn configuration(document: &Value) -> String {
    let mut config = REJECTION_CONFIG.to_owned();
    let mut extra: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for operation in operations_with(document, "query", "cursor") {
        extra.entry(operation).or_default().push("400");
    }
    // `If-Match` names a version; any other than the current one fails the precondition.
    for operation in operations_with(document, "header", "if-match") {
        extra.entry(operation).or_default().push("412");
    }
    for (operation, _) in STATE_DEPENDENT_FIELDS {
        extra.entry((*operation).to_owned()).or_default().push("422");
    }
    for (operation, statuses) in extra {
        let statuses: Vec<String> =
            ACCEPTANCE.iter().chain(&statuses).map(|s| format!("\"{s}\"")).collect();
        config.push_str(&format!(
            "\n[[operations]]\ninclude-name = \"{operation}\"\n\
             checks.positive_data_acceptance.expected-statuses = [{}]\n",
            statuses.join(", ")
        ));
    }
    config
}

/// `METHOD /path` of every operation that takes the parameter `name` in `place`.
fn operations_with(document: &Value, place: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let takes_it = operation["parameters"].as_array().into_iter().flatten().any(|p| {
                p["in"] == place && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            if takes_it {
                found.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

/// The JUnit reports schemathesis wrote, concatenated (empty when there are none).
fn read_reports(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return String::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect::<Vec<_>>()
        .join("\n")
}
