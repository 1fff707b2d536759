//! zstd dictionaries and patches.

mod common;

use common::{data, json_record, Rng, Shape};
use optlayer_codec::{compress, zstd, Codec, CompressParams};

fn samples(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let records: Vec<String> = (0..3).map(|j| json_record(&mut rng, i * 3 + j)).collect();
            format!("[{}]", records.join(",")).into_bytes()
        })
        .collect()
}

fn trained() -> Vec<u8> {
    let samples = samples(100, 1);
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    zstd::train_dictionary(&refs, 8 << 10).expect("train")
}

#[test]
fn a_trained_dictionary_shrinks_small_documents() {
    let dictionary = trained();
    assert!(dictionary.len() <= 8 << 10);
    let doc = samples(1, 2).remove(0);
    let plain = compress(Codec::Zstd, &doc, &CompressParams::default()).expect("plain");
    let primed = zstd::compress_with_dictionary(&doc, &dictionary, 3).expect("primed");
    assert!(
        primed.len() * 10 < plain.len() * 7,
        "with dictionary {} bytes, without {} (of {})",
        primed.len(),
        plain.len(),
        doc.len()
    );
    let back = zstd::decompress_with_dictionary(&primed, &dictionary, doc.len()).expect("decode");
    assert_eq!(back, doc);
    // Repeated use hits the prepared-dictionary cache and gives the same frame.
    let again = zstd::compress_with_dictionary(&doc, &dictionary, 3).expect("again");
    assert_eq!(again, primed);
}

#[test]
fn dictionary_frames_need_the_same_dictionary() {
    let dictionary = trained();
    let other = {
        let samples = samples(100, 77);
        let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        zstd::train_dictionary(&refs, 8 << 10).expect("train")
    };
    let doc = samples(1, 3).remove(0);
    let primed = zstd::compress_with_dictionary(&doc, &dictionary, 3).expect("primed");
    let err = common::failure(
        zstd::decompress_with_dictionary(&primed, &other, 1 << 20),
        "wrong",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    let err = common::failure(zstd::decompress(&primed, 1 << 20), "none");
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    // Raw-content dictionaries carry no id: the checksum catches the mismatch.
    let raw_a = samples(3, 5).concat();
    let mut raw_b = raw_a.clone();
    for byte in raw_b.iter_mut().step_by(7) {
        *byte ^= 0x20;
    }
    let primed = zstd::compress_with_dictionary(&doc, &raw_a, 3).expect("raw");
    assert_eq!(
        zstd::decompress_with_dictionary(&primed, &raw_a, 1 << 20).expect("same"),
        doc
    );
    let err = common::failure(
        zstd::decompress_with_dictionary(&primed, &raw_b, 1 << 20),
        "wrong",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    let err = common::failure(
        zstd::decompress_with_dictionary(&primed, &raw_a, doc.len() - 1),
        "limit",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
}

#[test]
fn dictionary_levels_and_training_errors_are_typed() {
    let dictionary = trained();
    let doc = samples(1, 4).remove(0);
    for level in [-5, 1, 19] {
        let primed = zstd::compress_with_dictionary(&doc, &dictionary, level).expect("level");
        assert_eq!(
            zstd::decompress_with_dictionary(&primed, &dictionary, doc.len()).expect("decode"),
            doc
        );
    }
    let err = common::failure(
        zstd::compress_with_dictionary(&doc, &dictionary, 99),
        "level",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    let err = common::failure(zstd::train_dictionary(&[], 4096), "no samples");
    assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
}

fn edited(reference: &[u8]) -> Vec<u8> {
    let mut next = reference.to_vec();
    for at in [1000, 300_000, 700_000] {
        next[at..at + 16].copy_from_slice(b"edited-in-place!");
    }
    next.splice(500_000..500_000, b"an inserted sentence".iter().copied());
    next.truncate(next.len() - 100);
    next
}

#[test]
fn a_patch_against_a_similar_reference_is_tiny() {
    let reference = data(Shape::Json, 1 << 20);
    let next = edited(&reference);
    let patch = zstd::compress_patch(&next, &reference, 3).expect("patch");
    assert!(
        patch.len() * 100 < next.len(),
        "patch of {} bytes for {} bytes",
        patch.len(),
        next.len()
    );
    let plain = compress(Codec::Zstd, &next, &CompressParams::default()).expect("plain");
    assert!(patch.len() * 20 < plain.len());
    assert_eq!(
        zstd::decompress_patch(&patch, &reference, next.len()).expect("apply"),
        next
    );
}

#[test]
fn a_patch_needs_its_reference() {
    let reference = data(Shape::Text, 1 << 20);
    let next = edited(&reference);
    let patch = zstd::compress_patch(&next, &reference, 3).expect("patch");
    assert_eq!(
        zstd::decompress_patch(&patch, &reference, next.len()).expect("apply"),
        next
    );
    let mut wrong = reference.clone();
    for byte in wrong.iter_mut().skip(5000).step_by(50_000) {
        *byte ^= 1;
    }
    let err = common::failure(
        zstd::decompress_patch(&patch, &wrong, 1 << 20),
        "wrong reference",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    let err = common::failure(
        zstd::decompress_patch(&patch, &reference, next.len() - 1),
        "limit",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
    let err = common::failure(
        zstd::decompress_patch(&patch[..patch.len() - 1], &reference, 1 << 20),
        "cut",
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
}

#[test]
fn patches_handle_empty_sides() {
    let reference = data(Shape::Text, 10_000);
    for (next, reference) in [(&b""[..], &reference[..]), (&reference[..], &b""[..])] {
        let patch = zstd::compress_patch(next, reference, 3).expect("patch");
        assert_eq!(
            zstd::decompress_patch(&patch, reference, next.len()).expect("apply"),
            next
        );
    }
}
