//! A brotli stream of uncompressed meta-blocks (RFC 7932, section 9.2): the fallback
//! of one-shot compression when the encoder's output would not fit the worst-case
//! bound, as the reference encoder's own one-shot call does.

/// Largest meta-block written: 16 bits of MLEN - 1 (MNIBBLES = 4).
const BLOCK: usize = 1 << 16;

/// Least-significant-bit-first writer, the order of brotli's header fields.
struct Bits<'a> {
    out: &'a mut [u8],
    pos: usize,
    acc: u32,
    count: u32,
}

impl Bits<'_> {
    fn push(&mut self, value: u32, width: u32) {
        self.acc |= value << self.count;
        self.count += width;
        while self.count >= 8 {
            self.out[self.pos] = self.acc as u8;
            self.pos += 1;
            self.acc >>= 8;
            self.count -= 8;
        }
    }

    /// Pads with zero bits to the next byte boundary.
    fn align(&mut self) {
        if self.count > 0 {
            self.push(0, 8 - self.count);
        }
    }
}

/// Size of the stored stream for `len` input bytes.
pub(super) fn stored_len(len: usize) -> usize {
    // Three header bytes per meta-block, one byte for the closing empty meta-block.
    len + 3 * len.div_ceil(BLOCK) + 1
}

/// Writes `input` as uncompressed meta-blocks into `out` (at least
/// [`stored_len`] bytes). Returns the bytes written.
pub(super) fn write_stored(input: &[u8], out: &mut [u8]) -> usize {
    let mut bits = Bits {
        out,
        pos: 0,
        acc: 0,
        count: 0,
    };
    // WBITS = 16, the one-bit encoding; uncompressed data needs no window.
    bits.push(0, 1);
    for block in input.chunks(BLOCK) {
        bits.push(0, 1); // ISLAST
        bits.push(0, 2); // MNIBBLES = 4
        bits.push((block.len() - 1) as u32, 16); // MLEN - 1
        bits.push(1, 1); // ISUNCOMPRESSED
        bits.align();
        let start = bits.pos;
        bits.out[start..start + block.len()].copy_from_slice(block);
        bits.pos += block.len();
    }
    bits.push(1, 1); // ISLAST
    bits.push(1, 1); // ISLASTEMPTY
    bits.align();
    bits.pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_streams_decode_and_fit_the_bound() {
        for len in [0, 1, 100, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 7] {
            let input: Vec<u8> = (0..len).map(|i| (i * 7 + i / 3) as u8).collect();
            let mut out = vec![0u8; stored_len(len)];
            let written = write_stored(&input, &mut out);
            assert_eq!(written, stored_len(len), "len {len}");
            assert!(written <= super::super::compress_bound(len), "len {len}");
            let decoded = super::super::decompress(&out[..written], len).expect("decode");
            assert_eq!(decoded, input, "len {len}");
        }
    }
}
