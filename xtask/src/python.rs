//! The Python interpreter the conformance run uses: the machine's own, unless it is a
//! CPython release whose AST constructor miscounts its recursion depth (3.11.7, 3.12.1:
//! "SystemError: AST constructor recursion depth mismatch", which crashes schemathesis's
//! generator at random). Then Debian's python3.11 packages are fetched with `apt-get
//! download` and unpacked under `target/` — the system's Python is left as it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Releases with the recursion-depth bug (fixed in 3.11.8 and 3.12.2).
const BROKEN: &[&str] = &["3.11.7", "3.12.1"];

/// What a private interpreter with `venv` needs from Debian.
const DEBIAN_PACKAGES: &[&str] = &[
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11",
    "python3.11-venv",
    "python3-pip-whl",
    "python3-setuptools-whl",
];

fn version_of(sh: &Shell, python: &Path) -> anyhow::Result<String> {
    let script = "import platform; print(platform.python_version())";
    Ok(cmd!(sh, "{python} -c {script}").quiet().read()?.trim().to_owned())
}

/// An interpreter without the bug: `$PYTHON` if set, else `python3`, else Debian's.
pub fn interpreter(sh: &Shell, target: &Path) -> anyhow::Result<PathBuf> {
    if let Some(python) = std::env::var_os("PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let system = PathBuf::from("python3");
    let version = version_of(sh, &system).context("python3 is needed for the conformance run")?;
    if !BROKEN.contains(&version.as_str()) {
        return Ok(system);
    }
    let root = target.join("conformance-python");
    let private = root.join("usr").join("bin").join("python3.11");
    if !private.exists() {
        eprintln!(
            "python3 is {version}, whose AST recursion bug crashes schemathesis; \
             unpacking Debian's python3.11 into {}",
            root.display()
        );
        fetch_debian_python(sh, &root)?;
    }
    let private_version = version_of(sh, &private)?;
    if BROKEN.contains(&private_version.as_str()) {
        bail!(
            "Debian's python3.11 is {private_version} too; set PYTHON to an interpreter without \
             the AST recursion bug"
        );
    }
    Ok(private)
}

fn fetch_debian_python(sh: &Shell, root: &Path) -> anyhow::Result<()> {
    let debs = root.with_extension("debs");
    std::fs::create_dir_all(&debs)?;
    let _dir = sh.push_dir(&debs);
    let packages = DEBIAN_PACKAGES;
    if cmd!(sh, "apt-get download {packages...}").run().is_err() {
        // A fresh machine may have no package lists yet.
        cmd!(sh, "apt-get update -qq").run().context("apt-get update")?;
        cmd!(sh, "apt-get download {packages...}").run().context("apt-get download")?;
    }
    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            cmd!(sh, "dpkg-deb -x {deb} {root}").run()?;
        }
    }
    Ok(())
}
