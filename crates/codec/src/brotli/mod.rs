//! Brotli (RFC 7932): compression through Google's C library (the `brotlic` binding),
//! decompression through `brotli-decompressor`, the Rust port of its decoder.
//!
//! Chosen by measurement against node:zlib (which links the same C library), one process,
//! interleaved rounds: the pure-Rust encoder of the `brotli` crate ran at 0.61-0.91x
//! node:zlib at quality 4 and 0.86-1.13x at 11 (1 KiB to 4 MiB, JSON and text), the C
//! encoder at 0.99-1.40x and 1.02-1.12x, with the same output sizes within 0.2%. For
//! decompression the Rust port was as fast as the C decoder or faster (1 KiB: 1.70-2.16x
//! node:zlib against 1.66-2.22x; 64 KiB: 1.05-1.13x against 0.97-1.07x), and it keeps
//! untrusted input away from C code.
//!
//! The default quality is 5, not node:zlib's 11. Measured on JSON (with the earlier pure-Rust encoder)
//! (16 KiB / 1 MiB): quality 11 takes 31 ms on 16 KiB, about 55× quality 5, for 11%
//! fewer bytes, which suits precompressed static assets but not per-request
//! compression of dynamic responses. Quality 4 and below come out larger than gzip -6
//! (ratio 0.190 / 0.161 against gzip's 0.174 / 0.148); quality 5 is the first to beat
//! it (0.166 / 0.146) and stays within a few times gzip's time (0.56 ms / 29 ms against
//! 0.11 ms / 15 ms), so it is the lowest quality at which offering `br` pays.
//!
//! The window (lgwin) defaults to 22, brotli's own default; 10–24 are accepted
//! (larger windows are a non-standard extension that browsers refuse).

use std::ops::RangeInclusive;

mod decoder;
mod encoder;
mod stored;

pub(crate) use decoder::{decompress, decompress_into, BrotliDecoder};
pub(crate) use encoder::{compress_bound, compress_into, BrotliEncoder};

/// Qualities accepted.
pub(crate) const QUALITIES: RangeInclusive<i32> = 0..=11;

/// Quality used when none is given: see the module documentation.
pub(crate) const DEFAULT_QUALITY: i32 = 5;

/// Window logs accepted (RFC 7932's range).
pub(crate) const WINDOW_LOGS: RangeInclusive<u32> = 10..=24;

/// brotli's default window log.
pub(crate) const DEFAULT_WINDOW_LOG: u32 = 22;
