//! Standard-format compression codecs for optlayer.
//!
//! Every decoder is bounded: the caller states the largest output it accepts and a
//! larger result becomes [`CodecError::OutputLimit`] before the memory is spent.
//! Corrupt or truncated input is [`CodecError::CorruptInput`], never a panic.
//!
//! This crate knows nothing of Node; `crates/node` converts its results.

mod error;
pub mod zstd;

pub use error::CodecError;

/// Default ceiling on the size of a decompressed output: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;
