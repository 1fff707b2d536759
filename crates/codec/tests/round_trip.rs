//! One-shot round trips: every codec, size, data shape and level extreme; the
//! caller-buffer variants agree with the allocating ones.

mod common;

use common::{assert_round_trip, data, levels, params, Shape, SHAPES, SIZES};
use optlayer_codec::{
    compress, compress_bound, compress_into, decompress, decompress_into, Codec, CompressParams,
};

#[test]
fn every_codec_round_trips_every_size_and_shape() {
    for codec in Codec::ALL {
        for shape in SHAPES {
            for len in SIZES {
                assert_round_trip(codec, &data(shape, len), &CompressParams::default());
            }
        }
    }
}

#[test]
fn every_level_extreme_round_trips() {
    for codec in Codec::ALL {
        for level in levels(codec) {
            for shape in SHAPES {
                // The slowest levels (brotli 11, deflate 12, zstd 22) stay on
                // sizes a debug build handles in well under a second.
                for len in [0, 1, 100, 16 << 10] {
                    assert_round_trip(codec, &data(shape, len), &params(level));
                }
            }
        }
    }
}

#[test]
fn windows_round_trip_at_their_extremes() {
    let input = data(Shape::Json, 100 << 10);
    for codec in [Codec::Brotli, Codec::Zstd] {
        let Some(range) = codec.window_log_range() else {
            panic!("{codec} takes a window");
        };
        for window_log in [*range.start(), 20, *range.end()] {
            let params = CompressParams {
                level: None,
                window_log: Some(window_log),
            };
            assert_round_trip(codec, &input, &params);
        }
    }
}

#[test]
fn compress_into_writes_what_compress_returns() {
    for codec in Codec::ALL {
        for shape in SHAPES {
            for len in [0, 100, 16 << 10, 100 << 10] {
                let input = data(shape, len);
                let expected =
                    compress(codec, &input, &CompressParams::default()).expect("compress");
                let mut out = vec![0u8; compress_bound(codec, len)];
                let written = compress_into(codec, &input, &mut out, &CompressParams::default())
                    .expect("into");
                assert_eq!(
                    &out[..written],
                    expected.as_slice(),
                    "{codec} {shape:?} {len}"
                );
            }
        }
    }
}

#[test]
fn the_bound_of_16_kib_fits_the_bindings_32_kib_scratch() {
    for codec in Codec::ALL {
        assert!(compress_bound(codec, 16 << 10) <= 32 << 10, "{codec}");
        let mut scratch = vec![0u8; 32 << 10];
        let noise = data(Shape::Random, 16 << 10);
        for level in levels(codec) {
            compress_into(codec, &noise, &mut scratch, &params(level)).expect("fits");
        }
    }
}

#[test]
fn bounds_of_absurd_sizes_do_not_overflow() {
    for codec in Codec::ALL {
        // The binding converts JavaScript numbers by saturating.
        let _ = compress_bound(codec, usize::MAX);
        let bound = compress_bound(codec, 1 << 40);
        // Snappy's raw format stops below 4 GiB; its bound says so with 0.
        assert!(
            bound >= 1 << 40 || (codec == Codec::Snappy && bound == 0),
            "{codec}"
        );
    }
}

#[test]
fn compress_into_refuses_a_buffer_below_the_bound() {
    for codec in Codec::ALL {
        let input = data(Shape::Text, 1000);
        let mut out = vec![0u8; compress_bound(codec, 1000) - 1];
        let err = common::failure(
            compress_into(codec, &input, &mut out, &CompressParams::default()),
            "short buffer",
        );
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT", "{codec}");
        assert!(
            err.to_string().contains("must hold at least"),
            "{codec}: {err}"
        );
    }
}

#[test]
fn invalid_levels_and_windows_are_refused() {
    for codec in Codec::ALL {
        let above = codec.level_range().end() + 1;
        let err = common::failure(compress(codec, b"x", &params(above)), "level");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
        assert!(err.to_string().contains(&format!("got {above}")), "{err}");
    }
    let params = CompressParams {
        level: None,
        window_log: Some(9),
    };
    let err = common::failure(compress(Codec::Brotli, b"x", &params), "window");
    assert!(
        err.to_string().contains("between 10 and 24, got 9"),
        "{err}"
    );
    let err = common::failure(compress(Codec::Gzip, b"x", &params), "no window");
    assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
}

#[test]
fn decompress_into_fits_or_says_none() {
    for codec in Codec::ALL {
        for len in [0, 1, 5000, 100 << 10] {
            let input = data(Shape::Json, len);
            let packed = compress(codec, &input, &CompressParams::default()).expect("compress");
            let limit = 1 << 20;

            let mut roomy = vec![0u8; len + 100];
            let written = decompress_into(codec, &packed, &mut roomy, limit)
                .expect("roomy")
                .unwrap_or_else(|| panic!("{codec}: {len} bytes did not fit {}", len + 100));
            assert_eq!(&roomy[..written], input.as_slice(), "{codec} {len}");

            let mut exact = vec![0u8; len];
            assert_eq!(
                decompress_into(codec, &packed, &mut exact, limit),
                Ok(Some(len)),
                "{codec} exact {len}"
            );
            assert_eq!(exact, input, "{codec} {len}");

            if len > 0 {
                let mut short = vec![0u8; len - 1];
                assert_eq!(
                    decompress_into(codec, &packed, &mut short, limit),
                    Ok(None),
                    "{codec} short {len}"
                );
                let err = common::failure(
                    decompress_into(codec, &packed, &mut roomy, len - 1),
                    "over the limit",
                );
                assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT", "{codec} {len}");
                assert_eq!(
                    decompress_into(codec, &packed, &mut roomy, len),
                    Ok(Some(len)),
                    "{codec} limit exactly {len}"
                );
            }
        }
    }
}

#[test]
fn the_output_limit_is_inclusive() {
    for codec in Codec::ALL {
        let input = data(Shape::Text, 10_000);
        let packed = compress(codec, &input, &CompressParams::default()).expect("compress");
        assert_eq!(
            decompress(codec, &packed, 10_000).expect("at the limit"),
            input
        );
        let err = common::failure(decompress(codec, &packed, 9_999), "over");
        assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT", "{codec}");
    }
}
