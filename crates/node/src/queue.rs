//! The priority queue of `optlayer-queue`: task ids and levels in, task ids out.
//!
//! Only numbers cross: the TypeScript layer keeps each task's record and hands the native
//! scheduler its id, since creating an object natively costs ~900 ns here against a ~30 ns
//! call taking or returning a number. The hot calls (`push`, `pop`, `len`) are raw
//! functions bound to a handle, as the rate limiter's decisions are (see `raw_call.rs`).

use std::cell::RefCell;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_queue::{named, PriorityQueue, QueueConfig, QueueError, WhenFull, LEVELS};

use crate::errors::Failure;
use crate::handles::{self, Handle, HandleTable};
use crate::raw_call::{self, raw_fn};

/// Options of a [`NativePriorityQueue`], validated by the TypeScript layer and again here.
#[napi(object)]
pub struct PriorityQueueOptions {
    /// Most ids queued at once.
    pub capacity: f64,
    /// Weight of each of the 4 levels in the dequeue schedule (most urgent first).
    pub weights: Vec<u32>,
    /// Threads of the process that open the same name share one queue.
    pub name: Option<String>,
}

/// The counters of a queue; read on scrapes, never on the hot path.
#[napi(object)]
pub struct PriorityQueueStats {
    pub len: f64,
    /// Ids queued per level, most urgent first.
    pub levels: Vec<f64>,
    pub rejected: f64,
}

thread_local! {
    /// The queues opened on this thread, addressed by the handle their raw functions carry.
    static QUEUES: RefCell<HandleTable<Arc<PriorityQueue>>> = RefCell::default();
}

/// A bounded priority queue of numeric task ids, shared by the worker_threads that open the
/// same name. Ids go through the functions of [`NativePriorityQueue::ops`]; the object owns
/// the queue's lifetime.
#[napi]
pub struct NativePriorityQueue {
    handle: Handle,
}

#[napi]
impl NativePriorityQueue {
    /// Opens a queue, or the one of `options.name` when a thread of this process has it open
    /// (with other options: `ERR_OPTLAYER_CONFIG_MISMATCH`).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: PriorityQueueOptions) -> Result<Self> {
        let weights = <[u32; LEVELS]>::try_from(options.weights.as_slice()).map_err(|_| {
            Failure::invalid_argument(format_args!(
                "invalid queue option weights: expected {LEVELS} weights, got {}",
                options.weights.len()
            ))
            .into_napi(&env)
        })?;
        let config = QueueConfig {
            // `as` saturates (NaN to 0), and validation rejects 0 and what is out of range.
            capacity: options.capacity as usize,
            weights,
            // Blocking would stall the JavaScript thread: the TypeScript layer waits instead.
            when_full: WhenFull::Reject,
        };
        let queue = match options.name.as_deref() {
            Some(name) => named(name, config),
            None => PriorityQueue::new(config).map(Arc::new),
        }
        .map_err(|e| Failure::from(e).into_napi(&env))?;
        let handle = QUEUES.with_borrow_mut(|table| table.insert(queue));
        let handle = handle.ok_or_else(|| handles::too_many("priority queues").into_napi(&env))?;
        Ok(NativePriorityQueue { handle })
    }

    /// The hot-path functions of this queue: `push(id, level)` queues a whole-number id
    /// (0 to 2^53 − 1) at level 0 (most urgent) to 3 and returns false when the queue is
    /// full; `pop()` returns the next id by the weighted schedule, or −1 when empty; `len()`
    /// counts the ids queued. Once closed they throw `ERR_OPTLAYER_CLOSED`.
    #[napi(
        catch_unwind,
        ts_return_type = "{ push(id: number, level: number): boolean; pop(): number; len(): number }"
    )]
    pub fn ops(&self, env: Env) -> Result<Object<'static>> {
        raw_call::bound_functions(
            &env,
            self.handle,
            &[("push", raw_push), ("pop", raw_pop), ("len", raw_len)],
        )
    }

    /// Queues the first `count` (id, level) pairs of `pairs` in order, as `push` would, and
    /// returns how many were admitted: the rest found the queue full. One call for a batch
    /// of submissions the caller staged in a reused array.
    #[napi(catch_unwind)]
    pub fn push_many(&self, env: Env, pairs: Float64ArraySlice, count: u32) -> Result<u32> {
        let pairs = pairs.as_ref();
        let count = (count as usize).min(pairs.len() / 2);
        with_queue(self.handle, |queue| {
            for (admitted, pair) in pairs.chunks_exact(2).take(count).enumerate() {
                let (id, level) = (checked_id(pair[0])?, checked_level(pair[1]));
                match queue.try_push(id, level) {
                    Ok(()) => {}
                    Err(QueueError::Full { .. }) => return Ok(admitted as u32),
                    Err(other) => return Err(Failure::from(other)),
                }
            }
            Ok(count as u32)
        })
        .and_then(|result| result)
        .map_err(|failure| failure.into_napi(&env))
    }

    /// The queue's counters (zero once closed).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> PriorityQueueStats {
        let stats = QUEUES
            .with_borrow(|table| table.get(self.handle).map(|q| q.stats()))
            .unwrap_or_default();
        PriorityQueueStats {
            len: stats.len as f64,
            levels: stats.levels.iter().map(|&n| n as f64).collect(),
            rejected: stats.rejected as f64,
        }
    }

    /// Lets go of the queue (a named queue lives on while other threads hold it); later
    /// calls through the functions of [`NativePriorityQueue::ops`] fail.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        close(self.handle);
    }
}

impl Drop for NativePriorityQueue {
    fn drop(&mut self) {
        close(self.handle);
    }
}

fn close(handle: Handle) {
    // The table may already be gone while a worker thread shuts down.
    let _ = QUEUES.try_with(|table| table.borrow_mut().remove(handle));
}

/// Runs `f` on the queue bound to `handle`, or fails with `ERR_OPTLAYER_CLOSED`.
fn with_queue<T>(
    handle: Handle,
    f: impl FnOnce(&PriorityQueue) -> T,
) -> std::result::Result<T, Failure> {
    QUEUES.with_borrow(|table| {
        table
            .get(handle)
            .map(|queue| f(queue))
            .ok_or_else(|| handles::closed("the priority queue"))
    })
}

/// Largest id: every whole number a JavaScript number holds exactly.
const MAX_ID: f64 = 9_007_199_254_740_991.0;

/// An id as a whole number from 0 to [`MAX_ID`].
fn checked_id(id: f64) -> std::result::Result<u64, Failure> {
    if id >= 0.0 && id.fract() == 0.0 && id <= MAX_ID {
        Ok(id as u64)
    } else {
        Err(Failure::invalid_argument(format_args!(
            "invalid id: expected a whole number from 0, got {id}"
        )))
    }
}

/// A level as an index; fractions and negatives become one out of range, which the queue
/// rejects with its own error.
fn checked_level(level: f64) -> usize {
    if level >= 0.0 && level.fract() == 0.0 {
        level as usize
    } else {
        usize::MAX
    }
}

raw_fn!(raw_push, 2, |env, [id, level], handle| {
    let id = checked_id(raw_call::number(env, id, "id")?)?;
    let level = checked_level(raw_call::number(env, level, "level")?);
    let admitted = with_queue(handle, |queue| match queue.try_push(id, level) {
        Ok(()) => Ok(true),
        Err(QueueError::Full { .. }) => Ok(false),
        Err(other) => Err(Failure::from(other)),
    })??;
    raw_call::boolean(env, admitted)
});

raw_fn!(raw_pop, 0, |env, [], handle| {
    let id = with_queue(handle, PriorityQueue::pop)?;
    raw_call::double(env, id.map_or(-1.0, |id| id as f64))
});

raw_fn!(raw_len, 0, |env, [], handle| {
    let len = with_queue(handle, PriorityQueue::len)?;
    raw_call::double(env, len as f64)
});
