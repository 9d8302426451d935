//! How much video a receiver's link holds, learnt from the loss it reports: a ceiling on what the
//! SFU forwards to it, lowered when packets are lost and raised step by step while they are not.
//!
//! Huddle does not use a delay-based estimate here: on loopback and on a loaded server, str0m's
//! estimate fell far below what the link carried and stayed there (docs/calls.md, "Simulcast"),
//! while loss is what a receiver on a weak link actually suffers from. The controller is pure:
//! the SFU feeds it each second's loss (from the receiver's transport-wide feedback) and the rate
//! it forwards, and reads the ceiling.
//!
//! Invariants:
//! - without loss, no ceiling ever appears (a good link is never limited);
//! - after loss above [`LOSSY`] the ceiling is below the rate that was being sent;
//! - the ceiling rises by at most [`RISE`] per [`CALM`] without loss, and disappears once it is
//!   far above what is wanted.

use std::time::{Duration, Instant};

/// A second with more loss than this lowers the ceiling.
pub const LOSSY: f32 = 0.05;
/// Loss up to this much is noise: it neither lowers nor lets the ceiling rise.
const NOISE: f32 = 0.01;
/// How long without loss before the ceiling rises one step.
pub const CALM: Duration = Duration::from_secs(3);
/// One step up.
pub const RISE: f64 = 1.15;
/// The least ceiling: audio and the smallest layers fit under it.
const FLOOR: u64 = 64_000;

/// A receiver link's ceiling.
#[derive(Debug, Clone, Default)]
pub struct Ceiling {
    /// Bits per second the video and audio sent to the receiver should stay under, if limited.
    limit: Option<u64>,
    /// Since when the loss has stayed below the noise.
    calm_since: Option<Instant>,
}

impl Ceiling {
    /// The current ceiling in bits/s (`None`: not limited).
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// One second's report: the fraction of packets lost on the way to the receiver, the rate
    /// the SFU sent it then, and the rate it would like to send.
    pub fn update(&mut self, now: Instant, loss: f32, sending: u64, wanted: u64) {
        if loss > LOSSY {
            // Back off below what the link just failed to carry, by more the worse the loss.
            let factor = 0.85 * (1.0 - f64::from(loss.min(0.5)) / 2.0);
            let lowered = ((sending as f64 * factor) as u64).max(FLOOR);
            self.limit = Some(self.limit.map_or(lowered, |l| l.min(lowered)));
            self.calm_since = None;
            return;
        }
        if loss > NOISE {
            self.calm_since = None;
            return;
        }
        let Some(limit) = self.limit else {
            return;
        };
        let since = *self.calm_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= CALM {
            let raised = (limit as f64 * RISE) as u64;
            // Far above what is wanted: the link holds everything, no ceiling any more.
            self.limit = (raised < wanted.saturating_mul(2)).then_some(raised);
            self.calm_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_lowers_the_ceiling_and_calm_raises_it_until_it_goes() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Ceiling::default();
        c.update(at(0), 0.0, 2_000_000, 2_000_000);
        assert_eq!(c.limit(), None, "a clean link is never limited");
        c.update(at(1), 0.2, 1_000_000, 2_000_000);
        let first = c.limit().unwrap();
        assert!(first < 1_000_000 * 85 / 100, "{first}");
        // Noise neither lowers nor raises it.
        c.update(at(2), 0.02, 700_000, 2_000_000);
        c.update(at(6), 0.02, 700_000, 2_000_000);
        assert_eq!(c.limit(), Some(first));
        // Calm for a step's time: one step up, then another.
        c.update(at(7), 0.0, 700_000, 2_000_000);
        c.update(at(9), 0.0, 700_000, 2_000_000);
        assert_eq!(c.limit(), Some(first));
        c.update(at(10), 0.0, 700_000, 2_000_000);
        assert_eq!(c.limit(), Some((first as f64 * RISE) as u64));
        // A ceiling far above what is wanted goes away.
        for s in 11..200 {
            c.update(at(s), 0.0, 700_000, 600_000);
        }
        assert_eq!(c.limit(), None);
        // Heavy loss on a tiny rate still leaves room for audio.
        c.update(at(300), 0.5, 10_000, 600_000);
        assert_eq!(c.limit(), Some(FLOOR));
    }
}
