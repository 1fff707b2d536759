//! The weighted order in which pops prefer levels: smooth weighted round-robin (as nginx
//! balances upstreams), so a level's turns are spread evenly over the cycle instead of
//! bunched, and a Low task waits at most one cycle of pops while it is at the head.

use crate::config::LEVELS;

/// One cycle of preferred levels: level `i` appears `weights[i]` times.
#[derive(Debug)]
pub(crate) struct Schedule {
    order: Box<[u8]>,
}

impl Schedule {
    /// `weights` are validated (1 to `MAX_WEIGHT` each).
    pub(crate) fn new(weights: &[u32; LEVELS]) -> Self {
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let mut current = [0i64; LEVELS];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for level in 0..LEVELS {
                current[level] += i64::from(weights[level]);
                // Ties go to the more urgent level.
                if current[level] > current[best] {
                    best = level;
                }
            }
            current[best] -= total;
            order.push(best as u8);
        }
        Schedule {
            order: order.into_boxed_slice(),
        }
    }

    /// The level that pop number `ticket` serves first.
    #[inline]
    pub(crate) fn preferred(&self, ticket: usize) -> usize {
        usize::from(self.order[ticket % self.order.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_gets_its_weight_per_cycle_spread_out() {
        let schedule = Schedule::new(&[8, 4, 2, 1]);
        let cycle: Vec<usize> = (0..15).map(|t| schedule.preferred(t)).collect();
        for (level, weight) in [8, 4, 2, 1].into_iter().enumerate() {
            assert_eq!(cycle.iter().filter(|&&l| l == level).count(), weight);
        }
        // Critical never waits two turns in a row.
        assert!(cycle.windows(2).all(|w| w.contains(&0)), "{cycle:?}");
        assert_eq!(schedule.preferred(15), cycle[0], "the cycle repeats");
    }

    #[test]
    fn equal_weights_alternate() {
        let schedule = Schedule::new(&[1, 1, 1, 1]);
        let cycle: Vec<usize> = (0..4).map(|t| schedule.preferred(t)).collect();
        assert_eq!(cycle, [0, 1, 2, 3]);
    }
}
