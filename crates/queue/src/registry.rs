//! The process-wide registry of named queues, so that every worker thread opening the same
//! name shares one queue; a name opened after every holder let go starts afresh (and empty).

use std::sync::Arc;

use optlayer_registry::{NamedRegistry, OpenError};

use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::queue::PriorityQueue;

static REGISTRY: NamedRegistry = NamedRegistry::new();

/// The queue registered as `name`, created from `config` if the name is not open; fails with
/// [`QueueError::ConfigMismatch`] when it is open with another configuration.
pub fn named(name: &str, config: QueueConfig) -> Result<Arc<PriorityQueue>, QueueError> {
    REGISTRY
        .open(
            name,
            config,
            |open: &PriorityQueue, config| open.config() == config,
            PriorityQueue::new,
        )
        .map_err(|err| match err {
            OpenError::Mismatch => QueueError::ConfigMismatch {
                name: name.to_owned(),
            },
            OpenError::Create(err) => err,
        })
}
