//! The process-wide registry of named queues, so that every worker thread opening the same
//! name shares one queue. It holds weak references: a named queue lives while someone holds
//! it, and a name opened after every holder let go starts afresh (and empty).

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::queue::PriorityQueue;

/// Few names are open at once, so a list beats a map.
static REGISTRY: Mutex<Vec<(String, Weak<PriorityQueue>)>> = Mutex::new(Vec::new());

/// The queue registered as `name`, created from `config` if the name is not open; fails with
/// [`QueueError::ConfigMismatch`] when it is open with another configuration.
pub fn named(name: &str, config: QueueConfig) -> Result<Arc<PriorityQueue>, QueueError> {
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, queue)| queue.strong_count() > 0);
    if let Some(open) = registry
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, queue)| queue.upgrade())
    {
        return if *open.config() == config {
            Ok(open)
        } else {
            Err(QueueError::ConfigMismatch {
                name: name.to_owned(),
            })
        };
    }
    let queue = Arc::new(PriorityQueue::new(config)?);
    registry.push((name.to_owned(), Arc::downgrade(&queue)));
    Ok(queue)
}
