//! How much video a receiver's link holds, learnt from the loss it reports: a ceiling on what the
//! SFU forwards to it, lowered when packets are lost and raised step by step while they are not.
//!
//! Huddle does not use str0m's delay-based estimate here: on loopback and on a loaded server it
//! fell far below what the link carried and stayed there (docs/calls.md, "Simulcast"). The
//! controller is pure: the SFU feeds it each second's loss (from the receiver's transport-wide
//! feedback) and the rates it forwards and would like to, and reads the ceiling. (The round trip
//! was tried as a second signal, a queue filling before it overflows; under a loaded machine's
//! scheduling spikes it held video down on good links, so it is not used.)
//!
//! Invariants:
//! - on a link that loses nothing, no ceiling ever appears (a good link is never limited);
//! - after loss above [`LOSSY`] the ceiling is below the rate that was being sent;
//! - the ceiling rises by at most [`RISE`] per calm wait, which starts at [`CALM`] and doubles,
//!   up to [`MAX_WAIT`], each time trouble follows soon after a rise; it disappears once it is far
//!   above what is wanted.

use std::time::{Duration, Instant};

/// A second with more loss than this lowers the ceiling.
pub const LOSSY: f32 = 0.05;
/// Loss up to this much is noise: it neither lowers nor lets the ceiling rise.
const NOISE: f32 = 0.01;
/// How long without trouble before the ceiling first rises one step.
pub const CALM: Duration = Duration::from_secs(3);
/// The longest wait between rises, after rises that kept failing.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// One step up.
pub const RISE: f64 = 1.15;
/// The least ceiling: audio and the smallest layers fit under it.
const FLOOR: u64 = 64_000;

/// A receiver link's ceiling.
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// Bits per second the video and audio sent to the receiver should stay under, if limited.
    limit: Option<u64>,
    /// Since when nothing went wrong.
    calm_since: Option<Instant>,
    /// How long to stay calm before the next rise.
    wait: Duration,
    /// When the ceiling last rose.
    last_rise: Option<Instant>,
}

impl Default for Ceiling {
    fn default() -> Self {
        Ceiling {
            limit: None,
            calm_since: None,
            wait: CALM,
            last_rise: None,
        }
    }
}

/// One second of a receiver's link, as reported.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Fraction of the packets sent to the receiver that it did not get.
    pub loss: f32,
    /// What was sent to it, bits/s.
    pub sending: u64,
    /// What would be sent if its link held everything, bits/s.
    pub wanted: u64,
}

impl Ceiling {
    /// The current ceiling in bits/s (`None`: not limited).
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Takes one second's report.
    pub fn update(&mut self, now: Instant, report: Report) {
        if report.loss > LOSSY {
            // Back off below what the link just failed to carry, by more the worse the loss.
            let factor = 0.85 * (1.0 - f64::from(report.loss.min(0.5)) / 2.0);
            let lowered = ((report.sending as f64 * factor) as u64).max(FLOOR);
            self.limit = Some(self.limit.map_or(lowered, |l| l.min(lowered)));
            // Trouble soon after a rise: that step was too far, try the next one later.
            if self
                .last_rise
                .is_some_and(|at| now.saturating_duration_since(at) <= self.wait * 2)
            {
                self.wait = (self.wait * 2).min(MAX_WAIT);
                self.last_rise = None;
            }
            self.calm_since = None;
            return;
        }
        if report.loss > NOISE {
            self.calm_since = None;
            return;
        }
        let Some(limit) = self.limit else {
            return;
        };
        let since = *self.calm_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.wait {
            let raised = (limit as f64 * RISE) as u64;
            // Far above what is wanted: the link holds everything, no ceiling any more.
            if raised < report.wanted.saturating_mul(2) {
                self.limit = Some(raised);
                self.last_rise = Some(now);
            } else {
                *self = Ceiling::default();
            }
            self.calm_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(loss: f32, sending: u64, wanted: u64) -> Report {
        Report {
            loss,
            sending,
            wanted,
        }
    }

    #[test]
    fn loss_lowers_the_ceiling_and_calm_raises_it_until_it_goes() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Ceiling::default();
        c.update(at(0), report(0.0, 2_000_000, 2_000_000));
        assert_eq!(c.limit(), None, "a clean link is never limited");
        c.update(at(1), report(0.2, 1_000_000, 2_000_000));
        let first = c.limit().unwrap();
        assert!(first < 1_000_000 * 85 / 100, "{first}");
        // Noise neither lowers nor raises it.
        c.update(at(2), report(0.02, 700_000, 2_000_000));
        c.update(at(6), report(0.02, 700_000, 2_000_000));
        assert_eq!(c.limit(), Some(first));
        // Calm for a step's time: one step up.
        c.update(at(7), report(0.0, 700_000, 2_000_000));
        c.update(at(9), report(0.0, 700_000, 2_000_000));
        assert_eq!(c.limit(), Some(first));
        c.update(at(10), report(0.0, 700_000, 2_000_000));
        let second = (first as f64 * RISE) as u64;
        assert_eq!(c.limit(), Some(second));
        // A ceiling far above what is wanted goes away.
        for s in 11..400 {
            c.update(at(s), report(0.0, 700_000, 600_000));
        }
        assert_eq!(c.limit(), None);
        // Heavy loss on a tiny rate still leaves room for audio.
        c.update(at(500), report(0.5, 10_000, 600_000));
        assert_eq!(c.limit(), Some(FLOOR));
    }

    #[test]
    fn rises_that_keep_failing_are_tried_less_and_less_often() {
        let t0 = Instant::now();
        let mut c = Ceiling::default();
        let mut now = t0;
        c.update(now, report(0.2, 1_000_000, 2_000_000));
        let mut gaps = Vec::new();
        let mut last_rise = now;
        // Every rise is followed by loss a second later; the time between rises grows.
        for _ in 0..400 {
            now += Duration::from_secs(1);
            let before = c.limit();
            c.update(now, report(0.0, 500_000, 2_000_000));
            if c.limit() > before {
                gaps.push(now.saturating_duration_since(last_rise).as_secs());
                last_rise = now;
                now += Duration::from_secs(1);
                c.update(now, report(0.2, 500_000, 2_000_000));
            }
        }
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(*gaps.last().unwrap() >= MAX_WAIT.as_secs(), "{gaps:?}");
    }
}
