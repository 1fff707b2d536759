//! Many threads at once through the per-thread caches (contexts, compressors,
//! prepared dictionaries, scratch buffers): results stay exact.

mod common;

use std::thread;

use common::{data, Shape, SHAPES};
use optlayer_codec::{
    compress, compress_bound, compress_into, decompress, decompress_into, zstd, Codec,
    CompressParams,
};

#[test]
fn threads_share_nothing_but_the_code() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                let mut scratch = vec![0u8; 32 << 10];
                let mut back = vec![0u8; 32 << 10];
                for i in 0..40 {
                    let codec = Codec::ALL[(t + i) % Codec::ALL.len()];
                    let range = codec.level_range();
                    let level = if i % 3 == 0 {
                        codec.default_level()
                    } else {
                        *range.start()
                    };
                    let params = CompressParams::with_level(level);
                    let input = data(SHAPES[(t * 7 + i) % 4], 1000 + t * 1500 + i * 97);
                    let written =
                        compress_into(codec, &input, &mut scratch, &params).expect("into");
                    let n = decompress_into(codec, &scratch[..written], &mut back, 1 << 20)
                        .expect("decode")
                        .expect("fits");
                    assert_eq!(&back[..n], input.as_slice(), "{codec} thread {t}");
                    let packed = compress(codec, &input, &params).expect("compress");
                    assert_eq!(packed.as_slice(), &scratch[..written], "{codec} thread {t}");
                    assert_eq!(
                        decompress(codec, &packed, input.len()).expect("back"),
                        input
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
}

#[test]
fn dictionaries_are_prepared_per_thread() {
    let dictionaries: Vec<Vec<u8>> = (0..6).map(|i| data(SHAPES[i % 4], 2048 + i)).collect();
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let dictionaries = dictionaries.clone();
            thread::spawn(move || {
                for i in 0..30 {
                    // More dictionaries than a thread caches, in shifting order.
                    let dictionary = &dictionaries[(t + i) % dictionaries.len()];
                    let input = data(Shape::Text, 500 + i * 31);
                    let packed =
                        zstd::compress_with_dictionary(&input, dictionary, 1 + (i % 5) as i32)
                            .expect("compress");
                    let back = zstd::decompress_with_dictionary(&packed, dictionary, input.len())
                        .expect("decode");
                    assert_eq!(back, input);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
}

#[test]
fn large_and_small_calls_interleave_on_one_thread() {
    for codec in Codec::ALL {
        let big = data(Shape::Json, 1 << 20);
        let small = data(Shape::Text, 100);
        for input in [&big, &small, &big] {
            let mut out = vec![0u8; compress_bound(codec, input.len())];
            let n =
                compress_into(codec, input, &mut out, &CompressParams::default()).expect("into");
            assert_eq!(
                decompress(codec, &out[..n], input.len()).expect("back"),
                *input
            );
        }
    }
}
