//! Rotation planner benchmark (see docs/benchmarks.md): over R rounds of N people in rooms of S,
//! how many repeats (over the pairs who share a room, the rounds they already shared) three ways
//! of planning make, each carrying its own history from round to round:
//! - **random**: people shuffled and dealt into the rooms, what a plain "assign automatically"
//!   does every round;
//! - **greedy**: `rotation::greedy`, each person into the smallest room where they add the
//!   fewest repeats (the baseline the issue asks for);
//! - **planner**: `rotation::plan`, the greedy start and then the local search.
//!
//! Beside them, a **lower bound** no planner can beat: over the rounds, T pairs share a room in
//! all; spread as evenly as they can be over the P = n(n−1)/2 pairs, each pair meets ⌊T/P⌋ or
//! ⌈T/P⌉ times, and a pair that meets m times makes m(m−1)/2 repeats. Also the time one plan
//! takes, median over the rounds. Every figure is the median over `--seeds` independent runs.
//!
//! `cargo run --release --example rotation` (smoke: `cargo run --example rotation -- --people 30
//! --rounds 3 --seeds 1`).

use std::time::Instant;

use huddle::domain::rotation::{Constraints, Met, greedy, plan, rooms_for_size};
use huddle::ids::PersonId;
use rand::SeedableRng;
use rand::seq::SliceRandom;

struct Args {
    people: Vec<usize>,
    size: usize,
    rounds: usize,
    seeds: u64,
}

fn args() -> Args {
    let mut args = Args {
        people: vec![30, 100, 1000],
        size: 4,
        rounds: 6,
        seeds: 3,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: rotation [--people 30,100,1000] [--size S] [--rounds R] [--seeds K]";
    for pair in argv.chunks(2) {
        let value = pair.get(1).unwrap_or_else(|| panic!("{usage}"));
        match pair[0].as_str() {
            "--people" => {
                args.people = value
                    .split(',')
                    .map(|v| v.parse().unwrap_or_else(|_| panic!("{usage}")))
                    .collect()
            }
            "--size" => args.size = value.parse().unwrap_or_else(|_| panic!("{usage}")),
            "--rounds" => args.rounds = value.parse().unwrap_or_else(|_| panic!("{usage}")),
            "--seeds" => args.seeds = value.parse().unwrap_or_else(|_| panic!("{usage}")),
            _ => panic!("{usage}"),
        }
    }
    args
}

#[derive(Clone, Copy)]
enum Way {
    Random,
    Greedy,
    Planner,
}

/// Total repeats over the rounds and the median time of one plan (ms).
fn run(people: &[PersonId], size: usize, rounds: usize, way: Way, seed: u64) -> (u32, f64) {
    let rooms = rooms_for_size(people.len(), size);
    let mut met = Met::new();
    let mut total = 0;
    let mut times = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..rounds {
        let round_seed = seed.wrapping_mul(1_000).wrapping_add(round as u64);
        let began = Instant::now();
        let planned: Vec<Vec<PersonId>> = match way {
            Way::Random => {
                let mut shuffled = people.to_vec();
                shuffled.shuffle(&mut rng);
                let mut plan = vec![Vec::new(); rooms];
                for (i, p) in shuffled.into_iter().enumerate() {
                    plan[i % rooms].push(p);
                }
                plan
            }
            Way::Greedy => {
                greedy(people, rooms, &met, &Constraints::default(), round_seed)
                    .expect("no constraints")
                    .rooms
            }
            Way::Planner => {
                plan(people, rooms, &met, &Constraints::default(), round_seed)
                    .expect("no constraints")
                    .rooms
            }
        };
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        total += met.repeats(&planned);
        met.record(planned.iter().map(Vec::as_slice));
    }
    (total, median(&mut times))
}

/// The fewest repeats any rounds can have: see the module's header.
fn lower_bound(n: usize, rooms: usize, rounds: usize) -> u64 {
    let pairs = |s: u64| s * s.saturating_sub(1) / 2;
    let (small, big) = (n / rooms, n.div_ceil(rooms));
    let bigger = n % rooms;
    let per_round =
        bigger as u64 * pairs(big as u64) + (rooms - bigger) as u64 * pairs(small as u64);
    let meetings = per_round * rounds as u64;
    let all = pairs(n as u64);
    if all == 0 {
        return 0;
    }
    let (q, r) = (meetings / all, meetings % all);
    (all - r) * pairs(q) + r * pairs(q + 1)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args = args();
    println!(
        "rotation benchmark: rooms of {}, {} rounds, median of {} seeds\n",
        args.size, args.rounds, args.seeds
    );
    println!(
        "| people | rooms | repeats: random | greedy | planner | lower bound | planner / greedy | ms per plan: greedy | planner |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &args.people {
        let mut people: Vec<PersonId> = (0..n).map(|_| PersonId::new()).collect();
        people.sort();
        let mut results = [vec![], vec![], vec![]];
        let mut times = [vec![], vec![], vec![]];
        for seed in 0..args.seeds {
            for (i, way) in [Way::Random, Way::Greedy, Way::Planner]
                .into_iter()
                .enumerate()
            {
                let (repeats, ms) = run(&people, args.size, args.rounds, way, seed);
                results[i].push(f64::from(repeats));
                times[i].push(ms);
            }
        }
        let [random, greedy, planner] = results.map(|mut r| median(&mut r));
        let [_, greedy_ms, planner_ms] = times.map(|mut t| median(&mut t));
        let ratio = if greedy > 0.0 {
            format!("{:.2}", planner / greedy)
        } else {
            "–".to_owned()
        };
        println!(
            "| {n} | {} | {random} | {greedy} | {planner} | {} | {ratio} | {greedy_ms:.1} | {planner_ms:.1} |",
            rooms_for_size(n, args.size),
            lower_bound(n, rooms_for_size(n, args.size), args.rounds)
        );
    }
}
