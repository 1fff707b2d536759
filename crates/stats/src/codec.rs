//! Serialized snapshots: the HdrHistogram V2 format, inside a small envelope that carries
//! what V2 cannot (the exact sum, extremes and the invalid and clamped counts).
//!
//! Envelope, little-endian: `"OLH\x01"`, sum (`u128`), invalid, clamped, min, max (`u64`
//! each), then one uncompressed V2 histogram. Plain V2 and compressed V2 (what other HDR
//! libraries, such as hdr-histogram-js, write) are read too; their sum and extremes are
//! estimated from the counters.
//!
//! Input may come from another process, so nothing in it is trusted: the header's range and
//! precision must pass [`HistogramConfig::validate`] (bounding what is allocated), lengths
//! must match the bytes given, and compressed input is inflated under a size bound.

use std::io::Read;

use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use crate::config::HistogramConfig;
use crate::error::StatsError;
use crate::snapshot::{Snapshot, Totals};

const MAGIC: [u8; 4] = *b"OLH\x01";
const ENVELOPE_LEN: usize = 4 + 16 + 8 * 4;
/// Cookies of the V2 formats (`0x1c849303` and `0x1c849304`, each with the word-size bit).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_HEADER_LEN: usize = 40;
/// Largest inflated V2 accepted: every counter of the largest accepted shard at 9 bytes.
const MAX_INFLATED: u64 = V2_HEADER_LEN as u64 + 9 * crate::config::MAX_COUNTS as u64;

impl Snapshot {
    /// The snapshot in the envelope format, for [`Snapshot::deserialize`] and merges
    /// elsewhere.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_LEN + 64);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.totals.sum.to_le_bytes());
        for field in [
            self.totals.invalid,
            self.totals.clamped,
            self.totals.min,
            self.totals.max,
        ] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.serialize_v2());
        out
    }

    /// The counters alone in HdrHistogram's plain V2 format, readable by every HDR library.
    pub fn serialize_v2(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Cannot fail: writing to a Vec does not fail, and u64 counts fit V2's varints.
        if V2Serializer::new()
            .serialize(&self.counts, &mut out)
            .is_err()
        {
            out.clear();
        }
        out
    }

    /// Reads the envelope format, plain V2 or compressed V2.
    pub fn deserialize(bytes: &[u8]) -> Result<Snapshot, StatsError> {
        if let Some(rest) = bytes.strip_prefix(&MAGIC) {
            if bytes.len() < ENVELOPE_LEN {
                return Err(StatsError::corrupt("truncated envelope"));
            }
            let sum = u128::from_le_bytes(array(&rest[..16]));
            let field = |i: usize| u64::from_le_bytes(array(&rest[16 + 8 * i..24 + 8 * i]));
            let counts = read_v2(&bytes[ENVELOPE_LEN..], true)?;
            let (min, max) = (field(2), field(3));
            // Quantiles are clamped to the extremes, which must therefore be ordered.
            if !counts.is_empty() && min > max {
                return Err(StatsError::corrupt("minimum above maximum"));
            }
            let totals = if counts.is_empty() {
                Totals {
                    invalid: field(0),
                    clamped: field(1),
                    ..Totals::default()
                }
            } else {
                Totals {
                    sum,
                    min,
                    max,
                    invalid: field(0),
                    clamped: field(1),
                }
            };
            return Ok(Snapshot::from_parts(counts, totals));
        }
        let cookie = u32::from_be_bytes(array(bytes.get(..4).ok_or_else(truncated)?));
        let counts = match cookie {
            V2_COOKIE => read_v2(bytes, false)?,
            V2_COMPRESSED_COOKIE => {
                let len = u32::from_be_bytes(array(bytes.get(4..8).ok_or_else(truncated)?));
                let body = bytes.get(8..8 + len as usize).ok_or_else(|| {
                    StatsError::corrupt("compressed payload shorter than its header says")
                })?;
                let mut inflated = Vec::new();
                ZlibDecoder::new(body)
                    .take(MAX_INFLATED + 1)
                    .read_to_end(&mut inflated)
                    .map_err(|e| StatsError::corrupt(format!("bad compressed payload: {e}")))?;
                if inflated.len() as u64 > MAX_INFLATED {
                    return Err(StatsError::corrupt(
                        "compressed payload inflates beyond the size bound",
                    ));
                }
                read_v2(&inflated, false)?
            }
            _ => {
                return Err(StatsError::corrupt(
                    "not an optlayer or HdrHistogram V2 histogram",
                ))
            }
        };
        let totals = estimated_totals(&counts);
        Ok(Snapshot::from_parts(counts, totals))
    }
}

/// Totals of counters that came without them: extremes and sum from the buckets.
fn estimated_totals(counts: &Histogram<u64>) -> Totals {
    if counts.is_empty() {
        return Totals::default();
    }
    let sum = counts.iter_recorded().fold(0_u128, |sum, b| {
        let value = counts.median_equivalent(b.value_iterated_to());
        sum.saturating_add(u128::from(value) * u128::from(b.count_at_value()))
    });
    Totals {
        sum,
        min: counts.min(),
        max: counts.max(),
        invalid: 0,
        clamped: 0,
    }
}

fn truncated() -> StatsError {
    StatsError::corrupt("truncated header")
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// What hdr-histogram-js writes where V2 has the normalizing index offset and the
/// integer-to-double ratio (the `u32` 1 and the `u64` 1, not the `f64` 1.0); it ignores both
/// when reading, and so do we for exactly this signature.
const JS_OFFSET: u32 = 1;
const JS_RATIO: u64 = 1;
const NO_OFFSET: u32 = 0;
const UNIT_RATIO: f64 = 1.0;

/// One uncompressed V2 histogram, its header checked before anything is allocated. With
/// `exact`, no bytes may follow it.
fn read_v2(bytes: &[u8], exact: bool) -> Result<Histogram<u64>, StatsError> {
    let header = bytes.get(..V2_HEADER_LEN).ok_or_else(truncated)?;
    if u32::from_be_bytes(array(&header[8..12])) == JS_OFFSET
        && u64::from_be_bytes(array(&header[32..40])) == JS_RATIO
    {
        // hdrhistogram refuses an offset or a ratio it would have to apply: rewrite them as
        // the neutral values they stand for.
        let mut fixed = bytes.to_vec();
        fixed[8..12].copy_from_slice(&NO_OFFSET.to_be_bytes());
        fixed[32..40].copy_from_slice(&UNIT_RATIO.to_be_bytes());
        return read_v2_checked(&fixed, exact);
    }
    read_v2_checked(bytes, exact)
}

fn read_v2_checked(bytes: &[u8], exact: bool) -> Result<Histogram<u64>, StatsError> {
    let header = bytes.get(..V2_HEADER_LEN).ok_or_else(truncated)?;
    let word = |at: usize| u32::from_be_bytes(array(&header[at..at + 4]));
    let long = |at: usize| u64::from_be_bytes(array(&header[at..at + 8]));
    if word(0) != V2_COOKIE {
        return Err(StatsError::corrupt("not a V2 histogram"));
    }
    let payload = word(4) as usize;
    let available = bytes.len() - V2_HEADER_LEN;
    if payload > available || exact && payload != available {
        return Err(StatsError::corrupt(format!(
            "payload of {payload} bytes in {available} available"
        )));
    }
    let config = HistogramConfig {
        lowest_discernible: long(16),
        highest_trackable: long(24),
        significant_figures: u8::try_from(word(12)).unwrap_or(u8::MAX),
        shards: 1,
    };
    config
        .validate()
        .map_err(|e| StatsError::corrupt(format!("unacceptable histogram shape: {e}")))?;
    let mut input = &bytes[..V2_HEADER_LEN + payload];
    Deserializer::new()
        .deserialize(&mut input)
        .map_err(|e| StatsError::corrupt(e.to_string()))
}
