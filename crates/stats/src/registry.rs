//! The process-wide registry of named histograms, so that every worker thread opening the
//! same name records into one histogram; a name opened after every holder let go starts empty.

use std::sync::Arc;

use optlayer_registry::{NamedRegistry, OpenError};

use crate::config::HistogramConfig;
use crate::error::StatsError;
use crate::histogram::LatencyHistogram;

static REGISTRY: NamedRegistry = NamedRegistry::new();

/// The histogram registered as `name`, created from `config` if the name is not open.
///
/// Errors with [`StatsError::ConfigMismatch`] when the name is open with another
/// configuration, and as [`HistogramConfig::validate`] when `config` is invalid.
pub fn named(name: &str, config: HistogramConfig) -> Result<Arc<LatencyHistogram>, StatsError> {
    REGISTRY
        .open(
            name,
            config,
            |open: &LatencyHistogram, config| open.config() == config,
            LatencyHistogram::new,
        )
        .map_err(|err| match err {
            OpenError::Mismatch => StatsError::ConfigMismatch {
                name: name.to_owned(),
            },
            OpenError::Create(err) => err,
        })
}
