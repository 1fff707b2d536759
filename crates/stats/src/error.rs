use std::fmt;

/// Why a histogram could not be built, opened or decoded. Each variant maps to one stable
/// code string, which the binding exposes as `error.code` in JavaScript. Recording never
/// fails: bad values are counted instead (see [`crate::Recorded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsError {
    /// A configuration value is out of range; the message says what was expected.
    InvalidArgument {
        /// The option at fault (`lowest_discernible`, `significant_figures`, ...).
        name: &'static str,
        /// What the option accepts.
        expected: &'static str,
        /// The value that was given.
        got: String,
    },
    /// A named histogram is already open with another configuration.
    ConfigMismatch {
        /// The name of the histogram.
        name: String,
    },
    /// Serialized input is truncated, of another format or describes an unacceptable
    /// histogram.
    CorruptInput {
        /// What is wrong with it.
        reason: String,
    },
}

impl StatsError {
    /// The stable code of this error, shared with the TypeScript layer.
    pub fn code(&self) -> &'static str {
        match self {
            StatsError::InvalidArgument { .. } => "ERR_OPTLAYER_INVALID_ARGUMENT",
            StatsError::ConfigMismatch { .. } => "ERR_OPTLAYER_CONFIG_MISMATCH",
            StatsError::CorruptInput { .. } => "ERR_OPTLAYER_CORRUPT_INPUT",
        }
    }

    pub(crate) fn invalid(
        name: &'static str,
        expected: &'static str,
        got: impl fmt::Display,
    ) -> Self {
        StatsError::InvalidArgument {
            name,
            expected,
            got: got.to_string(),
        }
    }

    pub(crate) fn corrupt(reason: impl fmt::Display) -> Self {
        StatsError::CorruptInput {
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::InvalidArgument {
                name,
                expected,
                got,
            } => write!(f, "invalid {name}: expected {expected}, got {got}"),
            StatsError::ConfigMismatch { name } => write!(
                f,
                "histogram '{name}' is already open with another configuration (open it with the same options, or use another name)"
            ),
            StatsError::CorruptInput { reason } => {
                write!(f, "corrupt histogram data: {reason}")
            }
        }
    }
}

impl std::error::Error for StatsError {}
