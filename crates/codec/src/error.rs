use std::fmt;

/// Why a codec call failed. Each variant maps to one stable code string, which the
/// binding exposes as `error.code` in JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The input is not a valid stream of the format, or is truncated.
    CorruptInput(String),
    /// The decompressed output would exceed the caller's limit.
    OutputLimit { limit: usize },
    /// An argument is out of range (a compression level, a size).
    InvalidArgument(String),
}

impl CodecError {
    /// The stable code of this error, shared with the TypeScript layer.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::CorruptInput(_) => "ERR_OPTLAYER_CORRUPT_INPUT",
            CodecError::OutputLimit { .. } => "ERR_OPTLAYER_OUTPUT_LIMIT",
            CodecError::InvalidArgument(_) => "ERR_OPTLAYER_INVALID_ARGUMENT",
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::CorruptInput(why) => write!(f, "corrupt or truncated input: {why}"),
            CodecError::OutputLimit { limit } => write!(
                f,
                "decompressed output exceeds the limit of {limit} bytes (raise maxOutputBytes to accept it)"
            ),
            CodecError::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl std::error::Error for CodecError {}
