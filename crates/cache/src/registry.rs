//! The process-wide registry of named stores, so that every worker thread opening the same
//! name shares one store.
//!
//! The registry holds weak references: a named store lives while someone holds it, and a
//! name opened after every holder let go starts empty.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::store::ByteCache;

/// Few names are open at once, so a list beats a map.
static REGISTRY: Mutex<Vec<(String, Weak<ByteCache>)>> = Mutex::new(Vec::new());

/// The store registered as `name`, created from `config` if the name is not open.
///
/// Errors with [`CacheError::ConfigMismatch`] when the name is open with another
/// configuration, and as [`ByteCache::new`] when the configuration is invalid.
pub fn named(name: &str, config: CacheConfig) -> Result<Arc<ByteCache>, CacheError> {
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, store)| store.strong_count() > 0);
    if let Some(open) = registry
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, store)| store.upgrade())
    {
        return if *open.config() == config {
            Ok(open)
        } else {
            Err(CacheError::ConfigMismatch {
                name: name.to_owned(),
            })
        };
    }
    let store = Arc::new(ByteCache::new(config)?);
    registry.push((name.to_owned(), Arc::downgrade(&store)));
    Ok(store)
}
