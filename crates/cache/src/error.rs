use std::fmt;

/// Why a cache, filter or ring call (or construction) failed. Each variant maps to one
/// stable code string, which the binding exposes as `error.code` in JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// A configuration value or argument is out of range; the message says what was
    /// expected.
    InvalidArgument {
        /// The option or argument at fault (`max_bytes`, `shards`, `ttl`, ...).
        name: &'static str,
        /// What it accepts.
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
    /// An entry costs more than one shard of the store can hold (see
    /// [`crate::ByteCache::max_entry_cost`]). Any older value of the key was removed, so a
    /// reader never sees a stale value after a failed write.
    EntryTooLarge {
        /// The entry's cost: key + value + [`crate::ENTRY_OVERHEAD`].
        cost: u64,
        /// The largest cost the store accepts.
        max: u64,
    },
    /// A named store is already open with other options.
    ConfigMismatch {
        /// The name of the store.
        name: String,
    },
}

impl CacheError {
    /// The stable code of this error, shared with the TypeScript layer.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::InvalidArgument { .. } | CacheError::InvalidKey { .. } => {
                "ERR_OPTLAYER_INVALID_ARGUMENT"
            }
            CacheError::EntryTooLarge { .. } => "ERR_OPTLAYER_VALUE_TOO_LARGE",
            CacheError::ConfigMismatch { .. } => "ERR_OPTLAYER_CONFIG_MISMATCH",
        }
    }

    pub(crate) fn invalid(
        name: &'static str,
        expected: &'static str,
        got: impl fmt::Display,
    ) -> Self {
        CacheError::InvalidArgument {
            name,
            expected,
            got: got.to_string(),
        }
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::InvalidArgument { name, expected, got } => {
                write!(f, "invalid {name}: expected {expected}, got {got}")
            }
            CacheError::InvalidKey { len: 0, .. } => {
                write!(f, "invalid key: expected a non-empty key")
            }
            CacheError::InvalidKey { len, max } => write!(
                f,
                "invalid key: expected at most {max} bytes, got {len} bytes (raise maxKeyLength to accept it)"
            ),
            CacheError::EntryTooLarge { cost, max } => write!(
                f,
                "entry too large: expected a cost (key + value + overhead) of at most {max} bytes, got {cost} bytes (raise maxBytes or lower shards to accept it)"
            ),
            CacheError::ConfigMismatch { name } => write!(
                f,
                "cache '{name}' is already open with other options (open it with the same options, or use another name)"
            ),
        }
    }
}

impl std::error::Error for CacheError {}
