//! `cargo xtask screenshot`: renders the `/docs` page of a running server in headless
//! Chromium (Debian's `chromium` package, installed through apt when missing and allowed)
//! and saves it as `docs/images/api-docs.png`. Proves the page works offline: every asset
//! comes from Rhythm itself.

use std::path::PathBuf;

use anyhow::{Context, bail};
use sqlx::migrate::MigrateDatabase;
use xshell::{Shell, cmd};

use crate::db;
use crate::server::{RhythmProcess, build_rhythm};

const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

fn find_browser(sh: &Shell) -> Option<String> {
    if let Ok(browser) = std::env::var("CHROMIUM") {
        return Some(browser);
    }
    BROWSERS.iter().find(|b| cmd!(sh, "which {b}").quiet().read().is_ok()).map(|b| (*b).to_owned())
}

fn browser(sh: &Shell) -> anyhow::Result<String> {
    if let Some(browser) = find_browser(sh) {
        return Ok(browser);
    }
    let root = cmd!(sh, "id -u").quiet().read().map(|id| id.trim() == "0").unwrap_or(false);
    if !root || cmd!(sh, "which apt-get").quiet().read().is_err() {
        bail!("headless Chromium is needed: install Debian's `chromium` package (or set CHROMIUM)");
    }
    eprintln!("installing Debian's chromium package");
    cmd!(sh, "apt-get install -y --no-install-recommends chromium")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    find_browser(sh).context("chromium is still not on PATH after installing it")
}

pub fn run(sh: &Shell, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let browser = browser(sh)?;
    let root = sh.current_dir();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = build_rhythm(sh, false)?;
    let server_url = db::url_or_default("postgres");
    let base_url =
        server_url.rsplit_once('/').map_or(server_url.as_str(), |(base, _)| base).to_owned();
    let url = format!("{base_url}/rhythm_screenshot_{}", std::process::id());
    runtime.block_on(async {
        db::ensure_reachable(&url).await?;
        sqlx::Postgres::create_database(&url).await.context("creating the screenshot database")
    })?;
    let outcome = (|| {
        let env = [("RHYTHM_AUTH_RATE_PER_MIN", "0".to_owned()), ("RUST_LOG", "warn".to_owned())];
        let rhythm =
            RhythmProcess::start(&binary, &url, &env, target.join("screenshot-rhythm.log"))?;
        let page = format!("{}/docs", rhythm.base_url);
        let out = root.join("docs").join("images").join("api-docs.png");
        std::fs::create_dir_all(out.parent().context("no parent")?)?;
        let screenshot = format!("--screenshot={}", out.display());
        cmd!(
            sh,
            "{browser} --headless --no-sandbox --disable-gpu --hide-scrollbars
                --window-size=1280,1400 --virtual-time-budget=10000 {screenshot} {page}"
        )
        .run()?;
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        // A blank page compresses to a few kilobytes; the rendered one is far larger.
        if size < 30_000 {
            bail!("{} is only {size} bytes: the page did not render", out.display());
        }
        println!("saved {} ({size} bytes)", out.display());
        anyhow::Ok(())
    })();
    runtime.block_on(sqlx::Postgres::force_drop_database(&url)).ok();
    outcome
}
