//! The process-wide registry of named stores, so that every worker thread opening the same
//! name shares one store; a name opened after every holder let go starts empty.

use std::sync::Arc;

use optlayer_registry::{NamedRegistry, OpenError};

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::store::ByteCache;

static REGISTRY: NamedRegistry = NamedRegistry::new();

/// The store registered as `name`, created from `config` if the name is not open.
///
/// Errors with [`CacheError::ConfigMismatch`] when the name is open with another
/// configuration, and as [`ByteCache::new`] when the configuration is invalid.
pub fn named(name: &str, config: CacheConfig) -> Result<Arc<ByteCache>, CacheError> {
    REGISTRY
        .open(
            name,
            config,
            |open: &ByteCache, config| open.config() == config,
            ByteCache::new,
        )
        .map_err(|err| match err {
            OpenError::Mismatch => CacheError::ConfigMismatch {
                name: name.to_owned(),
            },
            OpenError::Create(err) => err,
        })
}
