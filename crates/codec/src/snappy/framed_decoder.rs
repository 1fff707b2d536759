//! The framing format's decoder: push-style, so chunks may arrive split anywhere.
//! Every data chunk's checksum is verified. Streams may be concatenated (the
//! identifier may recur); padding and reserved skippable chunks are skipped.
//!
//! The format has no end marker: a stream cut between two chunks is
//! indistinguishable from a shorter one. A stream cut inside a chunk is corrupt.

use snap::raw::{decompress_len, max_compress_len, Decoder};

use super::corrupt;
use super::framed::{
    masked_crc, CHECKSUM_LEN, COMPRESSED, HEADER_LEN, IDENTIFIER, MAX_BLOCK, STREAM_IDENTIFIER,
    UNCOMPRESSED,
};
use crate::output::{decode_via_scratch, Budget, Reassembly};
use crate::CodecError;

fn bad(why: impl Into<String>) -> CodecError {
    CodecError::CorruptInput(why.into())
}

/// Push-style decoder of a framed stream, bounded by its output budget.
#[derive(Debug)]
pub(crate) struct FramedDecoder {
    parts: Reassembly,
    /// Type and length of the chunk whose body is awaited.
    header: Option<(u8, usize)>,
    /// Bytes of a skippable chunk still to discard.
    skip: usize,
    identified: bool,
    budget: Budget,
}

impl FramedDecoder {
    /// A decoder that refuses to produce more than `max_output` bytes in total.
    pub(crate) fn new(max_output: usize) -> Self {
        Self::with_budget(Budget::new(max_output))
    }

    fn with_budget(budget: Budget) -> Self {
        FramedDecoder {
            parts: Reassembly::default(),
            header: None,
            skip: 0,
            identified: false,
            budget,
        }
    }

    /// Decodes `input`, appending the output of every chunk it completes.
    pub(crate) fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                self.skip -= n;
                input = &input[n..];
                if self.skip > 0 {
                    return Ok(());
                }
            }
            match self.header {
                None => {
                    let Some(head) = self.parts.take(&mut input, HEADER_LEN) else {
                        return Ok(());
                    };
                    let kind = head[0];
                    let len = usize::from(head[1])
                        | usize::from(head[2]) << 8
                        | usize::from(head[3]) << 16;
                    if check_header(kind, len, self.identified)? {
                        self.header = Some((kind, len));
                    } else {
                        self.skip = len;
                    }
                }
                Some((kind, len)) => {
                    let Some(body) = self.parts.take(&mut input, len) else {
                        return Ok(());
                    };
                    self.header = None;
                    decode_chunk(kind, body, &mut self.budget, out)?;
                    // Only an identifier can come first (`check_header`).
                    self.identified = true;
                }
            }
        }
    }

    /// Checks that the input held a stream and did not stop inside a chunk.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        if self.skip > 0 || self.header.is_some() || self.parts.is_partial() {
            return Err(bad("truncated snappy chunk"));
        }
        if !self.identified {
            return Err(bad("empty input holds no snappy stream"));
        }
        Ok(())
    }
}

/// Validates a chunk header. Returns whether the body is to be decoded (rather than
/// skipped).
fn check_header(kind: u8, len: usize, identified: bool) -> Result<bool, CodecError> {
    if !identified && kind != IDENTIFIER {
        return Err(bad("snappy stream does not start with a stream identifier"));
    }
    let valid = match kind {
        IDENTIFIER => len == STREAM_IDENTIFIER.len() - HEADER_LEN,
        COMPRESSED => (CHECKSUM_LEN..=CHECKSUM_LEN + max_compress_len(MAX_BLOCK)).contains(&len),
        UNCOMPRESSED => (CHECKSUM_LEN..=CHECKSUM_LEN + MAX_BLOCK).contains(&len),
        0x02..=0x7f => {
            return Err(bad(format!(
                "reserved unskippable snappy chunk type {kind:#04x}"
            )))
        }
        // Padding (0xfe) and reserved skippable chunks (0x80–0xfd).
        _ => return Ok(false),
    };
    if !valid {
        return Err(bad(format!(
            "snappy chunk of type {kind:#04x} has invalid length {len}"
        )));
    }
    Ok(true)
}

fn decode_chunk(
    kind: u8,
    body: &[u8],
    budget: &mut Budget,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if kind == IDENTIFIER {
        return if body == &STREAM_IDENTIFIER[HEADER_LEN..] {
            Ok(())
        } else {
            Err(bad("snappy stream identifier is not sNaPpY"))
        };
    }
    let (crc, data) = body.split_at(CHECKSUM_LEN);
    let mut expected = [0u8; CHECKSUM_LEN];
    expected.copy_from_slice(crc);
    let expected = u32::from_le_bytes(expected);
    let verify = |block: &[u8]| {
        if masked_crc(block) == expected {
            Ok(())
        } else {
            Err(bad("snappy chunk checksum mismatch"))
        }
    };
    if kind == UNCOMPRESSED {
        verify(data)?;
        return budget.extend(out, data);
    }
    let len = decompress_len(data).map_err(corrupt)?;
    if len > MAX_BLOCK {
        return Err(bad(format!(
            "snappy chunk declares {len} bytes, over 64 KiB"
        )));
    }
    budget.check_declared(len as u64)?;
    budget.fill(out, len, |dst| {
        let written = Decoder::new().decompress(data, dst).map_err(corrupt)?;
        verify(&dst[..written])?;
        Ok((written, ()))
    })
}

/// Decompresses a whole framed stream, refusing outputs above `max_output` bytes.
pub(crate) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut decoder = FramedDecoder::new(max_output);
    decoder.write(input, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

/// Decompresses into `out` when the output fits it.
pub(crate) fn decompress_into(
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    decode_via_scratch(out, max_output, |scratch, budget| {
        let mut decoder = FramedDecoder::with_budget(budget);
        decoder.write(input, scratch)?;
        decoder.finish()
    })
}
