use std::fmt;
use std::io;

/// What the front refuses or fails at.
#[derive(Debug)]
pub enum FrontError {
    /// An option out of range; the message names it.
    InvalidConfig(String),
    /// A published form that is not valid HTTP or does not fit the budget.
    InvalidForm(String),
    /// Binding the listening socket or starting the runtime failed.
    Io(io::Error),
}

impl fmt::Display for FrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrontError::InvalidConfig(what) => write!(f, "invalid native front option: {what}"),
            FrontError::InvalidForm(what) => write!(f, "invalid published response: {what}"),
            FrontError::Io(err) => write!(f, "native front: {err}"),
        }
    }
}

impl std::error::Error for FrontError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrontError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for FrontError {
    fn from(err: io::Error) -> Self {
        FrontError::Io(err)
    }
}
