//! Rotation rounds: who goes with whom next, so that people meet as few of the same people again
//! as possible — a pure function of the people, the number of rooms, who already met, the
//! constraints and a seed.
//!
//! [`plan`] keeps these, in this order of priority:
//! 1. everyone is in exactly one room, and the people of a `together` group share one;
//! 2. no two people of an `apart` group share a room (or the plan is refused, saying why);
//! 3. room sizes differ by at most one, or by the largest `together` group when there are groups;
//! 4. each value of the balanced attribute (a CSV column such as "class") is spread over the rooms
//!    as evenly as it can be: every room holds `⌊c/k⌋` or `⌈c/k⌉` of the `c` people who share it;
//! 5. the fewest repeats: the sum, over the pairs who share a room, of the rounds they already
//!    shared ([`Met`]).
//!
//! How: a greedy start ([`greedy`], also the baseline the benchmark compares with) puts each
//! group, largest first, in the smallest room it may go to, choosing among those the room where it
//! adds the least; then a local search swaps groups of the same size between rooms while that
//! lowers the cost, with random kicks to leave local optima, for a budget of steps that grows with
//! the number of people. Both are deterministic for a given seed.

use std::collections::{HashMap, HashSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::DomainError;
use crate::ids::PersonId;

/// How often each pair of people already shared a room in this session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Met {
    pairs: HashMap<(PersonId, PersonId), u32>,
}

impl Met {
    /// Nobody met yet.
    pub fn new() -> Met {
        Met::default()
    }

    /// Records one round: everyone in a room met everyone else in it.
    pub fn record<'a>(&mut self, rooms: impl IntoIterator<Item = &'a [PersonId]>) {
        for room in rooms {
            for (i, a) in room.iter().enumerate() {
                for b in &room[i + 1..] {
                    *self.pairs.entry(ordered(*a, *b)).or_default() += 1;
                }
            }
        }
    }

    /// How many rounds `a` and `b` already shared.
    pub fn times(&self, a: PersonId, b: PersonId) -> u32 {
        self.pairs.get(&ordered(a, b)).copied().unwrap_or(0)
    }

    /// The repeats of a plan: over the pairs who share a room in it, the rounds they already shared.
    pub fn repeats(&self, rooms: &[Vec<PersonId>]) -> u32 {
        rooms
            .iter()
            .map(|room| {
                let mut sum = 0;
                for (i, a) in room.iter().enumerate() {
                    for b in &room[i + 1..] {
                        sum += self.times(*a, *b);
                    }
                }
                sum
            })
            .sum()
    }

    /// Pairs recorded.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair met yet.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// A round that ended: who was assigned to which room when it started.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PastRound {
    /// Its number in the main room.
    pub round: u32,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at: i64,
    /// When it ended.
    pub ended_at: i64,
    /// Each breakout room with its people.
    pub rooms: Vec<(crate::ids::RoomId, Vec<PersonId>)>,
}

impl Met {
    /// Who met in these rounds.
    pub fn of(rounds: &[PastRound]) -> Met {
        let mut met = Met::new();
        for round in rounds {
            met.record(round.rooms.iter().map(|(_, people)| people.as_slice()));
        }
        met
    }
}

/// How long a session lasts for the planner: rounds that ended longer ago than this do not count
/// as having met (the next workshop in the same room starts afresh).
pub const SESSION_MS: i64 = 12 * 3_600_000;

fn ordered(a: PersonId, b: PersonId) -> (PersonId, PersonId) {
    if a <= b { (a, b) } else { (b, a) }
}

/// What a plan must respect besides avoiding repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Each group shares one room.
    pub together: Vec<Vec<PersonId>>,
    /// No two people of a group share a room.
    pub apart: Vec<Vec<PersonId>>,
    /// Each person's value of the attribute to balance (people without one are not counted).
    pub attribute: HashMap<PersonId, String>,
}

/// A planned round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The people of each room, each room sorted; rooms in the order they were asked for.
    pub rooms: Vec<Vec<PersonId>>,
    /// Its repeats ([`Met::repeats`]).
    pub repeats: u32,
    /// How far the attribute is from even: over every room and value, how many people the room has
    /// beyond `⌈c/k⌉` or short of `⌊c/k⌋`. Zero when it is as even as it can be.
    pub imbalance: u32,
}

/// How far `rooms` are from spreading each value of `attribute` evenly (see [`Planned::imbalance`]).
pub fn imbalance(rooms: &[Vec<PersonId>], attribute: &HashMap<PersonId, String>) -> u32 {
    let k = rooms.len().max(1);
    let mut totals: HashMap<&str, usize> = HashMap::new();
    for v in rooms.iter().flatten().filter_map(|p| attribute.get(p)) {
        *totals.entry(v.as_str()).or_default() += 1;
    }
    let mut off = 0;
    for room in rooms {
        for (value, total) in &totals {
            let count = room
                .iter()
                .filter(|p| attribute.get(*p).map(String::as_str) == Some(*value))
                .count();
            let (low, high) = (total / k, total.div_ceil(k));
            off += count.saturating_sub(high) + low.saturating_sub(count);
        }
    }
    off as u32
}

/// How many rooms for `people` when rooms hold at most `size`: as few as keep every room within
/// it.
pub fn rooms_for_size(people: usize, size: usize) -> usize {
    people.div_ceil(size.max(1)).max(1)
}

/// Plans the next round of `people` in `rooms` rooms. Refused (naming the problem) when a
/// constraint names someone who is not among the people, when someone is both kept together with
/// and kept apart from someone, or when the `apart` groups cannot be kept in this many rooms.
pub fn plan(
    people: &[PersonId],
    rooms: usize,
    met: &Met,
    constraints: &Constraints,
    seed: u64,
) -> Result<Planned, DomainError> {
    let mut search = Search::new(people, rooms, met, constraints, seed)?;
    search.start()?;
    search.improve();
    Ok(search.planned(people))
}

/// The greedy start alone: the baseline [`plan`] is measured against.
pub fn greedy(
    people: &[PersonId],
    rooms: usize,
    met: &Met,
    constraints: &Constraints,
    seed: u64,
) -> Result<Planned, DomainError> {
    let mut search = Search::new(people, rooms, met, constraints, seed)?;
    search.start()?;
    Ok(search.planned(people))
}

/// Rounds shared by pairs of person indices. The search looks pairs up millions of times, so the
/// key is one `u64` hashed with one multiplication rather than SipHash.
type PairMap = HashMap<u64, u32, std::hash::BuildHasherDefault<PairHasher>>;

fn pair_key(a: usize, b: usize) -> u64 {
    ((a.min(b) as u64) << 32) | a.max(b) as u64
}

/// Fibonacci hashing of a `u64` key: enough to spread pair keys, which an attacker cannot choose
/// (they are indices into the people of one plan).
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A repeat costs 1; one person of imbalance costs more than any number of repeats can.
const IMBALANCE_WEIGHT: u64 = 1 << 32;

/// The working state: people as indices, groups ("units") as the things placed and swapped.
struct Search {
    rooms: usize,
    /// Members of each unit (a `together` group, or one person).
    units: Vec<Vec<usize>>,
    /// Units that may not share a room with each unit.
    conflicts: Vec<HashSet<usize>>,
    /// Rounds shared, by pair of person indices ([`pair_key`]).
    met: PairMap,
    /// The same, by person: who they met and how often.
    partners: Vec<Vec<(usize, u32)>>,
    /// Where each person is (`usize::MAX`: not placed yet).
    person_room: Vec<usize>,
    /// Each person's attribute value, as an index into the values.
    value: Vec<Option<usize>>,
    /// People with each value.
    value_total: Vec<usize>,
    /// Where each unit is.
    room_of: Vec<usize>,
    /// Units in each room.
    in_room: Vec<Vec<usize>>,
    /// People in each room.
    size: Vec<usize>,
    /// People of each value in each room.
    counts: Vec<Vec<usize>>,
    rng: rand::rngs::StdRng,
}

impl Search {
    fn new(
        people: &[PersonId],
        rooms: usize,
        met: &Met,
        constraints: &Constraints,
        seed: u64,
    ) -> Result<Search, DomainError> {
        if rooms == 0 {
            return Err(DomainError::invalid("rooms", "must be at least 1"));
        }
        let index: HashMap<PersonId, usize> =
            people.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        if index.len() != people.len() {
            return Err(DomainError::invalid("people", "lists someone twice"));
        }
        let known = |field: &'static str, p: &PersonId| {
            index.get(p).copied().ok_or_else(|| {
                DomainError::invalid(field, format!("{p} is not among the people to place"))
            })
        };
        // Together groups, merged where they share someone.
        let mut leader: Vec<usize> = (0..people.len()).collect();
        fn root(leader: &mut [usize], mut i: usize) -> usize {
            while leader[i] != i {
                leader[i] = leader[leader[i]];
                i = leader[i];
            }
            i
        }
        for group in &constraints.together {
            let ids = group
                .iter()
                .map(|p| known("together", p))
                .collect::<Result<Vec<_>, _>>()?;
            for pair in ids.windows(2) {
                let (a, b) = (root(&mut leader, pair[0]), root(&mut leader, pair[1]));
                leader[a.max(b)] = a.min(b);
            }
        }
        let mut unit_of_leader: HashMap<usize, usize> = HashMap::new();
        let mut units: Vec<Vec<usize>> = Vec::new();
        let mut unit_of = vec![0; people.len()];
        for (person, slot) in unit_of.iter_mut().enumerate() {
            let r = root(&mut leader, person);
            let unit = *unit_of_leader.entry(r).or_insert_with(|| {
                units.push(Vec::new());
                units.len() - 1
            });
            units[unit].push(person);
            *slot = unit;
        }
        let mut conflicts = vec![HashSet::new(); units.len()];
        for group in &constraints.apart {
            let ids = group
                .iter()
                .map(|p| known("apart", p))
                .collect::<Result<Vec<_>, _>>()?;
            let distinct: HashSet<usize> = ids.iter().copied().collect();
            if distinct.len() > rooms {
                return Err(DomainError::invalid(
                    "apart",
                    format!(
                        "a group of {} people to keep apart needs at least {} rooms; there are {rooms}",
                        distinct.len(),
                        distinct.len()
                    ),
                ));
            }
            for (i, a) in ids.iter().enumerate() {
                for b in &ids[i + 1..] {
                    let (ua, ub) = (unit_of[*a], unit_of[*b]);
                    if a == b {
                        continue;
                    }
                    if ua == ub {
                        return Err(DomainError::invalid(
                            "apart",
                            format!(
                                "{} and {} are to be kept both together and apart",
                                people[*a], people[*b]
                            ),
                        ));
                    }
                    conflicts[ua].insert(ub);
                    conflicts[ub].insert(ua);
                }
            }
        }
        let mut met_index = PairMap::default();
        let mut partners = vec![Vec::new(); people.len()];
        for ((a, b), times) in &met.pairs {
            if let (Some(i), Some(j)) = (index.get(a), index.get(b)) {
                met_index.insert(pair_key(*i, *j), *times);
                partners[*i].push((*j, *times));
                partners[*j].push((*i, *times));
            }
        }
        let mut values: HashMap<&str, usize> = HashMap::new();
        let value: Vec<Option<usize>> = people
            .iter()
            .map(|p| {
                constraints.attribute.get(p).map(|v| {
                    let next = values.len();
                    *values.entry(v.as_str()).or_insert(next)
                })
            })
            .collect();
        let mut value_total = vec![0; values.len()];
        for v in value.iter().flatten() {
            value_total[*v] += 1;
        }
        Ok(Search {
            rooms,
            conflicts,
            met: met_index,
            partners,
            person_room: vec![usize::MAX; people.len()],
            counts: vec![vec![0; values.len()]; rooms],
            value,
            value_total,
            room_of: vec![usize::MAX; units.len()],
            in_room: vec![Vec::new(); rooms],
            size: vec![0; rooms],
            units,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        })
    }

    fn times(&self, a: usize, b: usize) -> u32 {
        if self.met.is_empty() {
            return 0;
        }
        self.met.get(&pair_key(a, b)).copied().unwrap_or(0)
    }

    /// Repeats between `unit` and the units of `room`, leaving out `skip`.
    fn repeats_with(&self, unit: usize, room: usize, skip: usize) -> u64 {
        if self.met.is_empty() {
            return 0;
        }
        let mut sum = 0;
        for other in &self.in_room[room] {
            if *other == unit || *other == skip {
                continue;
            }
            for a in &self.units[unit] {
                for b in &self.units[*other] {
                    sum += u64::from(self.times(*a, *b));
                }
            }
        }
        sum
    }

    /// Whether `unit` may join `room` if `skip` leaves it.
    fn allowed(&self, unit: usize, room: usize, skip: usize) -> bool {
        self.conflicts[unit].is_empty()
            || self.in_room[room]
                .iter()
                .all(|o| *o == skip || !self.conflicts[unit].contains(o))
    }

    /// Imbalance of one room's count of one value.
    fn off(&self, value: usize, count: usize) -> u64 {
        let total = self.value_total[value];
        let (low, high) = (total / self.rooms, total.div_ceil(self.rooms));
        (count.saturating_sub(high) + low.saturating_sub(count)) as u64
    }

    /// Values of a unit's members, with how many members hold each.
    fn unit_values(&self, unit: usize) -> Vec<(usize, usize)> {
        let mut found: Vec<(usize, usize)> = Vec::new();
        for p in &self.units[unit] {
            if let Some(v) = self.value[*p] {
                match found.iter_mut().find(|(x, _)| *x == v) {
                    Some((_, n)) => *n += 1,
                    None => found.push((v, 1)),
                }
            }
        }
        found
    }

    /// Change of imbalance when `out` leaves `room` and `into` joins it.
    fn imbalance_change(
        &self,
        room: usize,
        out: &[(usize, usize)],
        into: &[(usize, usize)],
    ) -> i64 {
        let mut change = 0i64;
        let mut seen: Vec<usize> = Vec::new();
        for (v, _) in out.iter().chain(into) {
            if seen.contains(v) {
                continue;
            }
            seen.push(*v);
            let before = self.counts[room][*v];
            let gone: usize = out.iter().filter(|(x, _)| x == v).map(|(_, n)| n).sum();
            let come: usize = into.iter().filter(|(x, _)| x == v).map(|(_, n)| n).sum();
            let after = before + come - gone;
            change += self.off(*v, after) as i64 - self.off(*v, before) as i64;
        }
        change
    }

    fn put(&mut self, unit: usize, room: usize) {
        for p in &self.units[unit] {
            self.person_room[*p] = room;
        }
        self.room_of[unit] = room;
        self.in_room[room].push(unit);
        self.size[room] += self.units[unit].len();
        for (v, n) in self.unit_values(unit) {
            self.counts[room][v] += n;
        }
    }

    fn take(&mut self, unit: usize) {
        let room = self.room_of[unit];
        self.in_room[room].retain(|u| *u != unit);
        self.size[room] -= self.units[unit].len();
        for (v, n) in self.unit_values(unit) {
            self.counts[room][v] -= n;
        }
    }

    /// The greedy start: units largest first (ties in random order), each into the smallest room
    /// it may join, the one where it adds the least among those.
    fn start(&mut self) -> Result<(), DomainError> {
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        order.shuffle(&mut self.rng);
        // Constrained units first: they have the fewest places to go.
        order.sort_by_key(|u| std::cmp::Reverse((self.units[*u].len(), self.conflicts[*u].len())));
        // Ties go to the first room in a random order drawn once: the units come in random order.
        let mut room_order: Vec<usize> = (0..self.rooms).collect();
        room_order.shuffle(&mut self.rng);
        for unit in order {
            let values = self.unit_values(unit);
            // What the unit would repeat in each room so far, from the people its members met.
            let mut repeats: HashMap<usize, i64> = HashMap::new();
            for p in &self.units[unit] {
                for (q, times) in &self.partners[*p] {
                    let room = self.person_room[*q];
                    if room != usize::MAX {
                        *repeats.entry(room).or_default() += i64::from(*times);
                    }
                }
            }
            // The smallest rooms first; only among those does what the unit adds count.
            let smallest = room_order
                .iter()
                .filter(|r| self.allowed(unit, **r, usize::MAX))
                .map(|r| self.size[*r])
                .min();
            let best = room_order
                .iter()
                .copied()
                .filter(|r| Some(self.size[*r]) == smallest && self.allowed(unit, *r, usize::MAX))
                .min_by_key(|r| {
                    repeats.get(r).copied().unwrap_or(0)
                        + self.imbalance_change(*r, &[], &values) * IMBALANCE_WEIGHT as i64
                });
            match best {
                Some(room) => self.put(unit, room),
                None => {
                    return Err(DomainError::invalid(
                        "apart",
                        format!(
                            "the groups to keep apart do not fit in {} rooms with these people",
                            self.rooms
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// What swapping units `a` and `b` (in different rooms) would change; `None` if a constraint
    /// forbids it.
    fn swap_change(&self, a: usize, b: usize) -> Option<i64> {
        let (ra, rb) = (self.room_of[a], self.room_of[b]);
        if !self.allowed(a, rb, b) || !self.allowed(b, ra, a) {
            return None;
        }
        let repeats = self.repeats_with(a, rb, b) as i64 + self.repeats_with(b, ra, a) as i64
            - self.repeats_with(a, ra, a) as i64
            - self.repeats_with(b, rb, b) as i64;
        let imbalance = if self.value_total.is_empty() {
            0
        } else {
            let (va, vb) = (self.unit_values(a), self.unit_values(b));
            self.imbalance_change(ra, &va, &vb) + self.imbalance_change(rb, &vb, &va)
        };
        Some(repeats + imbalance * IMBALANCE_WEIGHT as i64)
    }

    fn swap(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.room_of[a], self.room_of[b]);
        self.take(a);
        self.take(b);
        self.put(a, rb);
        self.put(b, ra);
    }

    fn cost(&self) -> u64 {
        let mut repeats = 0;
        for room in 0..self.rooms {
            for unit in &self.in_room[room] {
                repeats += self.repeats_with(*unit, room, usize::MAX);
            }
        }
        let mut imbalance = 0;
        for room in 0..self.rooms {
            for v in 0..self.value_total.len() {
                imbalance += self.off(v, self.counts[room][v]);
            }
        }
        // Pairs within a unit share every room it goes to: the same in every plan, but repeats.
        let mut within = 0;
        for members in &self.units {
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    within += u64::from(self.times(*a, *b));
                }
            }
        }
        repeats / 2 + within + imbalance * IMBALANCE_WEIGHT
    }

    /// Local search: swaps of same-size units between rooms that lower the cost, tried at random
    /// (sideways moves allowed); after a long run without progress, a few random swaps kick the
    /// plan out of its local optimum. The best plan seen is kept.
    fn improve(&mut self) {
        if self.rooms < 2 || self.units.len() < 2 {
            return;
        }
        // Units by size: only those of one size swap.
        let mut by_size: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (u, members) in self.units.iter().enumerate() {
            by_size.entry(members.len()).or_default().push(u);
        }
        let pools: Vec<Vec<usize>> = by_size.into_values().filter(|p| p.len() > 1).collect();
        if pools.is_empty() {
            return;
        }
        let people: usize = self.units.iter().map(Vec::len).sum();
        let budget = 20_000 + 200 * people;
        let patience = 500 + 20 * people;
        let mut cost = self.cost();
        let mut best = (cost, self.room_of.clone());
        let mut since_better = 0;
        for _ in 0..budget {
            if best.0 == 0 {
                break;
            }
            let pool = &pools[self.rng.random_range(0..pools.len())];
            let a = pool[self.rng.random_range(0..pool.len())];
            let b = pool[self.rng.random_range(0..pool.len())];
            if self.room_of[a] == self.room_of[b] {
                continue;
            }
            let Some(change) = self.swap_change(a, b) else {
                continue;
            };
            if change <= 0 {
                self.swap(a, b);
                cost = (cost as i64 + change) as u64;
            }
            if cost < best.0 {
                best = (cost, self.room_of.clone());
                since_better = 0;
            } else {
                since_better += 1;
            }
            if since_better > patience {
                // Kick: a few random allowed swaps, whatever they cost.
                for _ in 0..3 {
                    let pool = &pools[self.rng.random_range(0..pools.len())];
                    let a = pool[self.rng.random_range(0..pool.len())];
                    let b = pool[self.rng.random_range(0..pool.len())];
                    if self.room_of[a] != self.room_of[b]
                        && let Some(change) = self.swap_change(a, b)
                    {
                        self.swap(a, b);
                        cost = (cost as i64 + change) as u64;
                    }
                }
                since_better = 0;
            }
        }
        if best.1 != self.room_of {
            for unit in 0..self.units.len() {
                self.take(unit);
            }
            for (unit, room) in best.1.into_iter().enumerate() {
                self.put(unit, room);
            }
        }
    }

    fn planned(&self, people: &[PersonId]) -> Planned {
        let rooms: Vec<Vec<PersonId>> = self
            .in_room
            .iter()
            .map(|units| {
                let mut room: Vec<PersonId> = units
                    .iter()
                    .flat_map(|u| self.units[*u].iter().map(|p| people[*p]))
                    .collect();
                room.sort();
                room
            })
            .collect();
        let cost = self.cost();
        Planned {
            rooms,
            repeats: (cost % IMBALANCE_WEIGHT) as u32,
            imbalance: (cost / IMBALANCE_WEIGHT) as u32,
        }
    }
}

#[cfg(test)]
mod tests;
