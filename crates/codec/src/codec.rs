//! The codecs this crate speaks, their levels and windows, and the parameters a
//! compression call takes.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::{brotli, deflate, zstd, CodecError};

/// A compressed data format. Every variant reads and writes the standard format, so
/// the reference tools (`gzip`, `zstd`, `brotli`, `lz4`, python-snappy) decode our
/// output and we decode theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// gzip (RFC 1952); concatenated members decode as one stream, as gzip(1) does.
    Gzip,
    /// zlib-wrapped DEFLATE (RFC 1950): what HTTP calls `deflate`.
    Deflate,
    /// Raw DEFLATE (RFC 1951), without header or checksum.
    DeflateRaw,
    /// Snappy raw block format: one block, its length up front. Not streamable.
    Snappy,
    /// Snappy framing format: checksummed chunks of at most 64 KiB.
    SnappyFramed,
    /// Zstandard (RFC 8878) frames with content size and checksum.
    Zstd,
    /// Brotli (RFC 7932).
    Brotli,
    /// LZ4 frame format, with content checksum (and content size for one-shot calls).
    Lz4,
}

impl Codec {
    /// Every codec, in declaration order.
    pub const ALL: [Codec; 8] = [
        Codec::Gzip,
        Codec::Deflate,
        Codec::DeflateRaw,
        Codec::Snappy,
        Codec::SnappyFramed,
        Codec::Zstd,
        Codec::Brotli,
        Codec::Lz4,
    ];

    /// The name users type: the HTTP content-coding token where one exists.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Deflate => "deflate",
            Codec::DeflateRaw => "deflate-raw",
            Codec::Snappy => "snappy",
            Codec::SnappyFramed => "snappy-framed",
            Codec::Zstd => "zstd",
            Codec::Brotli => "br",
            Codec::Lz4 => "lz4",
        }
    }

    /// Level used when [`CompressParams::level`] is `None`.
    ///
    /// gzip/deflate: 6, zlib's and libdeflate's default. zstd: 3, zstd's default.
    /// brotli: 5, not node:zlib's 11, which costs about 55× the time for some 11%
    /// fewer bytes (right for precompressed assets, wrong per request); 5 is the
    /// lowest quality that beats gzip -6 on size.
    /// snappy and lz4 have no levels: 0.
    pub fn default_level(self) -> i32 {
        match self {
            Codec::Gzip | Codec::Deflate | Codec::DeflateRaw => deflate::DEFAULT_LEVEL,
            Codec::Zstd => zstd::DEFAULT_LEVEL,
            Codec::Brotli => brotli::DEFAULT_QUALITY,
            Codec::Snappy | Codec::SnappyFramed | Codec::Lz4 => 0,
        }
    }

    /// Levels accepted by compression.
    ///
    /// gzip/deflate: 0–12, libdeflate's scale (0 stores, 1 fastest, 12 smallest). The
    /// streaming [`Encoder`](crate::Encoder) runs zlib, whose scale stops at 9:
    /// levels 10–12 stream as 9. zstd: the library's range, negative levels being the
    /// fast ones. brotli: quality 0–11. snappy and lz4 (LZ4's fast mode, which is all
    /// lz4_flex implements): 0 only.
    pub fn level_range(self) -> RangeInclusive<i32> {
        match self {
            Codec::Gzip | Codec::Deflate | Codec::DeflateRaw => deflate::LEVELS,
            Codec::Zstd => zstd::level_range(),
            Codec::Brotli => brotli::QUALITIES,
            Codec::Snappy | Codec::SnappyFramed | Codec::Lz4 => 0..=0,
        }
    }

    /// Window sizes (base-2 logarithms) accepted in [`CompressParams::window_log`], for
    /// the codecs that take one: brotli's lgwin and zstd's windowLog.
    pub fn window_log_range(self) -> Option<RangeInclusive<u32>> {
        match self {
            Codec::Zstd => Some(zstd::window_log_range()),
            Codec::Brotli => Some(brotli::WINDOW_LOGS),
            _ => None,
        }
    }

    /// Whether [`Encoder`](crate::Encoder) and [`Decoder`](crate::Decoder) accept this
    /// codec. Snappy's raw format states its length before its data, so it cannot be.
    pub fn is_streamable(self) -> bool {
        self != Codec::Snappy
    }

    /// The level `params` asks for, validated.
    pub(crate) fn level(self, params: &CompressParams) -> Result<i32, CodecError> {
        let level = params.level.unwrap_or_else(|| self.default_level());
        let range = self.level_range();
        if range.contains(&level) {
            Ok(level)
        } else {
            Err(CodecError::InvalidArgument(format!(
                "{} level must be between {} and {}, got {level}",
                self.name(),
                range.start(),
                range.end()
            )))
        }
    }

    /// The window `params` asks for, validated; `None` leaves the codec's default.
    pub(crate) fn window_log(self, params: &CompressParams) -> Result<Option<u32>, CodecError> {
        let Some(window_log) = params.window_log else {
            return Ok(None);
        };
        match self.window_log_range() {
            Some(range) if range.contains(&window_log) => Ok(Some(window_log)),
            Some(range) => Err(CodecError::InvalidArgument(format!(
                "{} window log must be between {} and {}, got {window_log}",
                self.name(),
                range.start(),
                range.end()
            ))),
            None => Err(CodecError::InvalidArgument(format!(
                "a window log applies to zstd and br only, got one for {}",
                self.name()
            ))),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = CodecError;

    /// Parses a [`Codec::name`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Codec::ALL.iter().map(|codec| codec.name()).collect();
                CodecError::InvalidArgument(format!(
                    "codec must be one of {}, got {name:?}",
                    names.join(", ")
                ))
            })
    }
}

/// Options of a compression call. `Default` means the codec's default level and
/// window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompressParams {
    /// Compression level; see [`Codec::level_range`]. `None`: [`Codec::default_level`].
    pub level: Option<i32>,
    /// Base-2 logarithm of the match window: brotli's lgwin, zstd's windowLog. `None`:
    /// the codec's default (brotli 22; zstd derives it from level and input size).
    /// Other codecs refuse it.
    pub window_log: Option<u32>,
}

impl CompressParams {
    /// Parameters with the given level and the default window.
    pub fn with_level(level: i32) -> Self {
        CompressParams {
            level: Some(level),
            window_log: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for codec in Codec::ALL {
            assert_eq!(codec.name().parse::<Codec>(), Ok(codec));
        }
        let err = "lzma".parse::<Codec>().expect_err("unknown");
        assert!(err.to_string().contains("got \"lzma\""), "{err}");
    }

    #[test]
    fn defaults_lie_within_the_ranges() {
        for codec in Codec::ALL {
            assert!(
                codec.level_range().contains(&codec.default_level()),
                "{codec}"
            );
            assert_eq!(
                codec.level(&CompressParams::default()),
                Ok(codec.default_level())
            );
        }
    }

    #[test]
    fn out_of_range_levels_and_windows_say_what_was_expected() {
        let err = Codec::Gzip
            .level(&CompressParams::with_level(13))
            .expect_err("level");
        assert_eq!(
            err.to_string(),
            "invalid argument: gzip level must be between 0 and 12, got 13"
        );
        let params = CompressParams {
            level: None,
            window_log: Some(25),
        };
        let err = Codec::Brotli.window_log(&params).expect_err("window");
        assert_eq!(
            err.to_string(),
            "invalid argument: br window log must be between 10 and 24, got 25"
        );
        let err = Codec::Lz4.window_log(&params).expect_err("no window");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }
}
