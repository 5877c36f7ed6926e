//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, its own port, run as
//! the `postgres` user when we are root (PostgreSQL refuses to run as root). Used by the
//! chaos and soak harnesses, which stop and kill their database on purpose.

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
}

impl TempCluster {
    /// Creates and starts a cluster on `port` with trust authentication for user `postgres`.
    pub fn start(port: u16, extra_settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin = std::env::var_os("PG_BIN_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_BIN_DIR), PathBuf::from);
        if !bin.join("initdb").exists() {
            bail!(
                "initdb not found in {} (set PG_BIN_DIR to PostgreSQL's bin directory)",
                bin.display()
            );
        }
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("rhythm-pg-{port}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).ok();
        }
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
        }
        let mut cluster = Self { dir, bin, port, as_postgres, running: false };
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
        let mut conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nlog_min_messages = warning\n",
            cluster.dir.display()
        );
        for (name, value) in extra_settings {
            conf.push_str(&format!("{name} = {value}\n"));
        }
        std::fs::write(Path::new(&data).join("postgresql.auto.conf"), conf)?;
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(Path::new(&data).join("postgresql.auto.conf")))?;
        }
        cluster.resume()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts a stopped cluster and waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let data = self.data_dir();
        let log = self.dir.join("postgres.log").display().to_string();
        self.pg(&["pg_ctl", "-D", &data, "-l", &log, "-w", "-t", "30", "start"])?;
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
