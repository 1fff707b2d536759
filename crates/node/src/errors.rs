use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;
use optlayer_codec::CodecError;

/// Code given to a panic caught inside native code; the TypeScript layer maps it to
/// its `InternalError`.
pub const INTERNAL: &str = "ERR_OPTLAYER_INTERNAL";

/// A failure that is not yet a JavaScript value: it may be produced on a pool thread.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl From<CodecError> for Failure {
    fn from(err: CodecError) -> Self {
        Failure {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Failure {
    /// Builds the JavaScript `Error` with `code` set and wraps it so napi throws (or
    /// rejects with) exactly that object.
    pub fn into_napi(self, env: &Env) -> Error {
        let js = JsError::from(Error::new(Code(self.code), self.message)).into_unknown(*env);
        Error::from(js)
    }
}

/// Runs `work`, turning a panic into an [`INTERNAL`] failure.
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
            Err(Failure {
                code: INTERNAL,
                message: format!("native panic: {detail}"),
            })
        }
    }
}
