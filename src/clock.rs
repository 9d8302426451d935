//! Time as an input. Production code reads [`SystemClock`]; tests drive a [`ManualClock`], so a
//! breakout timer is tested by moving time forward, never by sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// A future that completes when a clock reaches a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of the current time that can also wait for a moment to come.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Completes once the clock reads at least `deadline_ms`.
    fn sleep_until(&self, deadline_ms: i64) -> Sleep;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        // i128 nanoseconds / 1e6 fits i64 for the next 290 million years.
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep {
        let wait = deadline_ms - self.now_ms();
        if wait <= 0 {
            // Past deadlines are ready at once, not at the timer wheel's next turn.
            return Box::pin(std::future::ready(()));
        }
        Box::pin(tokio::time::sleep(Duration::from_millis(wait as u64)))
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::channel(start_ms).0),
        }
    }

    /// Moves the clock forward; sleepers whose deadline has come wake up.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by.as_millis() as i64);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; if it is gone, time has stopped for good.
            let _ = rx.wait_for(|now| *now >= deadline_ms).await;
        })
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;
