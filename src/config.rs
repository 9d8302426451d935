//! Configuration: a TOML file (`--config`), then `HUDDLE_*` environment variables, then command-line
//! flags, each overriding the one before; defaults fill what none of them set.
//!
//! [`Settings`] is one struct for all three sources (clap reads flags and environment, serde reads
//! the file), so a key is spelled the same everywhere: `max_body_bytes` in the file is
//! `--max-body-bytes` on the command line and `HUDDLE_MAX_BODY_BYTES` in the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod settings;
pub use settings::{LogFormat, Settings};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// Public base URL, if set; otherwise derived from the bound address.
    pub public_url: Option<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Limits.
    pub limits: Limits,
    /// Email.
    pub mail: MailConfig,
    /// Who may be invited, and how.
    pub policy: Policy,
    /// Calls.
    pub media: crate::media::MediaConfig,
    /// Recordings.
    pub recording: crate::recording::RecordingConfig,
    /// Several nodes on one PostgreSQL and NATS; `None` for a single node.
    pub cluster: Option<ClusterConfig>,
    /// The bearer token `/metrics` asks for; `None`: open.
    pub metrics_token: Option<Secret>,
}

/// A secret setting: its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How this node joins a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The NATS server.
    pub nats_url: String,
    /// This node's name: unique in the cluster, the same across its restarts.
    pub node_id: String,
}

/// How email goes out.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The SMTP server's URL; `None` writes `.eml` files instead.
    pub smtp_url: Option<String>,
    /// A CA certificate (PEM) to trust for the SMTP server.
    pub smtp_ca_file: Option<PathBuf>,
    /// The From address.
    pub from: lettre::message::Mailbox,
}

/// Administrator policies.
#[derive(Clone, Debug)]
pub struct Policy {
    /// External guests may join main rooms with breakout rooms enabled.
    pub guests_with_breakouts: bool,
    /// CSV imports invite unknown emails as guests (otherwise such rows are refused).
    pub csv_invite_unknown: bool,
    /// How long invitation links work.
    pub invitation_ttl: Duration,
    /// How long the session report's stays are kept.
    pub report_retention: Duration,
    /// How often the stays under way are checkpointed.
    pub report_checkpoint: Duration,
}

/// Limits and tunables.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Longest chat message in characters.
    pub max_message_chars: usize,
    /// Login attempts per address per minute.
    pub login_per_address_per_minute: u32,
    /// Login attempts per account per minute.
    pub login_per_account_per_minute: u32,
    /// Session lifetime.
    pub session: Duration,
    /// WebSocket queue depth in frames.
    pub ws_queue_frames: usize,
    /// WebSocket ping interval.
    pub ws_ping: Duration,
    /// Events kept per stream for replay.
    pub event_replay: usize,
    /// Most breakout rooms per main room.
    pub max_breakout_rooms: usize,
    /// Largest uploaded file in bytes.
    pub max_upload_bytes: u64,
    /// Bytes of uploaded files one main room may hold.
    pub upload_quota_per_room: u64,
    /// Bytes of uploaded files one person may have added.
    pub upload_quota_per_person: u64,
    /// Open connections from one client address (0: no cap).
    pub max_connections_per_address: usize,
    /// Event WebSockets one person may hold open at once.
    pub max_websockets_per_person: usize,
    /// Open connections in all; `None`: from the open-files limit when serving.
    pub max_connections: Option<usize>,
    /// Time to send a request's headers; the longest idle keep-alive.
    pub header_timeout: Duration,
    /// Longest pause while a body arrives.
    pub body_timeout: Duration,
    /// How long requests under way get to finish when Huddle stops.
    pub shutdown_grace: Duration,
    /// Longest time to receive a request and answer it.
    pub request_timeout: Duration,
    /// Main rooms one person (not an administrator) may own.
    pub max_rooms_per_person: usize,
    /// How long a room nobody is connected to stays loaded.
    pub room_idle: Duration,
    /// Invitation emails per person (not an administrator) per hour.
    pub invitations_per_person_per_hour: u32,
    /// Invitation emails per main room per hour.
    pub invitations_per_room_per_hour: u32,
}

impl Config {
    /// Applies defaults and checks ranges.
    pub fn resolve(s: Settings) -> Result<Config, ConfigError> {
        let bind = s
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let media = media_config(&s, bind)?;
        let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let database_url = s
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("huddle.db").display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres:")) {
            return Err(ConfigError(format!(
                "database_url must start with sqlite:// or postgres://, not {database_url:?}"
            )));
        }
        let cluster = cluster_config(
            s.nats_url.as_deref(),
            s.node_id.as_deref(),
            &database_url,
            bind,
        )?;
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(ConfigError(format!("{name} must be greater than 0")))
            } else {
                Ok(v)
            }
        };
        let limits = Limits {
            max_body_bytes: positive("max_body_bytes", s.max_body_bytes.unwrap_or(1 << 20) as u64)?
                as usize,
            max_message_chars: positive(
                "max_message_chars",
                s.max_message_chars.unwrap_or(4000) as u64,
            )? as usize,
            login_per_address_per_minute: positive(
                "login_per_address_per_minute",
                s.login_per_address_per_minute.unwrap_or(20).into(),
            )? as u32,
            login_per_account_per_minute: positive(
                "login_per_account_per_minute",
                s.login_per_account_per_minute.unwrap_or(10).into(),
            )? as u32,
            session: Duration::from_secs(
                positive("session_days", s.session_days.unwrap_or(30).into())? * 86_400,
            ),
            ws_queue_frames: positive("ws_queue_frames", s.ws_queue_frames.unwrap_or(256) as u64)?
                as usize,
            ws_ping: Duration::from_millis(positive("ws_ping_ms", s.ws_ping_ms.unwrap_or(20_000))?),
            event_replay: positive("event_replay", s.event_replay.unwrap_or(1024) as u64)? as usize,
            max_breakout_rooms: positive(
                "max_breakout_rooms",
                s.max_breakout_rooms.unwrap_or(300) as u64,
            )? as usize,
            max_upload_bytes: positive(
                "max_upload_bytes",
                s.max_upload_bytes.unwrap_or(100 << 20),
            )?,
            upload_quota_per_room: positive(
                "upload_quota_per_room_mb",
                s.upload_quota_per_room_mb.unwrap_or(10_240),
            )? << 20,
            upload_quota_per_person: positive(
                "upload_quota_per_person_mb",
                s.upload_quota_per_person_mb.unwrap_or(2_048),
            )? << 20,
            max_connections_per_address: s.max_connections_per_address.unwrap_or(2000),
            max_websockets_per_person: positive(
                "max_websockets_per_person",
                // As `realtime::DEFAULT_PER_PERSON` (named here as a number: the configuration
                // sits below the modules it configures).
                s.max_websockets_per_person.unwrap_or(20) as u64,
            )? as usize,
            max_connections: s
                .max_connections
                .map(|n| positive("max_connections", n as u64).map(|n| n as usize))
                .transpose()?,
            header_timeout: Duration::from_millis(positive(
                "header_timeout_ms",
                s.header_timeout_ms.unwrap_or(10_000),
            )?),
            body_timeout: Duration::from_millis(positive(
                "body_timeout_ms",
                s.body_timeout_ms.unwrap_or(30_000),
            )?),
            shutdown_grace: Duration::from_millis(positive(
                "shutdown_grace_ms",
                s.shutdown_grace_ms.unwrap_or(10_000),
            )?),
            request_timeout: Duration::from_secs(positive(
                "request_timeout_secs",
                s.request_timeout_secs.unwrap_or(300),
            )?),
            max_rooms_per_person: positive(
                "max_rooms_per_person",
                s.max_rooms_per_person.unwrap_or(50) as u64,
            )? as usize,
            room_idle: Duration::from_secs(positive(
                "room_idle_secs",
                s.room_idle_secs.unwrap_or(300),
            )?),
            invitations_per_person_per_hour: positive(
                "invitations_per_person_per_hour",
                s.invitations_per_person_per_hour.unwrap_or(200).into(),
            )? as u32,
            invitations_per_room_per_hour: positive(
                "invitations_per_room_per_hour",
                s.invitations_per_room_per_hour.unwrap_or(500).into(),
            )? as u32,
        };
        let from = s
            .mail_from
            .as_deref()
            .unwrap_or("Huddle <huddle@localhost>");
        let mail = MailConfig {
            from: from
                .parse()
                .map_err(|e| ConfigError(format!("mail_from {from:?} is not an address: {e}")))?,
            smtp_url: s.smtp_url.filter(|u| !u.trim().is_empty()),
            smtp_ca_file: s.smtp_ca_file,
        };
        if let Some(url) = &mail.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError(
                "smtp_url must start with smtp:// or smtps://".to_owned(),
            ));
        }
        let policy = Policy {
            guests_with_breakouts: s.guests_with_breakouts.unwrap_or(false),
            csv_invite_unknown: s.csv_invite_unknown.unwrap_or(true),
            invitation_ttl: Duration::from_secs(
                positive("invitation_days", s.invitation_days.unwrap_or(14).into())? * 86_400,
            ),
            report_retention: Duration::from_secs(
                positive("report_days", s.report_days.unwrap_or(30).into())?.min(3_660) * 86_400,
            ),
            report_checkpoint: Duration::from_secs(positive(
                "report_checkpoint_secs",
                s.report_checkpoint_secs.unwrap_or(60).into(),
            )?),
        };
        let recording = crate::recording::RecordingConfig {
            quota_bytes: positive("recording_quota_mb", s.recording_quota_mb.unwrap_or(20_480))?
                .saturating_mul(1 << 20),
            jobs: positive("recording_jobs", s.recording_jobs.unwrap_or(1))?.min(64) as usize,
            per_room: positive(
                "max_recordings_per_room",
                s.max_recordings_per_room.unwrap_or(10),
            )? as usize,
            per_person: positive(
                "max_recordings_per_person",
                s.max_recordings_per_person.unwrap_or(10),
            )? as usize,
            ffmpeg: s.ffmpeg.clone().unwrap_or_else(|| PathBuf::from("ffmpeg")),
        };
        Ok(Config {
            bind,
            media,
            recording,
            data_dir,
            database_url,
            public_url: s.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            log_format: s.log_format.unwrap_or_default(),
            limits,
            mail,
            policy,
            cluster,
            metrics_token: match s.metrics_token {
                Some(t) if t.trim().is_empty() => {
                    return Err(ConfigError("metrics_token must not be empty".into()));
                }
                t => t.map(Secret),
            },
        })
    }

    /// Defaults for a data directory, as a test or an embedding program would start.
    pub fn with_data_dir(data_dir: &Path) -> Config {
        let settings = Settings {
            data_dir: Some(data_dir.to_owned()),
            ..Settings::default()
        };
        // Defaults always pass the range checks.
        Config::resolve(settings).expect("default configuration is valid")
    }
}

/// Cluster mode: NATS named, on PostgreSQL, with a node id given or made from the host's name and
/// the port (stable across restarts, unique per host and port).
fn cluster_config(
    nats_url: Option<&str>,
    node_id: Option<&str>,
    database_url: &str,
    bind: SocketAddr,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(nats_url) = nats_url.map(str::trim).filter(|u| !u.is_empty()) else {
        if node_id.is_some() {
            return Err(ConfigError(
                "node_id names a node of a cluster: set nats_url too, or leave node_id out".into(),
            ));
        }
        return Ok(None);
    };
    if !(nats_url.starts_with("nats://") || nats_url.starts_with("tls://")) {
        return Err(ConfigError(format!(
            "nats_url must start with nats:// or tls://, not {nats_url:?}"
        )));
    }
    if !database_url.starts_with("postgres:") {
        return Err(ConfigError(
            "nats_url makes this node one of a cluster, and the nodes of a cluster share their \
             state in PostgreSQL: set database_url to postgres://… (SQLite is one process's file)"
                .into(),
        ));
    }
    let node_id = match node_id.map(str::trim) {
        Some(id) => {
            let valid = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(ConfigError(format!(
                    "node_id must be 1 to 64 letters, digits, '-', '_' or '.', not {id:?}"
                )));
            }
            id.to_owned()
        }
        None => {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "huddle".into());
            let host: String = host
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(48)
                .collect();
            format!("{host}-{}", bind.port())
        }
    };
    Ok(Some(ClusterConfig {
        nats_url: nats_url.to_owned(),
        node_id,
    }))
}

/// The media server's settings, checked.
/// The TURN servers to hand credentials for: URLs and secret together, or neither.
fn turn_config(s: &Settings) -> Result<Option<crate::media::turn::TurnConfig>, ConfigError> {
    let urls: Vec<String> = s
        .turn_urls
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    let secret = s.turn_secret.as_deref().unwrap_or_default();
    match (urls.is_empty(), secret.is_empty()) {
        (true, true) => return Ok(None),
        (false, true) => {
            return Err(ConfigError(
                "turn_urls needs turn_secret (the TURN server's static-auth-secret)".into(),
            ));
        }
        (true, false) => {
            return Err(ConfigError(
                "turn_secret is set but turn_urls is empty: name the TURN servers".into(),
            ));
        }
        (false, false) => {}
    }
    if let Some(url) = urls
        .iter()
        .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")) || u.contains(' '))
    {
        return Err(ConfigError(format!(
            "turn_urls: {url:?} is not a turn: or turns: URL"
        )));
    }
    let ttl = match s.turn_ttl_secs.unwrap_or(86_400) {
        0 => return Err(ConfigError("turn_ttl_secs must be greater than 0".into())),
        secs => Duration::from_secs(secs),
    };
    Ok(Some(crate::media::turn::TurnConfig {
        urls,
        secret: secret.to_owned(),
        ttl,
    }))
}

fn media_config(s: &Settings, bind: SocketAddr) -> Result<crate::media::MediaConfig, ConfigError> {
    let within = |name: &str, v: usize, max: usize| {
        if v > max {
            Err(ConfigError(format!("{name} must be at most {max}")))
        } else {
            Ok(v)
        }
    };
    let mut urls = Vec::new();
    for url in s.ice_servers.as_deref().unwrap_or_default().split(',') {
        let url = url.trim();
        if url.is_empty() {
            continue;
        }
        if !["stun:", "turn:", "turns:"]
            .iter()
            .any(|p| url.starts_with(p))
            || url.contains(' ')
        {
            return Err(ConfigError(format!(
                "ice_servers: {url:?} is not a stun:, turn: or turns: URL"
            )));
        }
        urls.push(url.to_owned());
    }
    let turn = turn_config(s)?;
    let ice_servers = if urls.is_empty() {
        serde_json::json!([])
    } else {
        serde_json::json!([{ "urls": urls }])
    };
    let secs = |name: &str, v: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
        match v.unwrap_or(default) {
            0 => Err(ConfigError(format!("{name} must be greater than 0"))),
            v => Ok(Duration::from_secs(v)),
        }
    };
    Ok(crate::media::MediaConfig {
        bind: s
            .media_bind
            // Beside the HTTP address; a server on a free port (tests) gets a free UDP port too.
            .unwrap_or_else(|| {
                SocketAddr::new(bind.ip(), if bind.port() == 0 { 0 } else { 10_000 })
            }),
        public_ip: s.media_public_ip,
        audio_slots: within("call_audio_slots", s.call_audio_slots.unwrap_or(8), 16)?,
        video_slots: within("call_video_slots", s.call_video_slots.unwrap_or(9), 25)?,
        ice_servers,
        turn,
        tcp: s.media_tcp.unwrap_or(true),
        congestion: s.media_congestion.unwrap_or(true),
        connect_timeout: secs(
            "media_connect_timeout_secs",
            s.media_connect_timeout_secs,
            20,
        )?,
        idle_timeout: secs("media_idle_timeout_secs", s.media_idle_timeout_secs, 30)?,
    })
}

#[cfg(test)]
mod tests;
