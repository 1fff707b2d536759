//! The process-wide registry of named histograms, so that every worker thread opening the
//! same name records into one histogram.
//!
//! The registry holds weak references: a named histogram lives while someone holds it, and
//! a name opened after every holder let go starts empty.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::config::HistogramConfig;
use crate::error::StatsError;
use crate::histogram::LatencyHistogram;

/// Few names are open at once, so a list beats a map.
static REGISTRY: Mutex<Vec<(String, Weak<LatencyHistogram>)>> = Mutex::new(Vec::new());

/// The histogram registered as `name`, created from `config` if the name is not open.
///
/// Errors with [`StatsError::ConfigMismatch`] when the name is open with another
/// configuration, and as [`HistogramConfig::validate`] when `config` is invalid.
pub fn named(name: &str, config: HistogramConfig) -> Result<Arc<LatencyHistogram>, StatsError> {
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, histogram)| histogram.strong_count() > 0);
    if let Some(open) = registry
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, histogram)| histogram.upgrade())
    {
        return if *open.config() == config {
            Ok(open)
        } else {
            Err(StatsError::ConfigMismatch {
                name: name.to_owned(),
            })
        };
    }
    let histogram = Arc::new(LatencyHistogram::new(config)?);
    registry.push((name.to_owned(), Arc::downgrade(&histogram)));
    Ok(histogram)
}
