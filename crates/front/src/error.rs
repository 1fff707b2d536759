use std::fmt;
use std::io;
use std::net::SocketAddr;

/// What the front refuses or fails at.
#[derive(Debug)]
pub enum FrontError {
    /// An option out of range; the message names it.
    InvalidConfig(String),
    /// A published form that is not valid HTTP or does not fit the budget.
    InvalidForm(String),
    /// The listening socket could not be bound to its address.
    Listen(SocketAddr, io::Error),
    /// Starting the runtime failed.
    Io(io::Error),
}

impl fmt::Display for FrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrontError::InvalidConfig(what) => write!(f, "invalid native front option: {what}"),
            FrontError::InvalidForm(what) => write!(f, "invalid published response: {what}"),
            // Worded as node:http words it, so one message (and one grep) serves both fronts.
            FrontError::Listen(addr, err) => match errno_name(err.kind()) {
                Some(name) => write!(f, "native front: listen {name}: {err} {addr}"),
                None => write!(f, "native front: listen: {err} {addr}"),
            },
            FrontError::Io(err) => write!(f, "native front: {err}"),
        }
    }
}

impl std::error::Error for FrontError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrontError::Listen(_, err) | FrontError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for FrontError {
    fn from(err: io::Error) -> Self {
        FrontError::Io(err)
    }
}

/// The errno name of the listen failures a user acts on.
fn errno_name(kind: io::ErrorKind) -> Option<&'static str> {
    match kind {
        io::ErrorKind::AddrInUse => Some("EADDRINUSE"),
        io::ErrorKind::AddrNotAvailable => Some("EADDRNOTAVAIL"),
        io::ErrorKind::PermissionDenied => Some("EACCES"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_failures_name_the_errno_and_the_address() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let in_use = FrontError::Listen(addr, io::Error::from(io::ErrorKind::AddrInUse));
        let text = in_use.to_string();
        assert!(
            text.starts_with("native front: listen EADDRINUSE: "),
            "{text}"
        );
        assert!(text.ends_with(" 127.0.0.1:8080"), "{text}");
        let other = FrontError::Listen(addr, io::Error::other("no"));
        assert_eq!(other.to_string(), "native front: listen: no 127.0.0.1:8080");
    }
}
