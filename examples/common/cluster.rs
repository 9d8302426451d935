//! What the cluster benchmarks share: a `nats-server` on a free port, a PostgreSQL schema per
//! run (dropped at its end), and `huddle` nodes as child processes killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `nats-server` (from the PATH or /usr/sbin) on a free loopback port, and its URL.
pub fn nats() -> (Killed, String) {
    let port = free_port();
    let program = if std::path::Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    };
    let child = Command::new(program)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), format!("nats://127.0.0.1:{port}"))
}

/// The schemas made by this run, dropped by [`drop_schemas`].
static SCHEMAS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A fresh schema; returns the URL that uses it.
pub async fn schema(base: &str) -> String {
    let name = format!("huddle_bench_{}", uuid::Uuid::now_v7().simple());
    SCHEMAS.lock().unwrap().push(name.clone());
    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{name}")
}

/// Drops every schema this run made.
pub async fn drop_schemas(base: &str) {
    let made = std::mem::take(&mut *SCHEMAS.lock().unwrap());
    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    for name in made {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// `huddle serve` on PostgreSQL at `db`, in a cluster when `nats` is given (as node `id`).
pub fn node_command(
    huddle: &std::path::Path,
    db: &str,
    nats: Option<&str>,
    id: &str,
    data: &std::path::Path,
) -> Command {
    let mut command = super::serve_command(huddle, data, "warn");
    command.args(["--database-url", db]);
    if let Some(nats) = nats {
        command.args(["--nats-url", nats, "--node-id", id]);
    }
    command
}

/// Starts a node (see [`node_command`]); returns it and its `http://` address.
pub fn node(
    huddle: &std::path::Path,
    db: &str,
    nats: Option<&str>,
    id: &str,
    data: &std::path::Path,
) -> (Killed, String) {
    let (child, base) = super::spawn(node_command(huddle, db, nats, id, data));
    (Killed(child), base)
}
