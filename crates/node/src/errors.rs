//! The failures of the binding and the codes JavaScript sees on them.
//!
//! Every failure carries a [`Code`]: the binding's own ones are built with the constructors
//! of [`Failure`], a crate's error goes through its one `From` impl below, which takes the
//! code that crate documents (`code()`, asserted by the crate's tests). No binding file
//! spells a code.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;
use optlayer_cache::CacheError;
use optlayer_codec::CodecError;
use optlayer_queue::QueueError;
use optlayer_ratelimit::LimitError;
use optlayer_stats::StatsError;

/// The `code` of an error thrown by native code; `src/core/errors.ts` maps each to its
/// error class, so a code's spelling never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    CorruptInput,
    OutputLimit,
    ValueTooLarge,
    CostExceedsCapacity,
    ConfigMismatch,
    QueueFull,
    Closed,
    /// A panic caught inside native code, or a failure of N-API itself.
    Internal,
}

impl Code {
    /// Every code, for lookups and tests.
    pub const ALL: [Code; 9] = [
        Code::InvalidArgument,
        Code::CorruptInput,
        Code::OutputLimit,
        Code::ValueTooLarge,
        Code::CostExceedsCapacity,
        Code::ConfigMismatch,
        Code::QueueFull,
        Code::Closed,
        Code::Internal,
    ];

    /// The string JavaScript sees as `error.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "ERR_OPTLAYER_INVALID_ARGUMENT",
            Code::CorruptInput => "ERR_OPTLAYER_CORRUPT_INPUT",
            Code::OutputLimit => "ERR_OPTLAYER_OUTPUT_LIMIT",
            Code::ValueTooLarge => "ERR_OPTLAYER_VALUE_TOO_LARGE",
            Code::CostExceedsCapacity => "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY",
            Code::ConfigMismatch => "ERR_OPTLAYER_CONFIG_MISMATCH",
            Code::QueueFull => "ERR_OPTLAYER_QUEUE_FULL",
            Code::Closed => "ERR_OPTLAYER_CLOSED",
            Code::Internal => "ERR_OPTLAYER_INTERNAL",
        }
    }

    /// The code a crate's error names, or `None` for one the binding does not know.
    fn of(code: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|known| known.as_str() == code)
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A failure that is not yet a JavaScript value: it may be produced on a pool thread.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }

    /// An argument out of range or of the wrong type.
    pub fn invalid_argument(message: impl fmt::Display) -> Self {
        Failure::new(Code::InvalidArgument, message)
    }

    /// A panic, or native machinery that failed.
    pub fn internal(message: impl fmt::Display) -> Self {
        Failure::new(Code::Internal, message)
    }

    /// Builds the JavaScript `Error` with `code` set and wraps it so napi throws (or
    /// rejects with) exactly that object.
    pub fn into_napi(self, env: &Env) -> Error {
        let js = JsError::from(Error::new(self.code, self.message)).into_unknown(*env);
        Error::from(js)
    }
}

/// A crate's error, with the code string the crate gives it.
fn from_crate_error(code: &'static str, err: &dyn fmt::Display) -> Failure {
    match Code::of(code) {
        Some(code) => Failure::new(code, err),
        // Unreachable while the tests below pass; an unknown code must still reach
        // JavaScript as a typed error, and says which it was.
        None => Failure::internal(format_args!("{err} (unknown code {code})")),
    }
}

/// One `From` impl per crate error, all through [`from_crate_error`].
macro_rules! from_crate_errors {
    ($($error:ty),+ $(,)?) => {
        $(impl From<$error> for Failure {
            fn from(err: $error) -> Self {
                from_crate_error(err.code(), &err)
            }
        })+
    };
}

from_crate_errors!(CacheError, CodecError, LimitError, QueueError, StatsError);

/// Runs `work`, turning a panic into an [`Code::Internal`] failure.
pub fn contain<T, E: Into<Failure>>(
    work: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result.map_err(Into::into),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(Failure::internal(format_args!("native panic: {detail}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$err` reaches JavaScript with the code its crate gives it, not as an unknown one.
    macro_rules! assert_keeps_code {
        ($($err:expr),+ $(,)?) => {$({
            let err = $err;
            let code = err.code();
            let failure = Failure::from(err);
            assert_eq!(failure.code.as_str(), code, "{}", failure.message);
        })+};
    }

    #[test]
    fn every_crate_error_keeps_its_code() {
        let got = || "got".to_owned();
        let (name, expected) = ("name", "expected");
        assert_keeps_code!(
            CacheError::InvalidArgument {
                name,
                expected,
                got: got()
            },
            CacheError::InvalidKey { len: 9, max: 8 },
            CacheError::EntryTooLarge { cost: 9, max: 8 },
            CacheError::ConfigMismatch { name: "n".into() },
            CodecError::CorruptInput("x".into()),
            CodecError::OutputLimit { limit: 1 },
            CodecError::InvalidArgument("x".into()),
            LimitError::InvalidArgument {
                name,
                expected,
                got: got()
            },
            LimitError::InvalidKey { len: 9, max: 8 },
            LimitError::CostExceedsCapacity {
                cost: 9,
                capacity: 8
            },
            LimitError::ConfigMismatch { name: "n".into() },
            QueueError::Full { id: 1, capacity: 1 },
            QueueError::InvalidLevel { level: 9 },
            QueueError::InvalidConfig("x".into()),
            QueueError::ConfigMismatch { name: "n".into() },
            StatsError::InvalidArgument {
                name,
                expected,
                got: got()
            },
            StatsError::ConfigMismatch { name: "n".into() },
            StatsError::CorruptInput { reason: "x".into() },
        );
    }

    #[test]
    fn a_code_no_crate_should_name_is_an_internal_error_that_says_so() {
        let failure = from_crate_error("ERR_SOMETHING_ELSE", &"it broke");
        assert_eq!(failure.code, Code::Internal);
        assert_eq!(
            failure.message,
            "it broke (unknown code ERR_SOMETHING_ELSE)"
        );
    }

    #[test]
    fn codes_are_distinct_and_round_trip() {
        for code in Code::ALL {
            assert_eq!(Code::of(code.as_str()), Some(code));
            assert!(code.as_str().starts_with("ERR_OPTLAYER_"));
        }
    }
}
