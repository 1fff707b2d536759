//! Dictionaries: training from samples, and compression with one. A dictionary
//! primes the coder with content typical of small payloads (API responses, log
//! lines), where a frame alone has too little history to find repeats.
//!
//! Preparing a dictionary (hashing its content, building its entropy tables) costs
//! far more than compressing a small payload with it, so each thread keeps the few it
//! used last, keyed by content and level. Lookups compare the whole dictionary, which
//! is cheap next to preparing it and cannot confuse two dictionaries.

use std::cell::RefCell;

use zstd::zstd_safe::{CDict, DDict};

use super::{check_level, decode_frames, encoder_error, with_cctx, with_dctx};
use crate::CodecError;

/// Prepared dictionaries a thread keeps, per direction.
const CACHED: usize = 4;

/// zstd's smallest dictionary (`ZDICT_DICTSIZE_MIN`).
const MIN_DICTIONARY: usize = 256;

thread_local! {
    static CDICTS: RefCell<Prepared<CDict<'static>>> = const { RefCell::new(Prepared::new()) };
    static DDICTS: RefCell<Prepared<DDict<'static>>> = const { RefCell::new(Prepared::new()) };
}

/// A small most-recently-used list of prepared dictionaries.
struct Prepared<T> {
    /// Dictionary content, level (0 for decoding), prepared form; most recent first.
    entries: Vec<(Vec<u8>, i32, T)>,
}

impl<T> Prepared<T> {
    const fn new() -> Self {
        Prepared {
            entries: Vec::new(),
        }
    }

    fn get_or_prepare(
        &mut self,
        dictionary: &[u8],
        level: i32,
        prepare: impl FnOnce() -> Option<T>,
    ) -> Result<&T, CodecError> {
        let hit = self
            .entries
            .iter()
            .position(|(content, at, _)| *at == level && content.as_slice() == dictionary);
        match hit {
            Some(index) => self.entries[..=index].rotate_right(1),
            None => {
                let prepared = prepare().ok_or_else(|| {
                    CodecError::InvalidArgument("zstd could not prepare the dictionary".to_owned())
                })?;
                self.entries
                    .insert(0, (dictionary.to_vec(), level, prepared));
                self.entries.truncate(CACHED);
            }
        }
        Ok(&self.entries[0].2)
    }
}

/// Trains a dictionary of at most `max_size` bytes from sample payloads (zstd's
/// `ZDICT_trainFromBuffer`). Training wants many samples (hundreds) of the kind of
/// data to be compressed; a dictionary of about 100× smaller than their total is usual.
pub fn train_dictionary(samples: &[&[u8]], max_size: usize) -> Result<Vec<u8>, CodecError> {
    if max_size < MIN_DICTIONARY {
        return Err(CodecError::InvalidArgument(format!(
            "dictionary size must be at least {MIN_DICTIONARY} bytes, got {max_size}"
        )));
    }
    let total: usize = samples.iter().map(|sample| sample.len()).sum();
    // A dictionary cannot usefully exceed its samples; do not reserve more than that.
    let capacity = max_size.min(total.max(MIN_DICTIONARY));
    zstd::dict::from_samples(samples, capacity).map_err(|err| {
        CodecError::InvalidArgument(format!(
            "zstd dictionary training failed ({} samples, {total} bytes): {err}",
            samples.len()
        ))
    })
}

/// Compresses `input` into one frame primed with `dictionary` (one made by
/// [`train_dictionary`], or any bytes used as raw content). The frame names the
/// dictionary's id, and decoding needs the same dictionary.
pub fn compress_with_dictionary(
    input: &[u8],
    dictionary: &[u8],
    level: i32,
) -> Result<Vec<u8>, CodecError> {
    check_level(level)?;
    let mut out = Vec::with_capacity(super::compress_bound(input.len()));
    CDICTS.with_borrow_mut(|cache| {
        let cdict =
            cache.get_or_prepare(dictionary, level, || CDict::try_create(dictionary, level))?;
        // The prepared dictionary carries the level; the context keeps the checksum.
        with_cctx(level, None, |cctx| {
            cctx.ref_cdict(cdict).map_err(encoder_error)?;
            cctx.compress2(&mut out, input).map_err(encoder_error)
        })
    })?;
    Ok(out)
}

/// Decompresses frames made by [`compress_with_dictionary`] with the same
/// dictionary, refusing outputs above `max_output` bytes. A different dictionary is
/// [`CodecError::CorruptInput`] (zstd checks the id, and the checksum the content).
pub fn decompress_with_dictionary(
    input: &[u8],
    dictionary: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CodecError> {
    DDICTS.with_borrow_mut(|cache| {
        let ddict = cache.get_or_prepare(dictionary, 0, || DDict::try_create(dictionary))?;
        with_dctx(max_output, |dctx| {
            dctx.ref_ddict(ddict)
                .map_err(|code| super::decoder_error(code, max_output))?;
            decode_frames(dctx, input, max_output)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_most_recent_few() {
        let mut cache = Prepared::new();
        for i in 0..6u8 {
            let prepared = cache.get_or_prepare(&[i], 1, || Some(i)).expect("prepare");
            assert_eq!(*prepared, i);
        }
        assert_eq!(cache.entries.len(), CACHED);
        let hit = cache
            .get_or_prepare(&[3], 1, || None)
            .expect("still cached");
        assert_eq!(*hit, 3);
        assert_eq!(cache.entries[0].0, vec![3]);
        let err = cache.get_or_prepare(&[0], 1, || None).expect_err("evicted");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }

    #[test]
    fn tiny_dictionary_sizes_are_refused() {
        let err = train_dictionary(&[b"abc"], 10).expect_err("size");
        assert_eq!(
            err.to_string(),
            "invalid argument: dictionary size must be at least 256 bytes, got 10"
        );
    }
}
