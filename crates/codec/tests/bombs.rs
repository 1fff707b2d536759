//! Decompression bombs: a small input that expands past the limit is refused with
//! `OutputLimit`, by every decoder (one-shot, into a buffer, streaming), with memory
//! that follows the limit rather than the bomb. Declared sizes that lie are caught.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hash::Hasher;

use optlayer_codec::{
    compress, decompress, decompress_into, zstd, Codec, CodecError, CompressParams, Decoder,
    Encoder,
};

/// Counts the bytes this thread has live, and their peak, so a test can bound what a
/// decoder allocates.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(grow: usize, shrink: usize) {
    // `try_with`: allocations during thread teardown find the counters gone.
    let _ = LIVE.try_with(|live| {
        let now = (live.get() + grow).saturating_sub(shrink);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator unchanged; the counters are thread-local
// cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 0);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 0);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(0, layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size, layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated by `f` above what was live when it started.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let result = f();
    (result, PEAK.with(Cell::get) - base)
}

const LIMIT: usize = 1 << 20;
const BOMB: usize = 8 << 20;

/// A small input holding `BOMB` zero bytes. Levels are the fastest that still
/// compress, so a debug build makes these quickly.
fn bomb(codec: Codec) -> Vec<u8> {
    let level = match codec {
        Codec::Gzip | Codec::Deflate | Codec::DeflateRaw | Codec::Zstd | Codec::Brotli => 1,
        _ => 0,
    };
    let packed =
        compress(codec, &vec![0u8; BOMB], &CompressParams::with_level(level)).expect("compress");
    assert!(packed.len() < BOMB / 20, "{codec}: {} bytes", packed.len());
    packed
}

fn streamed_bomb(codec: Codec) -> Vec<u8> {
    let mut encoder = Encoder::new(codec, &CompressParams::default()).expect("encoder");
    let mut out = Vec::new();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..BOMB >> 20 {
        encoder.write(&zeros, &mut out).expect("write");
    }
    encoder.finish(&mut out).expect("finish");
    out
}

/// Working memory a decoder may need beyond its output: brotli's ring buffer and
/// tables follow the stream's window (4 MiB at lgwin 22), the others stay well below.
fn working_memory(codec: Codec) -> usize {
    match codec {
        Codec::Brotli => 8 << 20,
        _ => 2 << 20,
    }
}

#[test]
fn one_shot_decoders_refuse_bombs_within_the_limit() {
    for codec in Codec::ALL {
        let packed = bomb(codec);
        let (result, peak) = peak_of(|| decompress(codec, &packed, LIMIT));
        assert_eq!(
            result,
            Err(CodecError::OutputLimit { limit: LIMIT }),
            "{codec}"
        );
        assert!(
            peak <= LIMIT + working_memory(codec),
            "{codec}: {peak} bytes allocated for a {LIMIT}-byte limit"
        );

        // A small buffer learns that the output does not fit it, or, from a declared
        // size, that it is over the limit.
        let mut out = vec![0u8; 64 << 10];
        let (result, peak) = peak_of(|| decompress_into(codec, &packed, &mut out, LIMIT));
        assert!(
            matches!(
                result,
                Ok(None) | Err(CodecError::OutputLimit { limit: LIMIT })
            ),
            "{codec} into: {result:?}"
        );
        assert!(peak <= working_memory(codec), "{codec} into: {peak} bytes");

        // A buffer as large as the limit, or larger, finds the limit.
        for len in [LIMIT, 2 * LIMIT] {
            let mut big = vec![0u8; len];
            let (result, peak) = peak_of(|| decompress_into(codec, &packed, &mut big, LIMIT));
            assert_eq!(
                result,
                Err(CodecError::OutputLimit { limit: LIMIT }),
                "{codec} {len}"
            );
            assert!(
                peak <= LIMIT + working_memory(codec),
                "{codec} into: {peak} bytes"
            );
        }
    }
}

#[test]
fn streaming_decoders_refuse_bombs_within_the_limit() {
    for codec in Codec::ALL.into_iter().filter(|codec| codec.is_streamable()) {
        for packed in [bomb(codec), streamed_bomb(codec)] {
            let (result, peak) = peak_of(|| {
                let mut decoder = Decoder::new(codec, LIMIT)?;
                let mut total = 0;
                for chunk in packed.chunks(1000) {
                    let mut out = Vec::new();
                    decoder.write(chunk, &mut out)?;
                    total += out.len();
                    assert!(total <= LIMIT, "{codec}: {total} bytes out");
                }
                decoder.finish(&mut Vec::new())
            });
            assert_eq!(
                result,
                Err(CodecError::OutputLimit { limit: LIMIT }),
                "{codec}"
            );
            assert!(
                peak <= working_memory(codec),
                "{codec}: {peak} bytes allocated"
            );
        }
    }
}

#[test]
fn zstd_extras_refuse_bombs() {
    let zeros = vec![0u8; BOMB];
    let dictionary = vec![7u8; 4096];
    let packed = zstd::compress_with_dictionary(&zeros, &dictionary, 1).expect("dict");
    let err = common::failure(
        zstd::decompress_with_dictionary(&packed, &dictionary, LIMIT),
        "bomb",
    );
    assert_eq!(err, CodecError::OutputLimit { limit: LIMIT });
    let patch = zstd::compress_patch(&zeros, &dictionary, 1).expect("patch");
    let err = common::failure(zstd::decompress_patch(&patch, &dictionary, LIMIT), "bomb");
    assert_eq!(err, CodecError::OutputLimit { limit: LIMIT });
}

fn set_u32_le(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn a_gzip_isize_that_understates_is_still_bounded() {
    let mut packed = bomb(Codec::Gzip);
    let at = packed.len() - 4;
    set_u32_le(&mut packed, at, 100);
    let (result, peak) = peak_of(|| decompress(Codec::Gzip, &packed, LIMIT));
    assert_eq!(result, Err(CodecError::OutputLimit { limit: LIMIT }));
    assert!(peak <= 2 * LIMIT, "{peak} bytes");
}

#[test]
fn a_gzip_isize_that_overstates_allocates_no_more_than_the_input_can_hold() {
    let mut packed = compress(Codec::Gzip, b"tiny", &CompressParams::default()).expect("gzip");
    let at = packed.len() - 4;
    set_u32_le(&mut packed, at, u32::MAX);
    let (result, peak) = peak_of(|| decompress(Codec::Gzip, &packed, 1 << 30));
    assert_eq!(
        common::failure(result, "lie").code(),
        "ERR_OPTLAYER_CORRUPT_INPUT"
    );
    assert!(
        peak < 1 << 20,
        "{peak} bytes for a {}-byte input",
        packed.len()
    );
}

#[test]
fn snappy_lengths_that_lie_are_refused() {
    // Header: varint length. Claim 1 GiB: beyond the limit, refused before allocating.
    let (result, peak) =
        peak_of(|| decompress(Codec::Snappy, &[0x80, 0x80, 0x80, 0x80, 0x04, 0], LIMIT));
    assert_eq!(result, Err(CodecError::OutputLimit { limit: LIMIT }));
    assert!(peak < 4096, "{peak} bytes");
    // Claim 1 MiB from 6 bytes: within the limit, but more than they can encode.
    let (result, peak) = peak_of(|| decompress(Codec::Snappy, &[0x80, 0x80, 0x40, 0, 0, 0], LIMIT));
    assert_eq!(
        common::failure(result, "lie").code(),
        "ERR_OPTLAYER_CORRUPT_INPUT"
    );
    assert!(peak < 4096, "{peak} bytes");
    // Understating: the block holds more than declared.
    let mut packed =
        compress(Codec::Snappy, &[0u8; 1000], &CompressParams::default()).expect("snappy");
    packed[..2].copy_from_slice(&[10, 0x00]);
    let err = common::failure(decompress(Codec::Snappy, &packed, LIMIT), "lie");
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
}

/// Rewrites an lz4 frame's declared content size and its header checksum.
fn lz4_with_declared_size(packed: &[u8], size: u64) -> Vec<u8> {
    let mut frame = packed.to_vec();
    assert_eq!(frame[4] & 0x08, 0x08, "content size present");
    frame[6..14].copy_from_slice(&size.to_le_bytes());
    let mut hasher = twox_hash::XxHash32::with_seed(0);
    hasher.write(&frame[4..14]);
    frame[14] = (hasher.finish() >> 8) as u8;
    frame
}

#[test]
fn lz4_content_sizes_that_lie_are_caught() {
    let packed = bomb(Codec::Lz4);
    let over = lz4_with_declared_size(&packed, 1 << 40);
    let (result, peak) = peak_of(|| decompress(Codec::Lz4, &over, LIMIT));
    assert_eq!(result, Err(CodecError::OutputLimit { limit: LIMIT }));
    assert!(peak < 4096, "{peak} bytes");

    let under = lz4_with_declared_size(&packed, 100);
    let (result, peak) = peak_of(|| decompress(Codec::Lz4, &under, LIMIT));
    assert_eq!(
        common::failure(result, "lie").code(),
        "ERR_OPTLAYER_CORRUPT_INPUT"
    );
    assert!(peak <= LIMIT + working_memory(Codec::Lz4), "{peak} bytes");

    let small = compress(Codec::Lz4, &[5u8; 5000], &CompressParams::default()).expect("lz4");
    let wrong = lz4_with_declared_size(&small, 4000);
    let err = common::failure(decompress(Codec::Lz4, &wrong, LIMIT), "lie");
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    let wrong = lz4_with_declared_size(&small, 6000);
    let err = common::failure(decompress(Codec::Lz4, &wrong, LIMIT), "lie");
    assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
}

#[test]
fn zstd_declared_sizes_beyond_the_limit_are_refused_before_allocating() {
    let packed = bomb(Codec::Zstd);
    let (result, peak) = peak_of(|| decompress(Codec::Zstd, &packed, LIMIT));
    assert_eq!(result, Err(CodecError::OutputLimit { limit: LIMIT }));
    assert!(peak < 64 << 10, "{peak} bytes");
}
