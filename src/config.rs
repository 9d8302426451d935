//! Configuration: a TOML file (`--config`), then `HUDDLE_*` environment variables, then command-line
//! flags, each overriding the one before; defaults fill what none of them set.
//!
//! [`Settings`] is one struct for all three sources (clap reads flags and environment, serde reads
//! the file), so a key is spelled the same everywhere: `max_body_bytes` in the file is
//! `--max-body-bytes` on the command line and `HUDDLE_MAX_BODY_BYTES` in the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting, each optional so that sources can be layered.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:8080]
    #[arg(long, env = "HUDDLE_BIND")]
    pub bind: Option<SocketAddr>,
    /// Directory for the database and files [default: ./data]
    #[arg(long, env = "HUDDLE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` [default: sqlite://DATA_DIR/huddle.db]
    #[arg(long, env = "HUDDLE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// NATS server of a cluster (`nats://HOST:PORT`); with it, Huddle runs as one node of several
    /// on the same PostgreSQL [default: none, a single node]
    #[arg(long, env = "HUDDLE_NATS_URL")]
    pub nats_url: Option<String>,
    /// This node's name in the cluster [default: HOSTNAME-PORT]
    #[arg(long, env = "HUDDLE_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL people use to reach Huddle, for links and secure cookies [default: http://BIND]
    #[arg(long, env = "HUDDLE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format [default: text]
    #[arg(long, env = "HUDDLE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body, in bytes [default: 1048576]
    #[arg(long, env = "HUDDLE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Longest chat message, in characters [default: 4000]
    #[arg(long, env = "HUDDLE_MAX_MESSAGE_CHARS")]
    pub max_message_chars: Option<usize>,
    /// Login attempts allowed per client address per minute [default: 20]
    #[arg(long, env = "HUDDLE_LOGIN_PER_ADDRESS_PER_MINUTE")]
    pub login_per_address_per_minute: Option<u32>,
    /// Login attempts allowed per account from one client address per minute [default: 10]
    #[arg(long, env = "HUDDLE_LOGIN_PER_ACCOUNT_PER_MINUTE")]
    pub login_per_account_per_minute: Option<u32>,
    /// How long a login session lasts, in days [default: 30]
    #[arg(long, env = "HUDDLE_SESSION_DAYS")]
    pub session_days: Option<u32>,
    /// Frames a WebSocket client may fall behind before it must resync [default: 256]
    #[arg(long, env = "HUDDLE_WS_QUEUE_FRAMES")]
    pub ws_queue_frames: Option<usize>,
    /// WebSocket ping interval in milliseconds [default: 20000]
    #[arg(long, env = "HUDDLE_WS_PING_MS")]
    pub ws_ping_ms: Option<u64>,
    /// Recent events per main room kept for clients that resume [default: 1024]
    #[arg(long, env = "HUDDLE_EVENT_REPLAY")]
    pub event_replay: Option<usize>,
    /// Most breakout rooms one main room may have [default: 300]
    #[arg(long, env = "HUDDLE_MAX_BREAKOUT_ROOMS")]
    pub max_breakout_rooms: Option<usize>,
    /// Largest uploaded file, in bytes [default: 104857600]
    #[arg(long, env = "HUDDLE_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// How long an invitation link works, in days [default: 14]
    #[arg(long, env = "HUDDLE_INVITATION_DAYS")]
    pub invitation_days: Option<u32>,
    /// How long the session report keeps who was in which room, in days [default: 30]
    #[arg(long, env = "HUDDLE_REPORT_DAYS")]
    pub report_days: Option<u32>,
    /// How often the session report checkpoints the stays under way, in seconds: the most of
    /// them a crash loses [default: 60]
    #[arg(long, env = "HUDDLE_REPORT_CHECKPOINT_SECS")]
    pub report_checkpoint_secs: Option<u32>,
    /// SMTP server for email: `smtp://HOST:PORT` (plain), `smtp://HOST:587?tls=required`
    /// (STARTTLS) or `smtps://HOST:465` (TLS), with `USER:PASSWORD@` if needed. Unset: emails are
    /// written as .eml files under DATA_DIR/outbox and their links are logged
    #[arg(long, env = "HUDDLE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// A PEM file with a CA certificate to trust for the SMTP server's TLS, beside the usual roots
    /// (an internal mail server with its own CA)
    #[arg(long, env = "HUDDLE_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The From address of emails [default: Huddle <huddle@localhost>]
    #[arg(long, env = "HUDDLE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Let external guests join main rooms that have breakout rooms enabled [default: false]
    #[arg(long, env = "HUDDLE_GUESTS_WITH_BREAKOUTS")]
    pub guests_with_breakouts: Option<bool>,
    /// A CSV pre-assignment invites unknown emails as guests; false refuses them [default: true]
    #[arg(long, env = "HUDDLE_CSV_INVITE_UNKNOWN")]
    pub csv_invite_unknown: Option<bool>,
    /// The UDP address of the media server, one port for every call [default: the bind address's
    /// IP, port 10000; a free port when bind's port is 0]
    #[arg(long, env = "HUDDLE_MEDIA_BIND")]
    pub media_bind: Option<SocketAddr>,
    /// The IP clients reach the media server at, when it is not the bound one (1:1 NAT, or
    /// media_bind on 0.0.0.0)
    #[arg(long, env = "HUDDLE_MEDIA_PUBLIC_IP")]
    pub media_public_ip: Option<std::net::IpAddr>,
    /// STUN/TURN URLs handed to clients, comma-separated (`stun:host:3478,turn:host:3478`)
    #[arg(long, env = "HUDDLE_ICE_SERVERS")]
    pub ice_servers: Option<String>,
    /// TURN URLs for which each client gets its own time-limited credentials, comma-separated
    /// (`turn:turn.example.org:3478,turns:turn.example.org:5349`); needs turn_secret
    #[arg(long, env = "HUDDLE_TURN_URLS")]
    pub turn_urls: Option<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`); prefer the
    /// environment or the file to the command line, which other users can read
    #[arg(long, env = "HUDDLE_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// A token `/metrics` asks for (`Authorization: Bearer TOKEN`); without one, `/metrics` is
    /// open to anyone who reaches the port: set it, or block `/metrics` at the reverse proxy
    #[arg(long, env = "HUDDLE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Seconds a client's TURN credentials stay valid [default: 86400]
    #[arg(long, env = "HUDDLE_TURN_TTL_SECS")]
    pub turn_ttl_secs: Option<u64>,
    /// Accept ICE over TCP on the media port too, for networks that block UDP [default: true]
    #[arg(long, env = "HUDDLE_MEDIA_TCP")]
    pub media_tcp: Option<bool>,
    /// Fit each receiver's simulcast layers under what its link holds, learnt from the loss it
    /// reports; off, every video slot gets the layer its tile asks for [default: true]
    #[arg(long, env = "HUDDLE_MEDIA_CONGESTION")]
    pub media_congestion: Option<bool>,
    /// Audio receive slots a client may have (the loudest speakers) [default: 8]
    #[arg(long, env = "HUDDLE_CALL_AUDIO_SLOTS")]
    pub call_audio_slots: Option<usize>,
    /// Video receive slots a client may have (screens, a pinned camera, recent speakers) [default: 9]
    #[arg(long, env = "HUDDLE_CALL_VIDEO_SLOTS")]
    pub call_video_slots: Option<usize>,
    /// Seconds a joining client has to connect its media before it is dropped [default: 20]
    #[arg(long, env = "HUDDLE_MEDIA_CONNECT_TIMEOUT_SECS")]
    pub media_connect_timeout_secs: Option<u64>,
    /// Seconds of silence (no packet at all) after which a client's media is dropped [default: 30]
    #[arg(long, env = "HUDDLE_MEDIA_IDLE_TIMEOUT_SECS")]
    pub media_idle_timeout_secs: Option<u64>,
    /// Megabytes recordings may take on disk (raw files being recorded or composed, and composed
    /// recordings); a recording does not start beyond it [default: 20480]
    #[arg(long, env = "HUDDLE_RECORDING_QUOTA_MB")]
    pub recording_quota_mb: Option<u64>,
    /// Megabytes of uploaded files one main room (with its breakout rooms) may hold; an upload
    /// beyond it is refused with 507 [default: 10240]
    #[arg(long, env = "HUDDLE_UPLOAD_QUOTA_PER_ROOM_MB")]
    pub upload_quota_per_room_mb: Option<u64>,
    /// Megabytes of uploaded files one person may have added, in all rooms [default: 2048]
    #[arg(long, env = "HUDDLE_UPLOAD_QUOTA_PER_PERSON_MB")]
    pub upload_quota_per_person_mb: Option<u64>,
    /// Recordings composed at once (each runs one ffmpeg) [default: 1]
    #[arg(long, env = "HUDDLE_RECORDING_JOBS")]
    pub recording_jobs: Option<u64>,
    /// Recordings under way at once in one main room with its breakout rooms [default: 10]
    #[arg(long, env = "HUDDLE_MAX_RECORDINGS_PER_ROOM")]
    pub max_recordings_per_room: Option<u64>,
    /// Recordings one person may have started that are under way at once, in all rooms
    /// [default: 10]
    #[arg(long, env = "HUDDLE_MAX_RECORDINGS_PER_PERSON")]
    pub max_recordings_per_person: Option<u64>,
    /// The ffmpeg program that composes recordings [default: ffmpeg]
    #[arg(long, env = "HUDDLE_FFMPEG")]
    pub ffmpeg: Option<PathBuf>,
    /// Open connections allowed from one client address; 0 for no cap (behind a reverse proxy,
    /// which connects from one address) [default: 2000]
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Event WebSockets one person may hold open at once; one more closes their oldest
    /// [default: 20]
    #[arg(long, env = "HUDDLE_MAX_WEBSOCKETS_PER_PERSON")]
    pub max_websockets_per_person: Option<usize>,
    /// Open connections allowed in all [default: the open-files limit less a reserve of a
    /// quarter of it, at most 512]
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Milliseconds a client has to send a request's headers; also the longest idle keep-alive
    /// [default: 10000]
    #[arg(long, env = "HUDDLE_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Longest pause, in milliseconds, while a request's body arrives [default: 30000]
    #[arg(long, env = "HUDDLE_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Milliseconds that requests under way get to finish when Huddle stops; connections still
    /// open then (a client gone mid-download) are closed [default: 10000]
    #[arg(long, env = "HUDDLE_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// Main rooms one person (not an administrator) may own [default: 50]
    #[arg(long, env = "HUDDLE_MAX_ROOMS_PER_PERSON")]
    pub max_rooms_per_person: Option<usize>,
    /// Seconds a room nobody is connected to stays loaded in memory [default: 300]
    #[arg(long, env = "HUDDLE_ROOM_IDLE_SECS")]
    pub room_idle_secs: Option<u64>,
    /// Invitation emails one person (not an administrator) may send an hour [default: 200]
    #[arg(long, env = "HUDDLE_INVITATIONS_PER_PERSON_PER_HOUR")]
    pub invitations_per_person_per_hour: Option<u32>,
    /// Invitation emails sent for one main room and its breakout rooms an hour (administrators
    /// not counted) [default: 500]
    #[arg(long, env = "HUDDLE_INVITATIONS_PER_ROOM_PER_HOUR")]
    pub invitations_per_room_per_hour: Option<u32>,
    /// Longest time, in seconds, to receive a request (uploads included) and answer it
    /// [default: 300]
    #[arg(long, env = "HUDDLE_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
}

impl Settings {
    /// Field by field, `self` where set, else `base`.
    pub fn over(self, base: Settings) -> Settings {
        Settings {
            bind: self.bind.or(base.bind),
            data_dir: self.data_dir.or(base.data_dir),
            database_url: self.database_url.or(base.database_url),
            nats_url: self.nats_url.or(base.nats_url),
            node_id: self.node_id.or(base.node_id),
            public_url: self.public_url.or(base.public_url),
            log_format: self.log_format.or(base.log_format),
            max_body_bytes: self.max_body_bytes.or(base.max_body_bytes),
            max_message_chars: self.max_message_chars.or(base.max_message_chars),
            login_per_address_per_minute: self
                .login_per_address_per_minute
                .or(base.login_per_address_per_minute),
            login_per_account_per_minute: self
                .login_per_account_per_minute
                .or(base.login_per_account_per_minute),
            session_days: self.session_days.or(base.session_days),
            ws_queue_frames: self.ws_queue_frames.or(base.ws_queue_frames),
            ws_ping_ms: self.ws_ping_ms.or(base.ws_ping_ms),
            event_replay: self.event_replay.or(base.event_replay),
            max_breakout_rooms: self.max_breakout_rooms.or(base.max_breakout_rooms),
            max_upload_bytes: self.max_upload_bytes.or(base.max_upload_bytes),
            invitation_days: self.invitation_days.or(base.invitation_days),
            report_days: self.report_days.or(base.report_days),
            report_checkpoint_secs: self.report_checkpoint_secs.or(base.report_checkpoint_secs),
            smtp_url: self.smtp_url.or(base.smtp_url),
            smtp_ca_file: self.smtp_ca_file.or(base.smtp_ca_file),
            mail_from: self.mail_from.or(base.mail_from),
            guests_with_breakouts: self.guests_with_breakouts.or(base.guests_with_breakouts),
            csv_invite_unknown: self.csv_invite_unknown.or(base.csv_invite_unknown),
            media_bind: self.media_bind.or(base.media_bind),
            media_public_ip: self.media_public_ip.or(base.media_public_ip),
            ice_servers: self.ice_servers.or(base.ice_servers),
            turn_urls: self.turn_urls.or(base.turn_urls),
            turn_secret: self.turn_secret.or(base.turn_secret),
            metrics_token: self.metrics_token.or(base.metrics_token),
            turn_ttl_secs: self.turn_ttl_secs.or(base.turn_ttl_secs),
            media_tcp: self.media_tcp.or(base.media_tcp),
            media_congestion: self.media_congestion.or(base.media_congestion),
            call_audio_slots: self.call_audio_slots.or(base.call_audio_slots),
            call_video_slots: self.call_video_slots.or(base.call_video_slots),
            media_connect_timeout_secs: self
                .media_connect_timeout_secs
                .or(base.media_connect_timeout_secs),
            media_idle_timeout_secs: self
                .media_idle_timeout_secs
                .or(base.media_idle_timeout_secs),
            recording_quota_mb: self.recording_quota_mb.or(base.recording_quota_mb),
            upload_quota_per_room_mb: self
                .upload_quota_per_room_mb
                .or(base.upload_quota_per_room_mb),
            upload_quota_per_person_mb: self
                .upload_quota_per_person_mb
                .or(base.upload_quota_per_person_mb),
            recording_jobs: self.recording_jobs.or(base.recording_jobs),
            max_recordings_per_room: self
                .max_recordings_per_room
                .or(base.max_recordings_per_room),
            max_recordings_per_person: self
                .max_recordings_per_person
                .or(base.max_recordings_per_person),
            ffmpeg: self.ffmpeg.or(base.ffmpeg),
            max_connections_per_address: self
                .max_connections_per_address
                .or(base.max_connections_per_address),
            max_websockets_per_person: self
                .max_websockets_per_person
                .or(base.max_websockets_per_person),
            max_connections: self.max_connections.or(base.max_connections),
            header_timeout_ms: self.header_timeout_ms.or(base.header_timeout_ms),
            body_timeout_ms: self.body_timeout_ms.or(base.body_timeout_ms),
            shutdown_grace_ms: self.shutdown_grace_ms.or(base.shutdown_grace_ms),
            request_timeout_secs: self.request_timeout_secs.or(base.request_timeout_secs),
            max_rooms_per_person: self.max_rooms_per_person.or(base.max_rooms_per_person),
            room_idle_secs: self.room_idle_secs.or(base.room_idle_secs),
            invitations_per_person_per_hour: self
                .invitations_per_person_per_hour
                .or(base.invitations_per_person_per_hour),
            invitations_per_room_per_hour: self
                .invitations_per_room_per_hour
                .or(base.invitations_per_room_per_hour),
        }
    }

    /// Reads a TOML file of settings.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }
}

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
mod tests {
    use super::*;

    #[test]
    fn flags_override_environment_override_file() {
        let file: Settings =
            toml::from_str("bind = \"127.0.0.1:1\"\nmax_body_bytes = 10\nsession_days = 2")
                .unwrap();
        let env_and_flags = Settings {
            bind: Some("127.0.0.1:2".parse().unwrap()),
            ..Default::default()
        };
        let config = Config::resolve(env_and_flags.over(file)).unwrap();
        assert_eq!(config.bind.port(), 2);
        assert_eq!(config.limits.max_body_bytes, 10);
        assert_eq!(config.limits.session, Duration::from_secs(2 * 86_400));
        assert_eq!(config.limits.ws_queue_frames, 256);
    }

    #[test]
    fn media_settings() {
        let config = Config::resolve(Settings::default()).unwrap();
        assert_eq!(config.media.bind, "127.0.0.1:10000".parse().unwrap());
        assert_eq!(config.media.ice_servers, serde_json::json!([]));
        assert!(config.media.tcp, "ICE-TCP on by default");
        let off = Settings {
            media_tcp: Some(false),
            ..Default::default()
        };
        assert!(!Config::resolve(off).unwrap().media.tcp);
        let config = Config::resolve(Settings {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            ice_servers: Some("stun:stun.example.org:3478, turn:turn.example.org".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            config.media.bind.port(),
            0,
            "a free port beside a free port"
        );
        assert_eq!(
            config.media.ice_servers,
            serde_json::json!([{"urls": ["stun:stun.example.org:3478", "turn:turn.example.org"]}])
        );
        assert!(config.media.turn.is_none());
        let config = Config::resolve(Settings {
            turn_urls: Some("turn:turn.example.org:3478, turns:turn.example.org:5349".into()),
            turn_secret: Some("north".into()),
            ..Default::default()
        })
        .unwrap();
        let turn = config.media.turn.unwrap();
        assert_eq!(
            turn.urls,
            ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]
        );
        assert_eq!(turn.ttl, Duration::from_secs(86_400));
        for (settings, named) in [
            (
                Settings {
                    ice_servers: Some("http://x".into()),
                    ..Default::default()
                },
                "ice_servers",
            ),
            (
                Settings {
                    turn_urls: Some("turn:turn.example.org".into()),
                    ..Default::default()
                },
                "turn_urls needs turn_secret",
            ),
            (
                Settings {
                    turn_secret: Some("north".into()),
                    ..Default::default()
                },
                "turn_secret is set but turn_urls is empty",
            ),
            (
                Settings {
                    turn_urls: Some("stun:stun.example.org".into()),
                    turn_secret: Some("north".into()),
                    ..Default::default()
                },
                "turn_urls: \"stun:stun.example.org\" is not a turn: or turns: URL",
            ),
            (
                Settings {
                    turn_urls: Some("turn:turn.example.org".into()),
                    turn_secret: Some("north".into()),
                    turn_ttl_secs: Some(0),
                    ..Default::default()
                },
                "turn_ttl_secs",
            ),
            (
                Settings {
                    call_video_slots: Some(26),
                    ..Default::default()
                },
                "call_video_slots",
            ),
            (
                Settings {
                    media_idle_timeout_secs: Some(0),
                    ..Default::default()
                },
                "media_idle_timeout_secs",
            ),
        ] {
            let err = Config::resolve(settings).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let err = toml::from_str::<Settings>("bnid = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnid"), "{err}");
        let err = Config::resolve(Settings {
            ws_queue_frames: Some(0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("ws_queue_frames"));
        let err = Config::resolve(Settings {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("database_url"));
    }

    #[test]
    fn cluster_mode_needs_postgres_and_a_sound_node_id() {
        let err = Config::resolve(Settings {
            nats_url: Some("nats://127.0.0.1:4222".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("PostgreSQL"), "{err}");
        let pg = || Some("postgres://127.0.0.1/test".to_owned());
        let config = Config::resolve(Settings {
            nats_url: Some("nats://127.0.0.1:4222".into()),
            database_url: pg(),
            node_id: Some("node-a".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.cluster.unwrap().node_id, "node-a");
        let made = Config::resolve(Settings {
            nats_url: Some("nats://127.0.0.1:4222".into()),
            database_url: pg(),
            ..Default::default()
        })
        .unwrap();
        assert!(made.cluster.unwrap().node_id.ends_with("-8080"));
        for (nats, node) in [("http://x", None), ("nats://x", Some("a b"))] {
            let err = Config::resolve(Settings {
                nats_url: Some(nats.into()),
                database_url: pg(),
                node_id: node.map(str::to_owned),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains(if node.is_some() {
                "node_id"
            } else {
                "nats_url"
            }));
        }
        let lone = Config::resolve(Settings {
            node_id: Some("a".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(lone.to_string().contains("nats_url"));
        assert!(
            Config::with_data_dir(std::path::Path::new("x"))
                .cluster
                .is_none()
        );
    }
}
