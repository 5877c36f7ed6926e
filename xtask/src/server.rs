//! Running a `rhythm` server process for the harnesses (chaos, soak, bench).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A secret for harness runs only.
pub const HARNESS_JWT_SECRET: &str = "harness-secret-harness-secret-harness-secret";

pub struct RhythmProcess {
    child: Child,
    pub base_url: String,
    pub log: PathBuf,
}

impl RhythmProcess {
    /// Starts `binary serve` against `database_url` and waits until `/health/live` answers.
    pub fn start(
        binary: &Path,
        database_url: &str,
        env: &[(&str, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("RHYTHM_BIND", format!("127.0.0.1:{port}"))
            .env("RHYTHM_JWT_SECRET", HARNESS_JWT_SECRET)
            .env("RHYTHM_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let mut process = Self { child, base_url, log };
        process.wait_until_live(Duration::from_secs(60))?;
        Ok(process)
    }

    fn wait_until_live(&mut self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let addr = self.base_url.trim_start_matches("http://").to_owned();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!("rhythm exited during startup ({status}); see {}", self.log.display());
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("rhythm did not start listening within {limit:?}; see {}", self.log.display())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        Ok(self.child.wait()?)
    }
}

impl RhythmProcess {
    /// SIGKILL: the process gets no chance to finish anything (a crash, an OOM kill).
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for RhythmProcess {
    fn drop(&mut self) {
        if self.is_alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Builds the `rhythm` binary and returns its path.
pub fn build_rhythm(sh: &xshell::Shell, release: bool) -> anyhow::Result<PathBuf> {
    build_binary(sh, "rhythm-server", "rhythm", release)
}

/// Builds binary `bin` of `package` and returns its path.
pub fn build_binary(
    sh: &xshell::Shell,
    package: &str,
    bin: &str,
    release: bool,
) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    xshell::cmd!(sh, "{cargo} build {profile...} --locked --package {package} --bin {bin}")
        .run()?;
    let profile_dir = if release { "release" } else { "debug" };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| sh.current_dir().join("target"), PathBuf::from);
    Ok(target.join(profile_dir).join(bin))
}
