//! Time as an input. Production code reads [`SystemClock`]; tests may pass another [`Clock`].

use std::sync::Arc;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        // i128 nanoseconds / 1e6 fits i64 for the next 290 million years.
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;
