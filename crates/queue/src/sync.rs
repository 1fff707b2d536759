//! The synchronisation primitives of the queue, swapped for loom's under `--cfg loom` so the
//! model checks in `tests/loom.rs` explore every interleaving of the admission protocol.
//! crossbeam's queues are not loom-instrumented, so under loom a level is a locked deque:
//! the model checks the counters and wake-ups around the levels, not the levels themselves.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use std::time::Instant;

/// One priority level: a FIFO of ids.
#[derive(Default)]
pub(crate) struct Level {
    #[cfg(not(loom))]
    ids: crossbeam_queue::SegQueue<u64>,
    #[cfg(loom)]
    ids: loom::sync::Mutex<std::collections::VecDeque<u64>>,
}

#[cfg(not(loom))]
impl Level {
    #[inline]
    pub(crate) fn push(&self, id: u64) {
        self.ids.push(id);
    }

    #[inline]
    pub(crate) fn pop(&self) -> Option<u64> {
        self.ids.pop()
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(loom)]
impl Level {
    pub(crate) fn push(&self, id: u64) {
        self.ids.lock().expect("unpoisoned").push_back(id);
    }

    pub(crate) fn pop(&self) -> Option<u64> {
        self.ids.lock().expect("unpoisoned").pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.lock().expect("unpoisoned").len()
    }
}

/// Where pushes wait for room under `WhenFull::Wait`. The queue flags waiting in its
/// admission counter itself, so pops take this lock only while someone waits.
#[derive(Default)]
pub(crate) struct Room {
    #[cfg(not(loom))]
    lock: parking_lot::Mutex<()>,
    #[cfg(not(loom))]
    freed: parking_lot::Condvar,
    #[cfg(loom)]
    lock: loom::sync::Mutex<()>,
    #[cfg(loom)]
    freed: loom::sync::Condvar,
}

impl Room {
    /// Runs `try_take` under the lock until it succeeds or `deadline` passes (loom: no
    /// deadline, it models the wake-ups only). Returns whether it succeeded.
    #[cfg(not(loom))]
    pub(crate) fn wait_for(&self, deadline: Instant, mut try_take: impl FnMut() -> bool) -> bool {
        let mut guard = self.lock.lock();
        loop {
            if try_take() {
                return true;
            }
            if self.freed.wait_until(&mut guard, deadline).timed_out() {
                return try_take();
            }
        }
    }

    #[cfg(loom)]
    pub(crate) fn wait_for(&self, _deadline: Instant, mut try_take: impl FnMut() -> bool) -> bool {
        let mut guard = self.lock.lock().expect("unpoisoned");
        loop {
            if try_take() {
                return true;
            }
            guard = self.freed.wait(guard).expect("unpoisoned");
        }
    }

    /// Wakes every waiting push after a pop freed a slot. Taking the lock orders the wake-up
    /// after any waiter's failed `try_take`, so none sleeps through it.
    pub(crate) fn notify(&self) {
        #[cfg(not(loom))]
        let _guard = self.lock.lock();
        #[cfg(loom)]
        let _guard = self.lock.lock().expect("unpoisoned");
        self.freed.notify_all();
    }
}
