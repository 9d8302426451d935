//! The mailer: one background task that delivers invitation emails, over SMTP (lettre; plain,
//! STARTTLS or TLS, as the configured URL says, optionally trusting an extra CA) or, with no SMTP configured, as `.eml` files under
//! `DATA_DIR/outbox` with the link logged, so an installation without a mail server still works.
//!
//! The queue is the `invitations` table: an invitation is stored with its email due, in the same
//! transaction as the event that created it, so no acknowledged invitation is ever lost. Each
//! attempt first claims the email (a conditional update: two mailers on one database never send
//! the same email) and in the same step stores the hash of a fresh link token (a link that never
//! arrived is simply replaced). A failed attempt is retried with growing delays, and the inviter
//! sees the state, attempts and last error in the invitation list; after [`MAX_ATTEMPTS`] the
//! email is marked failed and waits for a "resend".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::meeting;
use crate::rooms::Rooms;
use crate::store::{Delivery, InvitationRecord, SharedStore};

/// Attempts before an email is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// Meetings attached to an invitation, at most.
const MAX_MEETINGS: usize = 3;
/// How long a claimed email waits before another attempt if this one is never recorded (the
/// process died while sending).
const LEASE_MS: i64 = 5 * 60_000;

/// How emails leave.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// The mailer handle: wake it when new emails are queued.
pub struct Mailer {
    notify: Notify,
}

/// Why the mailer could not start.
#[derive(Debug, thiserror::Error)]
#[error("smtp_url: {0}")]
pub struct MailSetupError(String);

struct Worker {
    transport: Transport,
    from: Mailbox,
    public_url: String,
    store: SharedStore,
    rooms: Arc<Rooms>,
    clock: SharedClock,
    mailer: Arc<Mailer>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Mailer {
    /// Starts the delivery task.
    pub fn start(
        config: &Config,
        public_url: &str,
        store: SharedStore,
        rooms: Arc<Rooms>,
        clock: SharedClock,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Arc<Mailer>, MailSetupError> {
        let transport = match &config.mail.smtp_url {
            Some(url) => Transport::Smtp(smtp(url, config.mail.smtp_ca_file.as_deref())?),
            None => Transport::Files(config.data_dir.join("outbox")),
        };
        let mailer = Arc::new(Mailer {
            notify: Notify::new(),
        });
        let worker = Worker {
            transport,
            from: config.mail.from.clone(),
            public_url: public_url.to_owned(),
            store,
            rooms,
            clock,
            mailer: mailer.clone(),
            shutdown,
        };
        tokio::spawn(worker.run());
        Ok(mailer)
    }

    /// New emails are queued: deliver them now.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// The SMTP transport the URL describes; with `ca_file`, its TLS also trusts that CA.
fn smtp(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailSetupError> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let setup = |e: &dyn std::fmt::Display| MailSetupError(e.to_string());
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| setup(&e))?
        .timeout(Some(Duration::from_secs(30)));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| setup(&format!("smtp_ca_file {}: {e}", path.display())))?;
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(['/', '?']).next())
            .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
            .map(|host_port| host_port.rsplit_once(':').map_or(host_port, |(h, _)| h))
            .unwrap_or_default()
            .to_owned();
        let params = TlsParameters::builder(host)
            .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| setup(&e))?)
            .build()
            .map_err(|e| setup(&e))?;
        // The same kind of TLS as the URL asks for, with the extra root.
        let tls = if url.starts_with("smtps://") {
            Tls::Wrapper(params)
        } else if url.contains("tls=required") {
            Tls::Required(params)
        } else if url.contains("tls=opportunistic") {
            Tls::Opportunistic(params)
        } else {
            return Err(setup(
                &"smtp_ca_file is set but smtp_url asks for no TLS (use smtps:// or ?tls=required)",
            ));
        };
        builder = builder.tls(tls);
    }
    Ok(builder.build())
}

/// The delay before attempt `attempts + 1`: 30 s, doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs((30u64 << attempts.saturating_sub(1).min(7)).min(3600))
}

impl Worker {
    /// Delivers due emails until the server shuts down (an email being sent is finished first).
    async fn run(mut self) {
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            let now = self.clock.now_ms();
            let due = match self.store.due_mail(now, 20).await {
                Ok(due) => due,
                Err(e) => {
                    warn!(error = %e, "reading the mail queue failed; retrying in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            let full = due.len() == 20;
            for job in due {
                self.deliver(job).await;
            }
            if full {
                continue;
            }
            let next = self.store.next_mail_at().await.ok().flatten();
            let clock = self.clock.clone();
            tokio::select! {
                _ = self.shutdown.changed() => {}
                () = self.mailer.notify.notified() => {}
                () = async move {
                    match next {
                        Some(at) => clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }

    async fn deliver(&self, job: InvitationRecord) {
        let id = job.invitation.id;
        let attempts = job.mail_attempts + 1;
        let outcome = self.attempt(&job, attempts).await;
        let now = self.clock.now_ms();
        let delivery = match outcome {
            // Another mailer took it, or it stopped being due (revoked, resent): nothing to record.
            Ok(false) => return,
            Ok(true) => Delivery::Sent { at: now },
            Err(error) => {
                let next_at =
                    (attempts < MAX_ATTEMPTS).then(|| now + backoff(attempts).as_millis() as i64);
                warn!(invitation = %id, attempts, %error, "invitation email not delivered");
                Delivery::Failed {
                    error,
                    attempts,
                    next_at,
                }
            }
        };
        if let Err(e) = self.store.record_delivery(id, delivery).await {
            warn!(invitation = %id, error = %e, "recording an email delivery failed");
        }
    }

    /// One delivery attempt: `Ok(false)` if the email could not be claimed.
    async fn attempt(&self, job: &InvitationRecord, attempt: u32) -> Result<bool, String> {
        let invitation = &job.invitation;
        let room = invitation.room_id;
        let now = self.clock.now_ms();
        let token = crate::auth::new_token();
        let due_at = job.mail_next_at.unwrap_or(now);
        let claimed = self
            .store
            .claim_mail(
                invitation.id,
                due_at,
                &crate::auth::token_hash(&token),
                now + LEASE_MS,
            )
            .await
            .map_err(|e| e.to_string())?;
        if !claimed {
            return Ok(false);
        }
        let public_url = self.public_url.clone();
        // What the inviter chose (the room's title, their name, the meetings' texts) goes into an
        // email to a stranger: from someone who is not an administrator, in short and without
        // links, so that Huddle cannot be made to carry someone's spam.
        let trusted = self
            .store
            .person(invitation.invited_by)
            .await
            .map_err(|e| e.to_string())?
            .is_some_and(|p| p.is_admin);
        let chosen = move |text: &str| {
            if trusted {
                text.to_owned()
            } else {
                plain(text)
            }
        };
        // The room's title and its next meetings, as calendar files.
        let found = self
            .rooms
            .inspect(room, move |state, _| {
                let title = chosen(&state.title(room)?);
                let mut meetings: Vec<_> = state
                    .meetings
                    .values()
                    .filter(|m| m.room_id == room && m.ends_at() > now)
                    .collect();
                meetings.sort_by_key(|m| m.starts_at);
                let calendars: Vec<(String, String)> = meetings
                    .into_iter()
                    .take(MAX_MEETINGS)
                    .map(|m| {
                        let mut m = m.clone();
                        if !trusted {
                            m.title = plain(&m.title);
                            m.description.clear();
                        }
                        (
                            calendar_name(&m.title),
                            meeting::ics(&m, &title, &public_url, now),
                        )
                    })
                    .collect();
                Some((title, calendars))
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some((title, calendars)) = found else {
            return Err("the room no longer exists".to_owned());
        };
        let link = format!("{}/invite/{token}", self.public_url);
        let expires = time::OffsetDateTime::from_unix_timestamp(invitation.expires_at / 1000)
            .map(|t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default();
        let inviter = chosen(&invitation.invited_by_name);
        let mut text = format!(
            "{inviter} invited you to \"{title}\" on Huddle.\n\nOpen this link to join:\n{link}\n\n\
             The link works once and until {expires}.\n"
        );
        if !calendars.is_empty() {
            text.push_str("\nThe room's next meetings are attached for your calendar.\n");
        }
        let to: Mailbox = invitation
            .email
            .parse()
            .map_err(|e| format!("the address {:?} is not valid: {e}", invitation.email))?;
        let mut body = MultiPart::mixed().singlepart(SinglePart::plain(text));
        for (name, ics) in calendars {
            let calendar = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                .map_err(|e| e.to_string())?;
            body = body.singlepart(Attachment::new(name).body(ics, calendar));
        }
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Invitation to {title}"))
            .multipart(body)
            .map_err(|e| e.to_string())?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|e| e.to_string())?;
                info!(invitation = %invitation.id, "invitation email sent");
            }
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| e.to_string())?;
                let path = dir.join(format!("{}-{attempt}.eml", invitation.id));
                // Flushed before the email is recorded as sent, like any acknowledged write.
                let write = async {
                    let mut file = tokio::fs::File::create(&path).await?;
                    tokio::io::AsyncWriteExt::write_all(&mut file, &message.formatted()).await?;
                    file.sync_all().await
                };
                write.await.map_err(|e| e.to_string())?;
                info!(invitation = %invitation.id, to = %invitation.email, %link, file = %path.display(),
                    "no SMTP server configured: invitation email written to a file");
            }
        }
        Ok(true)
    }
}

/// Longest text chosen by a non-administrator that an email carries (a room title, a name).
const PLAIN_CHARS: usize = 60;

/// Text someone chose, fit for an email to a stranger: web addresses become `[link]` and it is
/// cut to `PLAIN_CHARS` characters.
fn plain(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| {
            let lower = w.to_lowercase();
            if lower.contains("://") || lower.starts_with("www.") {
                "[link]"
            } else {
                w
            }
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= PLAIN_CHARS {
        joined
    } else {
        let cut: String = joined.chars().take(PLAIN_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// How many invitation emails people may have Huddle send in an hour: per inviting person and per
/// main room (invitations to its breakout rooms and CSV imports count for it). Administrators are
/// not limited.
pub struct SendQuota {
    by_person: governor::DefaultKeyedRateLimiter<crate::ids::PersonId>,
    by_room: governor::DefaultKeyedRateLimiter<crate::ids::RoomId>,
    per_person: u32,
    per_room: u32,
}

/// Why emails may not be sent now, said to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota(pub String);

impl SendQuota {
    /// Quotas per hour (each at least 1).
    pub fn new(per_person: u32, per_room: u32) -> SendQuota {
        let hourly = |n: u32| {
            let n = std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
            governor::Quota::with_period(Duration::from_secs(3600) / n.get())
                .expect("a positive period")
                .allow_burst(n)
        };
        SendQuota {
            by_person: governor::RateLimiter::keyed(hourly(per_person)),
            by_room: governor::RateLimiter::keyed(hourly(per_room)),
            per_person,
            per_room,
        }
    }

    /// Takes `n` emails from the person's and the room's quota, or says why not (nothing taken
    /// from the room's when the person's refuses).
    pub fn take(
        &self,
        person: crate::ids::PersonId,
        room: crate::ids::RoomId,
        n: usize,
    ) -> Result<(), OverQuota> {
        use governor::clock::{Clock, DefaultClock};
        let Some(cells) = u32::try_from(n).ok().and_then(std::num::NonZeroU32::new) else {
            return Ok(());
        };
        let now = DefaultClock::default().now();
        let over = |what: &str,
                    per_hour: u32,
                    result: Result<Result<(), governor::NotUntil<_>>, _>| {
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(not_until)) => {
                    let wait: Duration = governor::NotUntil::wait_time_from(&not_until, now);
                    Err(OverQuota(format!(
                        "{what} may send {per_hour} invitation emails an hour: these {n} can go in {} min",
                        wait.as_secs().div_ceil(60).max(1)
                    )))
                }
                Err(_) => Err(OverQuota(format!(
                    "{what} may send at most {per_hour} invitation emails an hour; these are {n}"
                ))),
            }
        };
        over(
            "one person",
            self.per_person,
            self.by_person.check_key_n(&person, cells),
        )?;
        over(
            "one room",
            self.per_room,
            self.by_room.check_key_n(&room, cells),
        )
    }

    /// Forgets people and rooms whose quota is full again (keeps memory flat).
    pub fn prune(&self) {
        self.by_person.retain_recent();
        self.by_room.retain_recent();
    }
}

/// An attachment's file name for a meeting: its title, without what a file name may not hold.
fn calendar_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_control() || "/\\\":*?<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{}.ics", name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendars_are_named_by_their_meeting() {
        assert_eq!(calendar_name("Lab review"), "Lab review.ics");
        assert_eq!(calendar_name(" A/B: \"final\"\n"), "A_B_ _final__.ics");
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(7), Duration::from_secs(1920));
        assert_eq!(backoff(8), Duration::from_secs(3600));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }
}
