//! The connection pool behind [`SqlStore`]: opened by URL with the backend's migrations and
//! SQLite's durability pragmas, and write transactions that wait their turn. Below every table's
//! file; `sql.rs` implements `Store` on it.

use std::sync::Once;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use super::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A connection pool to SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(super) pool: AnyPool,
    pub(super) sqlite: bool,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file if missing,
    /// and runs the backend's migrations.
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 10 });
        let options = if sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // The busy timeout first: switching to WAL takes a lock, and a connection
                    // opened while another writes must wait for it, not fail at once with
                    // "database is locked".
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // WAL lets readers run beside the writer; FULL makes each commit an fsync, so
                    // an acknowledged command survives power loss, not only a crash.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let migrator = if sqlite {
            &SQLITE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        };
        migrator.run(&pool).await?;
        Ok(SqlStore { pool, sqlite })
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it waits its turn under the busy timeout: a deferred transaction that
    /// read first and then wants to write, after another connection committed, fails at once with
    /// "database is locked", whatever the timeout.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }
}
