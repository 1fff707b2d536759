//! The process-wide registry of named limiters, so that every worker thread opening the
//! same name shares one store.
//!
//! The registry holds weak references: a named limiter lives while someone holds it, and
//! a name opened after every holder let go starts afresh.

use std::any::Any;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::algorithm::Algorithm;
use crate::config::StoreConfig;
use crate::error::LimitError;
use crate::keyed::KeyedLimiter;

type Entry = (String, Weak<dyn Any + Send + Sync>);

/// Few names are open at once, so a list beats a map.
static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The limiter registered as `name`, created from `algorithm` and `config` if the name is
/// not open.
///
/// Errors with [`LimitError::ConfigMismatch`] when the name is open with another
/// algorithm type, quota or store configuration, and as [`KeyedLimiter::new`] when the
/// configuration is invalid.
pub fn named<A>(
    name: &str,
    algorithm: A,
    config: StoreConfig,
) -> Result<Arc<KeyedLimiter<A>>, LimitError>
where
    A: Algorithm + PartialEq,
{
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, limiter)| limiter.strong_count() > 0);
    if let Some(open) = registry
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, limiter)| limiter.upgrade())
    {
        return open
            .downcast::<KeyedLimiter<A>>()
            .ok()
            .filter(|open| *open.algorithm() == algorithm && *open.config() == config)
            .ok_or_else(|| LimitError::ConfigMismatch {
                name: name.to_owned(),
            });
    }
    let limiter = Arc::new(KeyedLimiter::new(algorithm, config)?);
    let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(&limiter) as Weak<KeyedLimiter<A>>;
    registry.push((name.to_owned(), weak));
    Ok(limiter)
}
