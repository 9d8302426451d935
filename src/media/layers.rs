//! Simulcast layer choice: which of a camera's layers each of a receiver's video slots gets.
//!
//! A client may send its camera in up to three layers (simulcast), listed lowest first. For each
//! receiver the SFU picks, per slot, the layer that fits the size the receiver shows that slot at
//! (it reports the height in device pixels), and then fits all of its slots into the bandwidth its
//! link holds (the congestion controller's estimate, less what its audio needs). Pure: the SFU
//! measures and calls [`choose`]; switching happens on the new layer's next keyframe.
//!
//! Invariants of [`choose`]:
//! - a slot never gets a layer above its [`ideal`] one, nor an inactive layer;
//! - with a budget, the layers chosen fit into it, except that every slot that can be kept gets
//!   at least its lowest active layer when those alone fit; when even they do not, the slots
//!   last in priority order get nothing (video pauses there, audio is never starved by video);
//! - raising a slot above the layer it has now needs headroom ([`HEADROOM`]); keeping it does not,
//!   so an estimate that wavers around a layer's cost does not switch back and forth.

/// What a layer costs when nothing was measured yet, by position (lowest first), in bits/s.
const GUESS: [u64; 3] = [150_000, 500_000, 1_500_000];
/// The least a layer is reckoned to cost, whatever was measured (a still picture costs little
/// until it moves).
const FLOOR: u64 = 30_000;
/// Upgrades must fit into this share of the budget.
pub const HEADROOM: f64 = 0.85;
/// Heights assumed for layers whose size is not known (H.264, or before the first keyframe), by
/// position from the top: the top layer as a typical camera, each lower one half of it.
const ASSUMED_TOP: u32 = 720;
/// A layer up to this much smaller than the tile still counts as big enough (a little scaling
/// up is invisible, and saves a layer's worth of bandwidth).
const SLACK: f64 = 0.8;

/// One layer of a source, as measured by the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Packets arrived lately.
    pub active: bool,
    /// Measured bits per second (0 before anything was measured).
    pub bitrate: u64,
    /// Frame height from its last keyframe, where the codec tells.
    pub height: Option<u32>,
}

impl Layer {
    /// What this layer is reckoned to cost.
    fn cost(&self, index: usize) -> u64 {
        if self.bitrate == 0 {
            GUESS[index.min(GUESS.len() - 1)]
        } else {
            self.bitrate.max(FLOOR)
        }
    }
}

/// One video slot of a receiver.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// The layers of the source in the slot, lowest first.
    pub layers: &'a [Layer],
    /// The height the receiver shows it at, in device pixels (`None`: not reported, as large as
    /// the source sends).
    pub height: Option<u32>,
    /// The layer it gets now, if any.
    pub current: Option<usize>,
}

/// The layer that fits the tile: the lowest active layer at least (nearly) as tall as the tile,
/// or the highest active one; `None` if no layer is active.
pub fn ideal(layers: &[Layer], height: Option<u32>) -> Option<usize> {
    let active: Vec<usize> = (0..layers.len()).filter(|i| layers[*i].active).collect();
    let top = *active.last()?;
    let Some(wanted) = height else {
        return Some(top);
    };
    let n = layers.len();
    let height_of = |i: usize| {
        layers[i]
            .height
            .unwrap_or(ASSUMED_TOP >> (n - 1 - i).min(8))
    };
    Some(
        active
            .iter()
            .copied()
            .find(|i| f64::from(height_of(*i)) >= f64::from(wanted) * SLACK)
            .unwrap_or(top),
    )
}

/// What the given layers of the slots are reckoned to cost together, in bits/s.
pub fn rate(slots: &[Want<'_>], chosen: &[Option<usize>]) -> u64 {
    slots
        .iter()
        .zip(chosen)
        .filter_map(|(s, c)| c.and_then(|i| Some(s.layers.get(i)?.cost(i))))
        .sum()
}

/// The least the budget must grow by for one more slot to rise a layer (or a paused slot to
/// start again), given what was chosen; `None` when every slot has its ideal layer. The SFU
/// sends that much more as padding while it can, so that the congestion controller finds out
/// whether the link holds it.
pub fn next_step(slots: &[Want<'_>], chosen: &[Option<usize>]) -> Option<u64> {
    slots
        .iter()
        .zip(chosen)
        .filter_map(|(s, c)| {
            let goal = ideal(s.layers, s.height)?;
            let from = c.map_or(0, |i| s.layers[i].cost(i));
            let start = c.map_or(0, |i| i + 1);
            let next = (start..=goal).find(|l| s.layers[*l].active)?;
            Some(s.layers[next].cost(next).saturating_sub(from))
        })
        .min()
}

/// Chooses a layer for every slot (in priority order: the first is the most important) within
/// `budget` bits/s for video, or without a limit.
pub fn choose(slots: &[Want<'_>], budget: Option<u64>) -> Vec<Option<usize>> {
    let ideals: Vec<Option<usize>> = slots.iter().map(|s| ideal(s.layers, s.height)).collect();
    let Some(budget) = budget else {
        return ideals;
    };
    let lowest = |s: &Want<'_>| s.layers.iter().position(|l| l.active);
    let cost = |s: &Want<'_>, layer: Option<usize>| layer.map_or(0, |i| s.layers[i].cost(i));
    // Everyone on their lowest layer; the last in priority pause until that fits.
    let mut chosen: Vec<Option<usize>> = slots.iter().map(lowest).collect();
    let mut total: u64 = slots.iter().zip(&chosen).map(|(s, c)| cost(s, *c)).sum();
    for i in (0..slots.len()).rev() {
        if total <= budget {
            break;
        }
        total -= cost(&slots[i], chosen[i]);
        chosen[i] = None;
    }
    // Then one step up at a time, in priority order, round after round: a grid of tiles rises
    // together rather than the first tile taking everything.
    let roomy = (budget as f64 * HEADROOM) as u64;
    loop {
        let mut raised = false;
        for (i, s) in slots.iter().enumerate() {
            let (Some(now), Some(goal)) = (chosen[i], ideals[i]) else {
                continue;
            };
            let Some(next) = (now + 1..=goal).find(|l| s.layers[*l].active) else {
                continue;
            };
            let after = total - cost(s, Some(now)) + cost(s, Some(next));
            let keeping = s.current.is_some_and(|c| c >= next);
            if after <= if keeping { budget } else { roomy } {
                chosen[i] = Some(next);
                total = after;
                raised = true;
            }
        }
        if !raised {
            return chosen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layers(heights: [u32; 3], rates: [u64; 3]) -> Vec<Layer> {
        (0..3)
            .map(|i| Layer {
                active: true,
                bitrate: rates[i],
                height: Some(heights[i]),
            })
            .collect()
    }

    fn want(layers: &[Layer], height: Option<u32>) -> Want<'_> {
        Want {
            layers,
            height,
            current: None,
        }
    }

    #[test]
    fn the_tile_size_picks_the_layer() {
        let l = layers([180, 360, 720], [150_000, 500_000, 1_500_000]);
        assert_eq!(ideal(&l, Some(100)), Some(0));
        assert_eq!(ideal(&l, Some(180)), Some(0));
        // Slightly taller than a layer still takes it.
        assert_eq!(ideal(&l, Some(220)), Some(0));
        assert_eq!(ideal(&l, Some(240)), Some(1));
        assert_eq!(ideal(&l, Some(1080)), Some(2));
        assert_eq!(ideal(&l, None), Some(2));
        // The top layer stopped (the sender's own link or CPU): the best of what is left.
        let mut stopped = l.clone();
        stopped[2].active = false;
        assert_eq!(ideal(&stopped, Some(1080)), Some(1));
        assert_eq!(ideal(&[], Some(100)), None);
        // Sizes unknown: halves of a 720-line camera.
        let unknown = vec![
            Layer {
                active: true,
                bitrate: 0,
                height: None
            };
            3
        ];
        assert_eq!(ideal(&unknown, Some(170)), Some(0));
        assert_eq!(ideal(&unknown, Some(300)), Some(1));
        // A source without simulcast has one layer, whatever the tile.
        assert_eq!(ideal(&unknown[..1], Some(100)), Some(0));
    }

    #[test]
    fn a_tight_link_lowers_layers_and_then_pauses_the_least_important() {
        let l = layers([180, 360, 720], [150_000, 500_000, 1_500_000]);
        let slots = [want(&l, None), want(&l, None)];
        assert_eq!(choose(&slots, None), vec![Some(2), Some(2)]);
        assert_eq!(choose(&slots, Some(10_000_000)), vec![Some(2), Some(2)]);
        // 2 Mbit/s: the first rises to the top, the second to the middle (both step together
        // until the top no longer fits for the second).
        assert_eq!(choose(&slots, Some(2_600_000)), vec![Some(2), Some(1)]);
        assert_eq!(choose(&slots, Some(1_300_000)), vec![Some(1), Some(1)]);
        assert_eq!(choose(&slots, Some(400_000)), vec![Some(0), Some(0)]);
        // Not even both lowest layers: the second pauses.
        assert_eq!(choose(&slots, Some(200_000)), vec![Some(0), None]);
        assert_eq!(choose(&slots, Some(10_000)), vec![None, None]);
    }

    #[test]
    fn the_next_step_is_the_cheapest_rise() {
        let l = layers([180, 360, 720], [150_000, 500_000, 1_500_000]);
        let slots = [want(&l, None), want(&l, Some(180))];
        assert_eq!(next_step(&slots, &[Some(1), Some(0)]), Some(1_000_000));
        assert_eq!(next_step(&slots, &[Some(0), None]), Some(150_000));
        assert_eq!(next_step(&slots, &[Some(2), Some(0)]), None);
    }

    #[test]
    fn keeping_a_layer_needs_no_headroom_but_rising_does() {
        let l = layers([180, 360, 720], [150_000, 500_000, 1_500_000]);
        let budget = Some(520_000);
        // 500k fits into 520k, but not into 85 % of it.
        assert_eq!(choose(&[want(&l, None)], budget), vec![Some(0)]);
        let keep = Want {
            current: Some(1),
            ..want(&l, None)
        };
        assert_eq!(choose(&[keep], budget), vec![Some(1)]);
    }

    fn arb_layers() -> impl Strategy<Value = Vec<Layer>> {
        proptest::collection::vec(
            (
                any::<bool>(),
                0u64..3_000_000,
                proptest::option::of(90u32..1200),
            ),
            1..=3,
        )
        .prop_map(|v| {
            // Higher layers cost more, as measured (all layers measured, or none yet).
            let mut rates: Vec<u64> = v.iter().map(|(_, b, _)| *b).collect();
            rates.sort_unstable();
            let measured = rates[0].is_multiple_of(2);
            v.into_iter()
                .zip(rates)
                .map(|((active, _, height), bitrate)| Layer {
                    active,
                    bitrate: if measured { bitrate } else { 0 },
                    height,
                })
                .collect()
        })
    }

    proptest! {
        /// Never above the ideal layer or on an inactive one; within the budget; paused slots
        /// last; with room for everything, every slot at its ideal layer.
        #[test]
        fn choices_respect_the_tile_and_the_budget(
            sources in proptest::collection::vec(
                (arb_layers(), proptest::option::of(0u32..1500), proptest::option::of(0usize..3)),
                0..9,
            ),
            budget in 0u64..8_000_000,
        ) {
            let slots: Vec<Want<'_>> = sources
                .iter()
                .map(|(l, h, c)| Want { layers: l, height: *h, current: c.filter(|c| *c < l.len()) })
                .collect();
            let chosen = choose(&slots, Some(budget));
            let mut total = 0;
            for (s, c) in slots.iter().zip(&chosen) {
                if let Some(c) = c {
                    prop_assert!(s.layers[*c].active);
                    prop_assert!(Some(*c) <= ideal(s.layers, s.height));
                    total += s.layers[*c].cost(*c);
                }
            }
            prop_assert!(total <= budget, "{total} > {budget}");
            // Paused slots come after every slot that got something.
            let first_paused = chosen.iter().zip(&slots)
                .position(|(c, s)| c.is_none() && ideal(s.layers, s.height).is_some());
            if let Some(p) = first_paused {
                for (c, s) in chosen[p..].iter().zip(&slots[p..]) {
                    prop_assert!(c.is_none() || ideal(s.layers, s.height).is_none());
                }
            }
            // With room for every ideal layer, every slot gets its ideal one.
            let ideals: Vec<Option<usize>> = slots.iter().map(|s| ideal(s.layers, s.height)).collect();
            let all = rate(&slots, &ideals);
            let roomy = choose(&slots, Some((all as f64 / HEADROOM) as u64 + 1));
            prop_assert_eq!(roomy, ideals);
        }
    }
}
