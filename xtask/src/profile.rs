//! `cargo xtask bench --profile`: where the server's CPU goes under W1. `perf record` samples
//! the running server (call graphs unwound from `.eh_frame`, which release builds keep, so
//! no debug build is needed) while the load runs; the samples become a flame graph
//! (`target/bench/profile-W1.svg`) and a list of the functions with the most samples in
//! their own code (`profile-W1.txt`).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use inferno::collapse::Collapse;

/// A `perf record` of one process, running until its time is up.
pub struct Recording {
    child: Child,
    data: PathBuf,
}

/// Starts sampling `pid` for `length` into `data`.
pub fn record(pid: u32, length: Duration, data: &Path) -> anyhow::Result<Recording> {
    let child = Command::new("perf")
        .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-p", &pid.to_string()])
        .arg("-o")
        .arg(data)
        .args(["--", "sleep", &length.as_secs().max(1).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting perf (apt-get install linux-perf)")?;
    Ok(Recording { child, data: data.to_owned() })
}

impl Recording {
    /// Waits for the recording, then writes `<stem>.svg` (flame graph), `<stem>.folded`
    /// (collapsed stacks) and `<stem>.txt` (self time by function) beside the data.
    pub fn finish(mut self, title: &str) -> anyhow::Result<PathBuf> {
        let status = self.child.wait()?;
        ensure!(status.success(), "perf record failed ({status})");
        let script = Command::new("perf")
            .args(["script", "--no-inline", "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
            .context("running perf script")?;
        ensure!(script.status.success(), "perf script failed");
        let mut folded = Vec::new();
        inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default())
            .collapse(BufReader::new(script.stdout.as_slice()), &mut folded)
            .context("collapsing stacks")?;
        let folded_path = self.data.with_extension("folded");
        std::fs::write(&folded_path, &folded)?;
        let svg_path = self.data.with_extension("svg");
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        let svg = std::fs::File::create(&svg_path)?;
        inferno::flamegraph::from_reader(&mut options, folded.as_slice(), svg)
            .context("drawing the flame graph")?;
        std::fs::write(self.data.with_extension("txt"), self_time(&folded))?;
        Ok(svg_path)
    }
}

/// Parts of the request path, by a name that appears in their frames. Each sample counts
/// for the part of the frame nearest its top that names one, so the shares add up (with
/// "other" for the rest: the runtime, axum's routing and middleware glue).
const PARTS: &[(&str, &[&str])] = &[
    ("kernel: system calls (socket reads and writes, epoll, futex)", &["entry_SYSCALL"]),
    ("kernel: scheduling and interrupts", &["finish_task_switch", "irq", "schedule"]),
    ("allocator", &["mi_", "mimalloc"]),
    ("JWT verification", &["jsonwebtoken"]),
    ("JSON encoding", &["serde_json", "serde_core"]),
    ("metrics", &["metrics"]),
    ("tracing", &["tracing"]),
    ("request id", &["MakeRequestUuid", "uuid::"]),
    ("PostgreSQL driver", &["tokio_postgres", "postgres_protocol", "deadpool"]),
    ("HTTP parsing and writing (hyper)", &["hyper::proto", "httparse"]),
    ("the domain and the adapter", &["rhythm_domain", "rhythm_postgres"]),
];

/// The share of each of [`PARTS`], then the 40 functions with the most samples at the top
/// of the stack.
fn self_time(folded: &[u8]) -> String {
    let mut by_leaf: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_part = vec![0u64; PARTS.len() + 1];
    let mut total = 0u64;
    for line in std::str::from_utf8(folded).unwrap_or_default().lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else { continue };
        let Ok(count) = count.parse::<u64>() else { continue };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *by_leaf.entry(leaf).or_default() += count;
        let part = stack.rsplit(';').find_map(|frame| {
            PARTS.iter().position(|(_, needles)| needles.iter().any(|n| frame.contains(n)))
        });
        by_part[part.unwrap_or(PARTS.len())] += count;
        total += count;
    }
    let share = |n: u64| n as f64 * 100.0 / total.max(1) as f64;
    let mut out = format!("CPU share by part ({total} cycles sampled)\n");
    let names = PARTS.iter().map(|(name, _)| *name).chain(["other"]);
    for (part, count) in names.zip(&by_part) {
        out.push_str(&format!("{:6.2}%  {part}\n", share(*count)));
    }
    out.push_str("\nself time by function\n");
    let mut leaves: Vec<(&str, u64)> = by_leaf.into_iter().collect();
    leaves.sort_by_key(|leaf| std::cmp::Reverse(leaf.1));
    for (leaf, count) in leaves.into_iter().take(40) {
        out.push_str(&format!("{:6.2}%  {leaf}\n", share(count)));
    }
    out
}
