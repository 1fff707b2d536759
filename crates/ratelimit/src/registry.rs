//! The process-wide registry of named limiters, so that every worker thread opening the
//! same name shares one store; a name opened after every holder let go starts afresh.

use std::sync::Arc;

use optlayer_registry::{NamedRegistry, OpenError};

use crate::algorithm::Algorithm;
use crate::config::StoreConfig;
use crate::error::LimitError;
use crate::keyed::KeyedLimiter;

static REGISTRY: NamedRegistry = NamedRegistry::new();

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
    let same = |open: &KeyedLimiter<A>, (algorithm, config): &(A, StoreConfig)| {
        open.algorithm() == algorithm && open.config() == config
    };
    REGISTRY
        .open(name, (algorithm, config), same, |(algorithm, config)| {
            KeyedLimiter::new(algorithm, config)
        })
        .map_err(|err| match err {
            OpenError::Mismatch => LimitError::ConfigMismatch {
                name: name.to_owned(),
            },
            OpenError::Create(err) => err,
        })
}
