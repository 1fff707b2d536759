//! The errors of the queue, each with a stable code shared with the TypeScript layer.

use std::fmt;

/// What can go wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The queue holds `capacity` ids (after waiting, under [`WhenFull::Wait`](crate::WhenFull));
    /// the id is handed back.
    Full { id: u64, capacity: usize },
    /// A level outside `0..LEVELS`.
    InvalidLevel { level: usize },
    /// A configuration out of range; the message says which field and why.
    InvalidConfig(String),
    /// [`named`](crate::named) found the name open with another configuration.
    ConfigMismatch { name: String },
}

impl QueueError {
    /// The stable code, as thrown to JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::Full { .. } => "ERR_OPTLAYER_QUEUE_FULL",
            QueueError::InvalidLevel { .. } | QueueError::InvalidConfig(_) => {
                "ERR_OPTLAYER_INVALID_ARGUMENT"
            }
            QueueError::ConfigMismatch { .. } => "ERR_OPTLAYER_CONFIG_MISMATCH",
        }
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full { id, capacity } => {
                write!(
                    f,
                    "queue full: {capacity} tasks pending, task {id} not admitted"
                )
            }
            QueueError::InvalidLevel { level } => write!(
                f,
                "invalid priority: expected 0 to {}, got {level}",
                crate::LEVELS - 1
            ),
            QueueError::InvalidConfig(message) => write!(f, "invalid queue option {message}"),
            QueueError::ConfigMismatch { name } => write!(
                f,
                "queue {name:?} is already open with another configuration"
            ),
        }
    }
}

impl std::error::Error for QueueError {}
