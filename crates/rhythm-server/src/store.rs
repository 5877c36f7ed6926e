//! Which storage adapter the process runs on, chosen by `DATABASE_URL`'s scheme:
//! `postgres://…` (or `postgresql://…`) is PostgreSQL, `sqlite:PATH` an SQLite file, and
//! no `DATABASE_URL` at all the embedded default, `$RHYTHM_DATA_DIR/rhythm.db`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::DatabaseArgs;

/// The file name of the embedded store inside the data directory.
pub const EMBEDDED_FILE: &str = "rhythm.db";

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Postgres(String),
    Sqlite(PathBuf),
}

impl StoreChoice {
    /// Reads the choice from the arguments; creates the data directory of the embedded
    /// default when it is missing.
    pub fn from_args(db: &DatabaseArgs) -> anyhow::Result<Self> {
        let choice = Self::parse(db.database_url.as_deref(), &db.data_dir)?;
        if let Self::Sqlite(path) = &choice
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        }
        Ok(choice)
    }

    fn parse(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let Some(url) = database_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::Sqlite(data_dir.join(EMBEDDED_FILE)));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if url.starts_with("sqlite:") {
            let path = rhythm_sqlite::path_of_url(url);
            if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
                bail!("DATABASE_URL {url:?} names no file: Rhythm keeps its data in a file");
            }
            Ok(Self::Sqlite(path))
        } else {
            // The URL may hold a password: name the scheme only.
            let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
            bail!("DATABASE_URL has scheme {scheme:?}; Rhythm supports postgres:// and sqlite:")
        }
    }

    /// What the logs say about the store: the kind and, for a file, its path — never a URL,
    /// which may carry a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Postgres(_) => "PostgreSQL (DATABASE_URL)".to_owned(),
            Self::Sqlite(path) => format!("SQLite file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_adapter() {
        let data = Path::new("./data");
        assert_eq!(
            StoreChoice::parse(None, data).unwrap(),
            StoreChoice::Sqlite(PathBuf::from("./data/rhythm.db"))
        );
        assert_eq!(
            StoreChoice::parse(Some(" "), data).unwrap(),
            StoreChoice::Sqlite(PathBuf::from("./data/rhythm.db"))
        );
        assert_eq!(
            StoreChoice::parse(Some("postgres://u:p@h/db"), data).unwrap(),
            StoreChoice::Postgres("postgres://u:p@h/db".into())
        );
        assert_eq!(
            StoreChoice::parse(Some("sqlite:/var/lib/rhythm/r.db?mode=rwc"), data).unwrap(),
            StoreChoice::Sqlite(PathBuf::from("/var/lib/rhythm/r.db"))
        );
        assert_eq!(
            StoreChoice::parse(Some("sqlite://rel/r.db"), data).unwrap(),
            StoreChoice::Sqlite(PathBuf::from("rel/r.db"))
        );
        assert!(StoreChoice::parse(Some("sqlite::memory:"), data).is_err());
        let err = StoreChoice::parse(Some("mysql://root:secret@h/db"), data).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
