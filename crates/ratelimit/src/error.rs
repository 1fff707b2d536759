use std::fmt;

/// Why a limiter call or a limiter's construction failed. Each variant maps to one stable
/// code string, which the binding exposes as `error.code` in JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// A configuration value is out of range; the message says what was expected.
    InvalidArgument {
        /// The option at fault (`limit`, `window`, `burst`, `shards`, ...).
        name: &'static str,
        /// What the option accepts.
        expected: &'static str,
        /// The value that was given.
        got: String,
    },
    /// A key is empty or longer than the store's `max_key_len`.
    InvalidKey {
        /// The length of the key, in bytes.
        len: usize,
        /// The longest key the store accepts.
        max: usize,
    },
    /// A request costs more than the limiter can ever admit at once. It is an error, not a
    /// denial, because waiting would never help.
    CostExceedsCapacity {
        /// The cost of the request.
        cost: u64,
        /// The most the limiter admits at once (its burst).
        capacity: u64,
    },
    /// A named limiter is already open with another algorithm or configuration.
    ConfigMismatch {
        /// The name of the limiter.
        name: String,
    },
}

impl LimitError {
    /// The stable code of this error, shared with the TypeScript layer.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::InvalidArgument { .. } | LimitError::InvalidKey { .. } => {
                "ERR_OPTLAYER_INVALID_ARGUMENT"
            }
            LimitError::CostExceedsCapacity { .. } => "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY",
            LimitError::ConfigMismatch { .. } => "ERR_OPTLAYER_CONFIG_MISMATCH",
        }
    }

    pub(crate) fn invalid(
        name: &'static str,
        expected: &'static str,
        got: impl fmt::Display,
    ) -> Self {
        LimitError::InvalidArgument {
            name,
            expected,
            got: got.to_string(),
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::InvalidArgument { name, expected, got } => {
                write!(f, "invalid {name}: expected {expected}, got {got}")
            }
            LimitError::InvalidKey { len: 0, .. } => write!(f, "invalid key: expected a non-empty key"),
            LimitError::InvalidKey { len, max } => {
                write!(f, "invalid key: expected at most {max} bytes, got {len} bytes (raise maxKeyLength to accept it)")
            }
            LimitError::CostExceedsCapacity { cost, capacity } => write!(
                f,
                "a request of cost {cost} can never be admitted: the limiter holds at most {capacity} (raise burst or lower the cost)"
            ),
            LimitError::ConfigMismatch { name } => write!(
                f,
                "limiter '{name}' is already open with another algorithm or configuration (open it with the same options, or use another name)"
            ),
        }
    }
}

impl std::error::Error for LimitError {}
