//! Push-style LZ4 frame decoder, bounded by its output budget.
//!
//! Accepted: concatenated frames, skippable frames, independent and linked blocks,
//! block and content checksums (verified), content size (checked, and refused up
//! front when beyond the limit). Refused as corrupt: the legacy format and frames
//! that need an external dictionary.

use std::hash::Hasher;

use lz4_flex::block::{
    decompress_into as decompress_block, decompress_into_with_dict, DecompressError,
};
use twox_hash::XxHash32;

use crate::output::{decode_via_scratch, Budget, Reassembly};
use crate::CodecError;

const MAGIC: u32 = 0x184D_2204;
const LEGACY_MAGIC: u32 = 0x184C_2102;
/// Skippable frames use the 16 magics 0x184D2A50–0x184D2A5F.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// Linked blocks may reach this far back into earlier blocks.
const WINDOW: usize = 64 << 10;

fn bad(why: impl Into<String>) -> CodecError {
    CodecError::CorruptInput(why.into())
}

fn le32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

fn xxh32(data: &[u8]) -> u32 {
    XxHash32::oneshot(0, data)
}

/// What the decoder waits for next.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Magic,
    SkipSize,
    Skip(usize),
    /// FLG and BD.
    Descriptor,
    /// Optional fields and header checksum; carries FLG and BD.
    DescriptorRest([u8; 2]),
    BlockSize,
    Block {
        len: usize,
        stored: bool,
    },
    ContentChecksum,
}

/// The frame being decoded.
struct Frame {
    block_max: usize,
    block_checksums: bool,
    content: Option<XxHash32>,
    declared: Option<u64>,
    produced: u64,
    /// Last 64 KiB of output, for linked blocks only.
    history: Option<Vec<u8>>,
}

/// Push-style LZ4 frame decoder.
pub(crate) struct Lz4Decoder {
    parts: Reassembly,
    stage: Stage,
    frame: Option<Frame>,
    budget: Budget,
    frames: usize,
}

impl Lz4Decoder {
    /// A decoder that refuses to produce more than `max_output` bytes in total.
    pub(crate) fn new(max_output: usize) -> Self {
        Self::with_budget(Budget::new(max_output))
    }

    fn with_budget(budget: Budget) -> Self {
        Lz4Decoder {
            parts: Reassembly::default(),
            stage: Stage::Magic,
            frame: None,
            budget,
            frames: 0,
        }
    }

    /// Decodes `input`, appending the output of every block it completes.
    pub(crate) fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        loop {
            if let Stage::Skip(left) = self.stage {
                let n = left.min(input.len());
                input = &input[n..];
                if n < left {
                    self.stage = Stage::Skip(left - n);
                    return Ok(());
                }
                self.frames += 1;
                self.stage = Stage::Magic;
            }
            let need = match self.stage {
                Stage::Magic | Stage::SkipSize | Stage::BlockSize | Stage::ContentChecksum => 4,
                Stage::Descriptor => 2,
                Stage::DescriptorRest([flg, _]) => descriptor_rest_len(flg),
                Stage::Block { len, .. } => len + self.block_checksum_len(),
                Stage::Skip(_) => 0,
            };
            let Some(record) = self.parts.take(&mut input, need) else {
                return Ok(());
            };
            self.stage = advance(self.stage, record, &mut self.frame, &mut self.budget, out)?;
            if matches!(self.stage, Stage::Magic) && self.frame.take().is_some() {
                self.frames += 1;
            }
        }
    }

    fn block_checksum_len(&self) -> usize {
        match &self.frame {
            Some(frame) if frame.block_checksums => 4,
            _ => 0,
        }
    }

    /// Checks that the input held whole frames only.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        let between_frames = matches!(self.stage, Stage::Magic) && !self.parts.is_partial();
        if !between_frames {
            return Err(bad("truncated lz4 frame"));
        }
        if self.frames == 0 {
            return Err(bad("empty input holds no lz4 frame"));
        }
        Ok(())
    }
}

/// Length of the descriptor after FLG and BD: content size, dictionary id, checksum.
fn descriptor_rest_len(flg: u8) -> usize {
    let content_size = if flg & 0x08 != 0 { 8 } else { 0 };
    let dict_id = if flg & 0x01 != 0 { 4 } else { 0 };
    content_size + dict_id + 1
}

/// Handles one complete record and says what comes next.
fn advance(
    stage: Stage,
    record: &[u8],
    frame: &mut Option<Frame>,
    budget: &mut Budget,
    out: &mut Vec<u8>,
) -> Result<Stage, CodecError> {
    Ok(match stage {
        Stage::Magic => match le32(record) {
            MAGIC => Stage::Descriptor,
            magic if magic & 0xFFFF_FFF0 == SKIPPABLE_MAGIC => Stage::SkipSize,
            LEGACY_MAGIC => return Err(bad("the legacy lz4 format is not supported")),
            _ => return Err(bad("not an lz4 frame")),
        },
        Stage::SkipSize => Stage::Skip(le32(record) as usize),
        Stage::Descriptor => {
            let (flg, bd) = (record[0], record[1]);
            if flg >> 6 != 0b01 || flg & 0x02 != 0 || bd & 0x8F != 0 {
                return Err(bad("unsupported lz4 frame version or reserved bits set"));
            }
            if flg & 0x01 != 0 {
                return Err(bad("lz4 frames that need a dictionary are not supported"));
            }
            if !(4..=7).contains(&(bd >> 4)) {
                return Err(bad("invalid lz4 block size"));
            }
            Stage::DescriptorRest([flg, bd])
        }
        Stage::DescriptorRest([flg, bd]) => {
            *frame = Some(open_frame(flg, bd, record, budget)?);
            Stage::BlockSize
        }
        Stage::BlockSize => {
            let word = le32(record);
            let (stored, len) = (word & 0x8000_0000 != 0, (word & 0x7FFF_FFFF) as usize);
            let current = frame
                .as_ref()
                .ok_or_else(|| bad("lz4 block outside a frame"))?;
            if word == 0 {
                if current.content.is_some() {
                    Stage::ContentChecksum
                } else {
                    close_frame(frame, None)?
                }
            } else if len > current.block_max {
                return Err(bad("lz4 block larger than the frame allows"));
            } else {
                Stage::Block { len, stored }
            }
        }
        Stage::Block { len, stored } => {
            let current = frame
                .as_mut()
                .ok_or_else(|| bad("lz4 block outside a frame"))?;
            let (data, checksum) = record.split_at(len);
            if current.block_checksums && xxh32(data) != le32(checksum) {
                return Err(bad("lz4 block checksum mismatch"));
            }
            decode_block(current, data, stored, budget, out)?;
            Stage::BlockSize
        }
        Stage::ContentChecksum => close_frame(frame, Some(le32(record)))?,
        Stage::Skip(_) => stage,
    })
}

fn open_frame(flg: u8, bd: u8, rest: &[u8], budget: &Budget) -> Result<Frame, CodecError> {
    let (fields, checksum) = rest.split_at(rest.len() - 1);
    let mut descriptor = Vec::with_capacity(2 + fields.len());
    descriptor.extend_from_slice(&[flg, bd]);
    descriptor.extend_from_slice(fields);
    if (xxh32(&descriptor) >> 8) as u8 != checksum[0] {
        return Err(bad("lz4 frame header checksum mismatch"));
    }
    let declared = (flg & 0x08 != 0).then(|| {
        let mut size = [0u8; 8];
        size.copy_from_slice(&fields[..8]);
        u64::from_le_bytes(size)
    });
    if let Some(size) = declared {
        budget.check_declared(size)?;
    }
    let linked = flg & 0x20 == 0;
    Ok(Frame {
        block_max: 1 << (8 + 2 * usize::from(bd >> 4)),
        block_checksums: flg & 0x10 != 0,
        content: (flg & 0x04 != 0).then(|| XxHash32::with_seed(0)),
        declared,
        produced: 0,
        history: linked.then(Vec::new),
    })
}

fn decode_block(
    frame: &mut Frame,
    data: &[u8],
    stored: bool,
    budget: &mut Budget,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    if stored {
        budget.extend(out, data)?;
    } else {
        let history = frame.history.as_deref().unwrap_or_default();
        let (limit, block_max) = (budget.limit(), frame.block_max);
        budget.fill(out, block_max, |dst| {
            let decoded = if history.is_empty() {
                decompress_block(data, dst)
            } else {
                decompress_into_with_dict(data, dst, history)
            };
            match decoded {
                Ok(written) => Ok((written, ())),
                // The window was cut to the budget: the block is too large for it.
                Err(DecompressError::OutputTooSmall { .. }) if dst.len() < block_max => {
                    Err(CodecError::OutputLimit { limit })
                }
                Err(err) => Err(bad(format!("invalid lz4 block: {err}"))),
            }
        })?;
    }
    let block = &out[start..];
    frame.produced += block.len() as u64;
    if frame.declared.is_some_and(|size| frame.produced > size) {
        return Err(bad("lz4 frame holds more than its declared size"));
    }
    if let Some(hasher) = &mut frame.content {
        hasher.write(block);
    }
    if let Some(history) = &mut frame.history {
        remember(history, block);
    }
    Ok(())
}

/// Keeps the last [`WINDOW`] bytes of output for the next linked block.
fn remember(history: &mut Vec<u8>, block: &[u8]) {
    let keep = WINDOW.saturating_sub(block.len()).min(history.len());
    history.drain(..history.len() - keep);
    history.extend_from_slice(&block[block.len().saturating_sub(WINDOW)..]);
}

fn close_frame(frame: &mut Option<Frame>, checksum: Option<u32>) -> Result<Stage, CodecError> {
    let current = frame
        .as_ref()
        .ok_or_else(|| bad("lz4 trailer outside a frame"))?;
    if current
        .declared
        .is_some_and(|size| size != current.produced)
    {
        return Err(bad("lz4 frame holds less than its declared size"));
    }
    if let (Some(hasher), Some(expected)) = (&current.content, checksum) {
        if hasher.finish() as u32 != expected {
            return Err(bad("lz4 content checksum mismatch"));
        }
    }
    Ok(Stage::Magic)
}

/// Decompresses whole frames, refusing outputs above `max_output` bytes.
pub(crate) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut decoder = Lz4Decoder::new(max_output);
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
        let mut decoder = Lz4Decoder::with_budget(budget);
        decoder.write(input, scratch)?;
        decoder.finish()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_window() {
        let mut history = Vec::new();
        remember(&mut history, &[1; 10]);
        remember(&mut history, &vec![2; WINDOW - 4]);
        assert_eq!(history.len(), WINDOW);
        assert_eq!(&history[..4], &[1; 4]);
        remember(&mut history, &vec![3; WINDOW + 5]);
        assert_eq!(history, vec![3; WINDOW]);
    }
}
