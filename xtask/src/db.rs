//! Reaching the development PostgreSQL: defaults, a clear message when it is not there, and
//! creating the databases Rhythm uses.

use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Connection, PgConnection, Postgres};

pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// `DATABASE_URL` when set, else the local server's database `name`.
pub fn url_or_default(name: &str) -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| format!("{DEFAULT_SERVER}/{name}"))
}

/// Fails with instructions when PostgreSQL cannot be reached.
pub async fn ensure_reachable(url: &str) -> anyhow::Result<()> {
    let server_url = maintenance_url(url);
    let attempt =
        tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&server_url)).await;
    match attempt {
        Ok(Ok(conn)) => {
            conn.close().await.ok();
            Ok(())
        }
        Ok(Err(err)) => bail!(unreachable_message(url, &err.to_string())),
        Err(_) => bail!(unreachable_message(url, "no answer within 5 s")),
    }
}

fn unreachable_message(url: &str, cause: &str) -> String {
    format!(
        "PostgreSQL is not reachable at {} ({cause}).\n\
         Start the local server:  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
         or point DATABASE_URL at a PostgreSQL (15 or newer) whose role may create databases.\n\
         (No Docker engine is needed or used when DATABASE_URL is reachable.)",
        redact(url)
    )
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if !Postgres::database_exists(url).await.context("checking the database")? {
        Postgres::create_database(url).await.context("creating the database")?;
        eprintln!("created database {}", redact(url));
    }
    Ok(())
}

/// The same server's `postgres` database, which always exists.
pub fn maintenance_url(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _db)| server);
    match query {
        Some(q) => format!("{server}/postgres?{q}"),
        None => format!("{server}/postgres"),
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_url_swaps_the_database() {
        assert_eq!(maintenance_url("postgres://u@h:5432/rhythm"), "postgres://u@h:5432/postgres");
        assert_eq!(
            maintenance_url("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/postgres?sslmode=disable"
        );
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
