use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::*;

fn people(n: usize) -> Vec<PersonId> {
    let mut v: Vec<PersonId> = (0..n).map(|_| PersonId::new()).collect();
    v.sort();
    v
}

fn none() -> Constraints {
    Constraints::default()
}

fn sizes(rooms: &[Vec<PersonId>]) -> Vec<usize> {
    let mut s: Vec<usize> = rooms.iter().map(Vec::len).collect();
    s.sort();
    s
}

fn room_of(rooms: &[Vec<PersonId>], p: PersonId) -> usize {
    rooms.iter().position(|r| r.contains(&p)).expect("placed")
}

#[test]
fn a_first_round_is_balanced_and_has_no_repeats() {
    let ps = people(10);
    let planned = plan(&ps, 3, &Met::new(), &none(), 1).unwrap();
    assert_eq!(sizes(&planned.rooms), vec![3, 3, 4]);
    assert_eq!((planned.repeats, planned.imbalance), (0, 0));
}

#[test]
fn sixteen_people_in_rooms_of_four_meet_new_people_for_five_rounds() {
    // Sixteen people in four rooms of four can meet fifteen new people over five rounds (an
    // affine plane of order four); the planner should find rounds without repeats for a while
    // and always do far better than chance.
    let ps = people(16);
    let mut met = Met::new();
    let (mut total, mut by_chance) = (0, 0);
    for round in 0..5 {
        let planned = plan(&ps, rooms_for_size(16, 4), &met, &none(), round).unwrap();
        assert_eq!(sizes(&planned.rooms), vec![4, 4, 4, 4]);
        assert_eq!(planned.repeats, met.repeats(&planned.rooms));
        if round < 3 {
            assert_eq!(planned.repeats, 0, "round {round}");
        }
        total += planned.repeats;
        // What rooms drawn at random would repeat, on average over 100 draws.
        let mut rng = rand::rngs::StdRng::seed_from_u64(round);
        let mut shuffled = ps.clone();
        for _ in 0..100 {
            shuffled.shuffle(&mut rng);
            let random: Vec<Vec<PersonId>> = shuffled.chunks(4).map(<[_]>::to_vec).collect();
            by_chance += met.repeats(&random);
        }
        met.record(planned.rooms.iter().map(Vec::as_slice));
    }
    by_chance /= 100;
    assert!(
        total * 4 <= by_chance,
        "{total} repeats in five rounds, {by_chance} by chance"
    );
}

#[test]
fn together_groups_share_a_room_and_apart_groups_do_not() {
    let ps = people(12);
    let constraints = Constraints {
        together: vec![vec![ps[0], ps[1]], vec![ps[1], ps[2]], vec![ps[5], ps[6]]],
        apart: vec![vec![ps[0], ps[5], ps[9]], vec![ps[3], ps[4]]],
        attribute: HashMap::new(),
    };
    for seed in 0..20 {
        let planned = plan(&ps, 3, &Met::new(), &constraints, seed).unwrap();
        let r = |i: usize| room_of(&planned.rooms, ps[i]);
        assert_eq!(r(0), r(1));
        assert_eq!(r(1), r(2), "groups sharing someone merge");
        assert_eq!(r(5), r(6));
        assert!(r(0) != r(5) && r(5) != r(9) && r(0) != r(9));
        assert_ne!(r(3), r(4));
    }
}

#[test]
fn an_attribute_is_spread_evenly() {
    // A jigsaw: three teams of four, four rooms: one of each team in every room.
    let ps = people(12);
    let attribute: HashMap<PersonId, String> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, format!("team {}", i % 3)))
        .collect();
    let constraints = Constraints {
        attribute: attribute.clone(),
        ..none()
    };
    for seed in 0..20 {
        let planned = plan(&ps, 4, &Met::new(), &constraints, seed).unwrap();
        assert_eq!(planned.imbalance, 0);
        for room in &planned.rooms {
            let teams: HashSet<&String> = room.iter().map(|p| &attribute[p]).collect();
            assert_eq!(teams.len(), 3, "{room:?}");
        }
    }
}

#[test]
fn impossible_or_unknown_constraints_are_refused_with_a_reason() {
    let ps = people(6);
    let stranger = PersonId::new();
    let err = |c: Constraints, rooms: usize| plan(&ps, rooms, &Met::new(), &c, 0).unwrap_err();
    let e = err(
        Constraints {
            together: vec![vec![ps[0], stranger]],
            ..none()
        },
        2,
    );
    assert!(e.to_string().contains("not among the people"), "{e}");
    let e = err(
        Constraints {
            apart: vec![ps[0..3].to_vec()],
            ..none()
        },
        2,
    );
    assert!(e.to_string().contains("needs at least 3 rooms"), "{e}");
    let e = err(
        Constraints {
            together: vec![vec![ps[0], ps[1]]],
            apart: vec![vec![ps[1], ps[0]]],
            ..none()
        },
        2,
    );
    assert!(e.to_string().contains("both together and apart"), "{e}");
    assert!(plan(&ps, 0, &Met::new(), &none(), 0).is_err());
    let twice = vec![ps[0], ps[0]];
    assert!(plan(&twice, 1, &Met::new(), &none(), 0).is_err());
}

#[test]
fn rooms_for_a_size_keep_every_room_within_it() {
    assert_eq!(rooms_for_size(10, 4), 3);
    assert_eq!(rooms_for_size(8, 4), 2);
    assert_eq!(rooms_for_size(0, 4), 1);
    assert_eq!(rooms_for_size(5, 0), 5);
}

/// The fewest repeats any plan with balanced sizes can have, by trying every one.
fn optimum(people: &[PersonId], rooms: usize, met: &Met) -> u32 {
    let n = people.len();
    let (low, high) = (n / rooms, n.div_ceil(rooms));
    let mut best = u32::MAX;
    let mut choice = vec![0usize; n];
    loop {
        let mut count = vec![0usize; rooms];
        for c in &choice {
            count[*c] += 1;
        }
        if count.iter().all(|c| *c >= low && *c <= high) {
            let mut plan = vec![Vec::new(); rooms];
            for (i, c) in choice.iter().enumerate() {
                plan[*c].push(people[i]);
            }
            best = best.min(met.repeats(&plan));
        }
        // Next assignment, counting in base `rooms`.
        let mut i = 0;
        loop {
            if i == n {
                return best;
            }
            choice[i] += 1;
            if choice[i] < rooms {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

/// A history of `rounds` random rounds over `people` in `rooms` rooms.
fn history(people: &[PersonId], rooms: usize, rounds: &[Vec<usize>]) -> Met {
    let mut met = Met::new();
    for round in rounds {
        let mut plan = vec![Vec::new(); rooms];
        for (i, p) in people.iter().enumerate() {
            plan[round[i % round.len()] % rooms].push(*p);
        }
        met.record(plan.iter().map(Vec::as_slice));
    }
    met
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On small cases the planner finds the best plan there is.
    #[test]
    fn small_cases_reach_the_optimum(
        n in 2usize..=9,
        rooms in 2usize..=3,
        rounds in prop::collection::vec(prop::collection::vec(0usize..3, 9), 1..=3),
        seed in any::<u64>(),
    ) {
        let ps = people(n);
        let met = history(&ps, rooms, &rounds);
        let planned = plan(&ps, rooms, &met, &none(), seed).unwrap();
        prop_assert_eq!(planned.repeats, met.repeats(&planned.rooms));
        prop_assert_eq!(planned.repeats, optimum(&ps, rooms, &met));
    }

    /// Whatever the constraints, a plan places everyone once, keeps them, and reports its own
    /// repeats; without groups to keep apart, sizes differ by at most the largest group.
    #[test]
    fn plans_keep_every_rule(
        n in 0usize..40,
        rooms in 1usize..8,
        rounds in prop::collection::vec(prop::collection::vec(0usize..8, 40), 0..3),
        together in prop::collection::vec(prop::collection::vec(0usize..40, 2..4), 0..3),
        apart in prop::collection::vec(prop::collection::vec(0usize..40, 2..4), 0..3),
        values in prop::collection::vec(0u8..3, 40),
        with_apart in any::<bool>(),
        with_values in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let ps = people(n);
        let met = history(&ps, rooms, &rounds);
        let pick = |groups: &Vec<Vec<usize>>| -> Vec<Vec<PersonId>> {
            groups.iter()
                .map(|g| g.iter().filter(|i| **i < n).map(|i| ps[*i]).collect::<Vec<_>>())
                .filter(|g: &Vec<PersonId>| g.len() > 1)
                .collect()
        };
        let constraints = Constraints {
            together: pick(&together),
            apart: if with_apart { pick(&apart) } else { vec![] },
            attribute: if with_values {
                ps.iter().zip(&values).map(|(p, v)| (*p, v.to_string())).collect()
            } else {
                HashMap::new()
            },
        };
        let result = plan(&ps, rooms, &met, &constraints, seed);
        let planned = match result {
            Ok(planned) => planned,
            // Refusals are for constraints that contradict each other or need more rooms.
            Err(e) => {
                prop_assert!(with_apart, "refused without groups to keep apart: {}", e);
                return Ok(());
            }
        };
        prop_assert_eq!(planned.rooms.len(), rooms);
        let mut seen: Vec<PersonId> = planned.rooms.concat();
        seen.sort();
        prop_assert_eq!(&seen, &ps, "everyone exactly once");
        for group in &constraints.together {
            let r = room_of(&planned.rooms, group[0]);
            prop_assert!(group.iter().all(|p| room_of(&planned.rooms, *p) == r));
        }
        for group in &constraints.apart {
            for (i, a) in group.iter().enumerate() {
                for b in &group[i + 1..] {
                    if a != b {
                        prop_assert_ne!(room_of(&planned.rooms, *a), room_of(&planned.rooms, *b));
                    }
                }
            }
        }
        prop_assert_eq!(planned.repeats, met.repeats(&planned.rooms));
        prop_assert_eq!(planned.imbalance, imbalance(&planned.rooms, &constraints.attribute));
        if constraints.apart.is_empty() {
            // The largest unit: together groups merged where they share someone.
            let mut largest = 1;
            for room in &planned.rooms {
                for p in room {
                    let mut unit: HashSet<PersonId> = HashSet::from([*p]);
                    loop {
                        let before = unit.len();
                        for g in &constraints.together {
                            if g.iter().any(|x| unit.contains(x)) {
                                unit.extend(g.iter().copied());
                            }
                        }
                        if unit.len() == before { break; }
                    }
                    largest = largest.max(unit.len());
                }
            }
            let s = sizes(&planned.rooms);
            prop_assert!(s[s.len() - 1] - s[0] <= largest, "sizes {:?}, largest group {}", s, largest);
            if constraints.together.is_empty() && with_values {
                prop_assert_eq!(planned.imbalance, 0, "an attribute alone can always be spread evenly");
            }
        }
    }

    /// The local search never does worse than the greedy start it begins from.
    #[test]
    fn the_search_is_never_worse_than_the_greedy_start(
        n in 10usize..60,
        rooms in 2usize..10,
        rounds in prop::collection::vec(prop::collection::vec(0usize..10, 60), 1..4),
        seed in any::<u64>(),
    ) {
        let ps = people(n);
        let met = history(&ps, rooms, &rounds);
        let base = greedy(&ps, rooms, &met, &none(), seed).unwrap();
        let better = plan(&ps, rooms, &met, &none(), seed).unwrap();
        prop_assert!(better.repeats <= base.repeats);
        prop_assert_eq!(sizes(&better.rooms), sizes(&base.rooms));
    }
}
