//! [`Settings`]: every setting, each optional so that the file, the environment and the flags can
//! be layered (one struct for all three: clap reads flags and environment, serde the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

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
