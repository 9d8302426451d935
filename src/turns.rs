//! Queues taken in turns: one first-come queue per key (a main room), and [`Turns::pop`] takes
//! the next item of each key that has some, one key after the other. A key with a thousand
//! items waiting holds back another key's first item by one item, not a thousand.
//!
//! Used by the way into the media thread (`media::queue`) and by the composing of recordings
//! (`recording`), both keyed by main room.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Items waiting per key, taken one key at a time.
#[derive(Debug)]
pub struct Turns<K, T> {
    queues: HashMap<K, VecDeque<T>>,
    /// Keys with waiting items, in the order they take their turns.
    order: VecDeque<K>,
}

impl<K, T> Default for Turns<K, T> {
    fn default() -> Self {
        Turns {
            queues: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Copy + Eq + Hash, T> Turns<K, T> {
    /// Queues `item` last of `key`'s; a key with nothing waiting takes its turn after the others.
    pub fn push(&mut self, key: K, item: T) {
        let queue = self.queues.entry(key).or_default();
        // A queue emptied in place may still hold its turn.
        if queue.is_empty() && !self.order.contains(&key) {
            self.order.push_back(key);
        }
        queue.push_back(item);
    }

    /// The first item of the key whose turn it is; that key's next item waits for the others'.
    pub fn pop(&mut self) -> Option<(K, T)> {
        while let Some(key) = self.order.pop_front() {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let Some(item) = queue.pop_front() else {
                self.queues.remove(&key);
                continue;
            };
            if queue.is_empty() {
                self.queues.remove(&key);
            } else {
                self.order.push_back(key);
            }
            return Some((key, item));
        }
        None
    }

    /// What waits for `key`, to change in place (a queue emptied here loses its turn when the
    /// turn comes).
    pub fn waiting_mut(&mut self, key: &K) -> Option<&mut VecDeque<T>> {
        self.queues.get_mut(key)
    }

    /// Removes and returns the items for which `drop` says so, keeping the others' order.
    pub fn remove_where(&mut self, mut drop: impl FnMut(&K, &T) -> bool) -> Vec<T> {
        let mut removed = Vec::new();
        for (key, queue) in &mut self.queues {
            let mut kept = VecDeque::with_capacity(queue.len());
            for item in queue.drain(..) {
                if drop(key, &item) {
                    removed.push(item);
                } else {
                    kept.push_back(item);
                }
            }
            *queue = kept;
        }
        self.queues.retain(|_, q| !q.is_empty());
        self.order.retain(|k| self.queues.contains_key(k));
        removed
    }

    /// Whether some key still has a turn to take.
    pub fn has_turns(&self) -> bool {
        !self.order.is_empty()
    }

    /// Every waiting item.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &T)> {
        self.queues
            .iter()
            .flat_map(|(k, q)| q.iter().map(move |t| (k, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_turns_and_each_keeps_its_order() {
        let mut turns = Turns::default();
        for i in 0..5 {
            turns.push('a', i);
        }
        turns.push('b', 10);
        turns.push('c', 20);
        turns.push('b', 11);
        let order: Vec<_> = std::iter::from_fn(|| turns.pop()).collect();
        assert_eq!(
            order,
            [
                ('a', 0),
                ('b', 10),
                ('c', 20),
                ('a', 1),
                ('b', 11),
                ('a', 2),
                ('a', 3),
                ('a', 4)
            ]
        );
        assert!(!turns.has_turns());
    }

    #[test]
    fn removed_items_leave_the_rest_in_turn() {
        let mut turns = Turns::default();
        for i in 0..3 {
            turns.push('a', i);
            turns.push('b', 10 + i);
        }
        let removed = turns.remove_where(|k, i| *k == 'b' || *i == 1);
        assert_eq!(removed.len(), 4);
        assert_eq!(turns.iter().count(), 2);
        assert_eq!(turns.pop(), Some(('a', 0)));
        assert_eq!(turns.pop(), Some(('a', 2)));
        assert_eq!(turns.pop(), None);
        // A queue emptied in place loses its turn quietly.
        turns.push('c', 1);
        turns.push('d', 2);
        turns.waiting_mut(&'c').unwrap().clear();
        assert_eq!(turns.pop(), Some(('d', 2)));
        assert_eq!(turns.pop(), None);
    }
}
