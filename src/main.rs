//! The `huddle` binary: parse the command line, set up logging, and call the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use huddle::config::{Config, LogFormat, Settings};
use huddle::store::{CreateMode, NewAccount};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "huddle",
    version,
    about = "Self-hosted meetings built around breakout rooms"
)]
struct Cli {
    /// TOML configuration file; environment variables and flags override it
    #[arg(long, env = "HUDDLE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server
    Serve(Settings),
    /// Administration
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account (the first account is always an administrator)
    CreateUser {
        #[command(flatten)]
        settings: Settings,
        /// Email address
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        display_name: String,
        /// Password (or set HUDDLE_PASSWORD; prefer that, it stays out of the shell history)
        #[arg(long, env = "HUDDLE_PASSWORD", hide_env_values = true)]
        password: String,
        /// Make the account an administrator
        #[arg(long)]
        admin: bool,
    },
    /// List the nodes of the cluster and the rooms each one serves
    Cluster {
        #[command(flatten)]
        settings: Settings,
    },
}

fn load(file: Option<&PathBuf>, settings: Settings) -> anyhow::Result<Config> {
    let base = match file {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    Ok(Config::resolve(settings.over(base))?)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUDDLE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info,str0m=error,dimpl=error")
    });
    // Colour codes only for a person at a terminal, never into a file or a log collector.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed now, before the server says it
/// listens, so that a signal sent the moment it answers is never the default (instant) death.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (int, term) = signals;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { () = wait(int) => {}, () = wait(term) => {} }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(settings) => {
            let config = load(cli.config.as_ref(), settings)?;
            init_logging(config.log_format);
            // Every WebSocket is an open file: take all the descriptors the system allows.
            match rlimit::increase_nofile_limit(u64::MAX) {
                Ok(limit) => tracing::info!(limit, "open files limit"),
                Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
            }
            let listener = TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.bind))?;
            let server = huddle::Server::bind(config, listener).await?;
            let stop = shutdown_signal();
            let addr = server.local_addr()?;
            let app = server.app().clone();
            println!("Huddle is listening on http://{addr}");
            println!(
                "Open {} in a browser; API docs at {}/api/docs",
                app.public_url, app.public_url
            );
            if !app.store.has_accounts().await? {
                println!(
                    "No account exists yet. Create the first administrator with\n  \
                     curl -X POST {}/api/v1/setup -H 'content-type: application/json' \
                     -d '{{\"email\":\"you@example.org\",\"password\":\"…\",\"display_name\":\"You\"}}'\n\
                     or: huddle admin create-user --email you@example.org --display-name You",
                    app.public_url
                );
            }
            server.run(stop).await?;
        }
        Command::Admin {
            command: AdminCommand::Cluster { settings },
        } => {
            let config = load(cli.config.as_ref(), settings)?;
            init_logging(config.log_format);
            let store = huddle::store::open(&config.database_url).await?;
            let now = huddle::clock::Clock::now_ms(&huddle::clock::SystemClock);
            print!("{}", huddle::cluster::describe(&*store, now).await?);
        }
        Command::Admin {
            command:
                AdminCommand::CreateUser {
                    settings,
                    email,
                    display_name,
                    password,
                    admin,
                },
        } => {
            let config = load(cli.config.as_ref(), settings)?;
            init_logging(config.log_format);
            std::fs::create_dir_all(&config.data_dir)?;
            let store = huddle::store::open(&config.database_url).await?;
            let account = NewAccount {
                id: huddle::ids::PersonId::new(),
                email: huddle::domain::validate::email(&email)?,
                display_name: huddle::domain::validate::name("display_name", &display_name)?,
                password_hash: Some(
                    huddle::auth::hash_password(
                        huddle::domain::validate::password(&password)?.to_owned(),
                    )
                    .await?,
                ),
                is_admin: admin,
                created_at: huddle::clock::Clock::now_ms(&huddle::clock::SystemClock),
            };
            let person = store.create_account(account, CreateMode::Ordinary).await?;
            println!(
                "created {} <{}>{}",
                person.display_name,
                person.email.unwrap_or_default(),
                if person.is_admin {
                    " (administrator)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
