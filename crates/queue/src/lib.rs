//! A bounded multi-level priority queue of task ids for optlayer: pure Rust, no Node.js
//! knowledge.
//!
//! # Scheduling
//!
//! [`LEVELS`] levels (0 = Critical, 1 = High, 2 = Normal, 3 = Low), each a lock-free FIFO
//! (crossbeam's `SegQueue`), so any number of threads push and pop without a lock. A pop
//! takes a ticket from a shared counter; the ticket picks a preferred level from a smooth
//! weighted round-robin [schedule](QueueConfig::weights), and the pop serves that level if it
//! holds anything, the most urgent non-empty level otherwise. With the default weights
//! `[8, 4, 2, 1]` a steady flood of Critical work still leaves a Low task one pop in 15: no
//! level starves, and a level's share never falls below `weight / sum(weights)` while it has
//! work.
//!
//! # Bounds and back-pressure
//!
//! At most [`QueueConfig::capacity`] ids are queued at once, counted across levels by one
//! admission counter that a push reserves before it enqueues. When full, a push either fails
//! at once with [`QueueError::Full`] (handing the id back) or waits for room up to a timeout
//! ([`WhenFull`]).
//!
//! # Sharing
//!
//! [`named`] hands every thread of a process that opens the same name the same queue.
//!
//! ```
//! use optlayer_queue::{PriorityQueue, QueueConfig};
//!
//! let queue = PriorityQueue::new(QueueConfig::default()).expect("valid config");
//! queue.push(7, 3).expect("room");
//! queue.push(9, 0).expect("room");
//! assert_eq!(queue.pop(), Some(9)); // Critical first
//! assert_eq!(queue.pop(), Some(7));
//! assert_eq!(queue.pop(), None);
//! ```
#![forbid(unsafe_code)]

mod config;
mod error;
mod queue;
mod registry;
mod schedule;
mod sync;

pub use config::{QueueConfig, WhenFull, LEVELS, MAX_CAPACITY, MAX_WEIGHT};
pub use error::QueueError;
pub use queue::{PriorityQueue, QueueStats};
pub use registry::named;
