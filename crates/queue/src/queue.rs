//! The queue: lock-free levels behind one admission counter.

use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::config::{QueueConfig, WhenFull, LEVELS};
use crate::error::QueueError;
use crate::schedule::Schedule;
use crate::sync::{AtomicU64, AtomicUsize, Level, Ordering, Room};

/// Flag in `len`: a push waits for room. Kept in the counter itself, not beside it, so a
/// pop's decrement and a waiter's announcement are ordered on one location: a waiter either
/// sees the room a pop made or the pop sees the flag (a separate flag needs SeqCst fences).
const WAITING: usize = 1 << (usize::BITS - 1);

/// A bounded multi-level priority queue of ids, safe to share between threads (see the
/// crate docs for the scheduling policy).
pub struct PriorityQueue {
    levels: [Level; LEVELS],
    /// Ids admitted and not yet popped (never above `config.capacity`), plus the [`WAITING`]
    /// flag. A push reserves its slot here before the id reaches a level, so for a moment an
    /// id may be counted and not yet poppable (a concurrent pop then reports empty, as if it
    /// ran a moment earlier).
    len: CachePadded<AtomicUsize>,
    /// Pops so far: each pop's position in the weighted schedule.
    ticket: CachePadded<AtomicUsize>,
    /// Pushes refused for want of room.
    rejected: AtomicU64,
    room: Room,
    schedule: Schedule,
    config: QueueConfig,
}

/// Counters of a queue, read on scrapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Ids queued now.
    pub len: usize,
    /// Ids queued now per level (each read separately, so their sum may differ from `len`
    /// by pushes and pops in flight).
    pub levels: [usize; LEVELS],
    /// Pushes refused because the queue was full.
    pub rejected: u64,
}

impl PriorityQueue {
    /// An empty queue, or [`QueueError::InvalidConfig`].
    pub fn new(config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        Ok(PriorityQueue {
            levels: Default::default(),
            len: CachePadded::new(AtomicUsize::new(0)),
            ticket: CachePadded::new(AtomicUsize::new(0)),
            rejected: AtomicU64::new(0),
            room: Room::default(),
            schedule: Schedule::new(&config.weights),
            config,
        })
    }

    /// The configuration in effect.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Queues `id` at `level` (0 most urgent), applying [`QueueConfig::when_full`] when full.
    pub fn push(&self, id: u64, level: usize) -> Result<(), QueueError> {
        match self.config.when_full {
            WhenFull::Reject => self.try_push(id, level),
            WhenFull::Wait(timeout) => self.push_until(id, level, Instant::now() + timeout),
        }
    }

    /// Queues `id` at `level`, or fails at once with [`QueueError::Full`].
    #[inline]
    pub fn try_push(&self, id: u64, level: usize) -> Result<(), QueueError> {
        let target = self.level(level)?;
        if !self.reserve() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(self.full(id));
        }
        target.push(id);
        Ok(())
    }

    /// Queues `id` at `level`, waiting for room until `deadline`.
    pub fn push_until(&self, id: u64, level: usize, deadline: Instant) -> Result<(), QueueError> {
        let target = self.level(level)?;
        let announce_and_reserve = || {
            let len = self.len.fetch_or(WAITING, Ordering::AcqRel) | WAITING;
            self.reserve_from(len)
        };
        if self.reserve() || self.room.wait_for(deadline, announce_and_reserve) {
            target.push(id);
            return Ok(());
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        Err(self.full(id))
    }

    /// The next id by the weighted schedule, or `None` when nothing is queued.
    #[inline]
    pub fn pop(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let preferred = self
            .schedule
            .preferred(self.ticket.fetch_add(1, Ordering::Relaxed));
        let id = self.levels[preferred]
            .pop()
            .or_else(|| self.levels.iter().find_map(Level::pop))?;
        if self.len.fetch_sub(1, Ordering::AcqRel) & WAITING != 0 {
            // Waiters set the flag again if they still find no room.
            self.len.fetch_and(!WAITING, Ordering::AcqRel);
            self.room.notify();
        }
        Some(id)
    }

    /// Ids queued now.
    #[inline]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire) & !WAITING
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids queued now at `level` (0 for a level out of range).
    pub fn level_len(&self, level: usize) -> usize {
        self.levels.get(level).map_or(0, Level::len)
    }

    /// The counters.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            len: self.len(),
            levels: std::array::from_fn(|level| self.level_len(level)),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    fn level(&self, level: usize) -> Result<&Level, QueueError> {
        self.levels
            .get(level)
            .ok_or(QueueError::InvalidLevel { level })
    }

    /// Takes a slot if one is free.
    #[inline]
    fn reserve(&self) -> bool {
        self.reserve_from(self.len.load(Ordering::Acquire))
    }

    /// Takes a slot if one is free, starting from `len` as last read.
    fn reserve_from(&self, mut len: usize) -> bool {
        loop {
            if len & !WAITING >= self.config.capacity {
                return false;
            }
            match self
                .len
                .compare_exchange_weak(len, len + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => len = now,
            }
        }
    }

    fn full(&self, id: u64) -> QueueError {
        QueueError::Full {
            id,
            capacity: self.config.capacity,
        }
    }
}

impl std::fmt::Debug for PriorityQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityQueue")
            .field("stats", &self.stats())
            .field("config", &self.config)
            .finish()
    }
}
