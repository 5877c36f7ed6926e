//! Each store's spelling of a [`Val`]: decoding a row's columns by their [`Kind`], and
//! binding values into a multi-row INSERT.

use anyhow::Context;
use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row, Sqlite};
use uuid::Uuid;

use super::tables::{Kind, Table, Val, from_micros, micros};

pub fn decode_postgres(row: &PgRow, table: &Table) -> anyhow::Result<Vec<Val>> {
    let column = |i: usize, kind: Kind| -> anyhow::Result<Option<Val>> {
        Ok(match kind {
            Kind::Uuid => row.try_get::<Option<Uuid>, _>(i)?.map(Val::Uuid),
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Val::Text),
            // jsonb's text spaces and orders keys its own way; re-serialized, it is the
            // compact form the SQLite adapter writes (serde_json's), byte for byte.
            Kind::Json => match row.try_get::<Option<String>, _>(i)? {
                Some(text) => {
                    let value: serde_json::Value = serde_json::from_str(&text)?;
                    Some(Val::Text(value.to_string()))
                }
                None => None,
            },
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Val::Int),
            Kind::Time => match row.try_get::<Option<time::OffsetDateTime>, _>(i)? {
                Some(t) => Some(Val::Time(micros(t).map_err(anyhow::Error::msg)?)),
                None => None,
            },
            Kind::Date => row.try_get::<Option<time::Date>, _>(i)?.map(Val::Date),
            Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Val::Bytes),
        })
    };
    decode_with(table, column)
}

pub fn decode_sqlite(row: &SqliteRow, table: &Table) -> anyhow::Result<Vec<Val>> {
    let column = |i: usize, kind: Kind| -> anyhow::Result<Option<Val>> {
        Ok(match kind {
            Kind::Uuid => row.try_get::<Option<Uuid>, _>(i)?.map(Val::Uuid),
            Kind::Text | Kind::Json => row.try_get::<Option<String>, _>(i)?.map(Val::Text),
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Val::Int),
            // Checked here, where the column is known, so writing it cannot fail.
            Kind::Time => match row.try_get::<Option<i64>, _>(i)? {
                Some(m) => {
                    from_micros(m).map_err(anyhow::Error::msg)?;
                    Some(Val::Time(m))
                }
                None => None,
            },
            Kind::Date => row.try_get::<Option<time::Date>, _>(i)?.map(Val::Date),
            Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Val::Bytes),
        })
    };
    decode_with(table, column)
}

/// The row's values, column by column, naming the column a value could not be read from.
fn decode_with(
    table: &Table,
    column: impl Fn(usize, Kind) -> anyhow::Result<Option<Val>>,
) -> anyhow::Result<Vec<Val>> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            let val = column(i, *kind).with_context(|| format!("reading {}.{name}", table.name))?;
            Ok(val.unwrap_or(Val::Null))
        })
        .collect()
}

pub fn bind_postgres(values: &mut Separated<'_, Postgres, &'static str>, kind: Kind, val: Val) {
    match val {
        Val::Text(text) if kind == Kind::Json => {
            values.push_bind(text).push_unseparated("::jsonb");
        }
        Val::Uuid(id) => {
            values.push_bind(id);
        }
        Val::Text(text) => {
            values.push_bind(text);
        }
        Val::Int(n) => {
            values.push_bind(n);
        }
        // In range: both readers check (see `Val::Time`).
        Val::Time(m) => {
            values.push_bind(from_micros(m).ok());
        }
        Val::Date(d) => {
            values.push_bind(d);
        }
        Val::Bytes(b) => {
            values.push_bind(b);
        }
        Val::Null => match kind {
            Kind::Uuid => {
                values.push_bind(None::<Uuid>);
            }
            Kind::Text => {
                values.push_bind(None::<String>);
            }
            Kind::Json => {
                values.push_bind(None::<String>).push_unseparated("::jsonb");
            }
            Kind::Int => {
                values.push_bind(None::<i64>);
            }
            Kind::Time => {
                values.push_bind(None::<time::OffsetDateTime>);
            }
            Kind::Date => {
                values.push_bind(None::<time::Date>);
            }
            Kind::Bytes => {
                values.push_bind(None::<Vec<u8>>);
            }
        },
    }
}

pub fn bind_sqlite(values: &mut Separated<'_, Sqlite, &'static str>, kind: Kind, val: Val) {
    match val {
        Val::Uuid(id) => values.push_bind(id),
        Val::Text(text) => values.push_bind(text),
        Val::Int(n) | Val::Time(n) => values.push_bind(n),
        Val::Date(d) => values.push_bind(d),
        Val::Bytes(b) => values.push_bind(b),
        Val::Null => match kind {
            Kind::Uuid | Kind::Bytes => values.push_bind(None::<Vec<u8>>),
            Kind::Text | Kind::Json | Kind::Date => values.push_bind(None::<String>),
            Kind::Int | Kind::Time => values.push_bind(None::<i64>),
        },
    };
}
