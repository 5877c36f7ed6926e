//! PostgreSQL clusters of the harnesses' own: `initdb` into a directory, their own port, run
//! as the `postgres` user when we are root (PostgreSQL refuses to run as root).
//!
//! Chaos and soak use throwaway clusters (deleted afterwards; they stop and kill them on
//! purpose). The benchmark keeps its seeded cluster under `target/bench/` between runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const DEFAULT_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

pub struct TempCluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    running: bool,
    /// Kept on disk after use.
    keep: bool,
}

impl TempCluster {
    /// Creates and starts a throwaway cluster on `port`, trust authentication for user
    /// `postgres`, no fsync (its data is worthless after the run).
    pub fn start(port: u16, extra_settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("rhythm-pg-{port}-{}", std::process::id()));
        let mut settings = vec![("fsync", "off")];
        settings.extend_from_slice(extra_settings);
        Self::create(dir, port, &settings, false)
    }

    /// Starts the cluster kept in `dir` with `settings`, creating it first if needed. The
    /// second value says whether it was created now (and so holds no data yet).
    pub fn open(
        dir: PathBuf,
        port: u16,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<(Self, bool)> {
        if dir.join("data").join("PG_VERSION").exists() {
            let mut cluster = Self::blank(dir, port, true)?;
            cluster.write_settings(settings)?;
            cluster.resume()?;
            return Ok((cluster, false));
        }
        Ok((Self::create(dir, port, settings, true)?, true))
    }

    fn blank(dir: PathBuf, port: u16, keep: bool) -> anyhow::Result<Self> {
        let bin = std::env::var_os("PG_BIN_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_BIN_DIR), PathBuf::from);
        if !bin.join("initdb").exists() {
            bail!(
                "initdb not found in {} (set PG_BIN_DIR to PostgreSQL's bin directory)",
                bin.display()
            );
        }
        Ok(Self { dir, bin, port, as_postgres: is_root(), running: false, keep })
    }

    fn create(
        dir: PathBuf,
        port: u16,
        settings: &[(&str, &str)],
        keep: bool,
    ) -> anyhow::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).ok();
        }
        std::fs::create_dir_all(&dir)?;
        let mut cluster = Self::blank(dir, port, keep)?;
        if cluster.as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&cluster.dir))?;
        }
        let data = cluster.data_dir();
        cluster.pg(&[
            "initdb",
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ])?;
        cluster.write_settings(settings)?;
        cluster.resume()?;
        Ok(cluster)
    }

    fn write_settings(&self, settings: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nlog_min_messages = warning\n",
            self.port,
            self.dir.display()
        );
        for (name, value) in settings {
            conf.push_str(&format!("{name} = {value}\n"));
        }
        let path = Path::new(&self.data_dir()).join("postgresql.auto.conf");
        std::fs::write(&path, conf)?;
        if self.as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&path))?;
        }
        Ok(())
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// The server's log (statements, when statement logging is on).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The postmaster's process id, while running.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// Starts a stopped cluster and waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let data = self.data_dir();
        let log = self.log_file().display().to_string();
        self.pg(&["pg_ctl", "-D", &data, "-l", &log, "-w", "-t", "60", "start"])?;
        self.running = true;
        Ok(())
    }

    /// Stops the cluster the hard way: no checkpoint, every backend killed (a crash).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let data = self.data_dir();
        self.pg(&["pg_ctl", "-D", &data, "-m", "immediate", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    fn pg(&self, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(args[0]);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(&args[1..]).current_dir(&self.dir);
        run(&mut command)
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.keep {
            if self.running {
                let data = self.data_dir();
                let _ = self.pg(&["pg_ctl", "-D", &data, "-m", "fast", "-w", "stop"]);
            }
            return;
        }
        if self.running {
            let _ = self.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
