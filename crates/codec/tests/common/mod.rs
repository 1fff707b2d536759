//! Test data and helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different part

use optlayer_codec::{compress, decompress, Codec, CodecError, CompressParams};

/// Sizes every codec is exercised at.
pub const SIZES: [usize; 7] = [0, 1, 100, 4 << 10, 16 << 10, 100 << 10, 3 << 20];

/// Kinds of payload: compressible text and JSON, incompressible noise, a run of zeros.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Text,
    Json,
    Random,
    Zeros,
}

pub const SHAPES: [Shape; 4] = [Shape::Text, Shape::Json, Shape::Random, Shape::Zeros];

/// xorshift64: deterministic, and incompressible enough for the "random" shape.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: [&str; 16] = [
    "the",
    "cache",
    "request",
    "limiter",
    "queue",
    "latency",
    "backend",
    "of",
    "and",
    "compression",
    "gateway",
    "stream",
    "to",
    "worker",
    "a",
    "response",
];

fn text(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(WORDS[rng.below(WORDS.len())]);
        out.push(if rng.below(12) == 0 { '\n' } else { ' ' });
    }
    out.truncate(len);
    out.into_bytes()
}

/// One JSON record like an API response item.
pub fn json_record(rng: &mut Rng, id: usize) -> String {
    const NAMES: [&str; 8] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    const TAGS: [&str; 6] = ["admin", "beta", "premium", "trial", "eu", "us"];
    format!(
        r#"{{"id":{id},"name":"{}_{}","email":"{}{}@example.com","tags":["{}","{}"],"score":{}.{},"active":{},"created":"2024-{:02}-{:02}T{:02}:{:02}:00Z"}}"#,
        NAMES[rng.below(8)],
        rng.below(10_000),
        NAMES[rng.below(8)],
        rng.below(100),
        TAGS[rng.below(6)],
        TAGS[rng.below(6)],
        rng.below(1000),
        rng.below(100),
        rng.below(2) == 0,
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
    )
}

fn json(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = String::from("[");
    let mut id = 1000;
    while out.len() < len {
        out.push_str(&json_record(rng, id));
        out.push(',');
        id += 1;
    }
    out.truncate(len);
    out.into_bytes()
}

/// `len` bytes of `shape`, the same on every call.
pub fn data(shape: Shape, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x5eed ^ len as u64);
    match shape {
        Shape::Text => text(len, &mut rng),
        Shape::Json => json(len, &mut rng),
        Shape::Random => (0..len).map(|_| (rng.next() >> 24) as u8).collect(),
        Shape::Zeros => vec![0; len],
    }
}

/// The lowest and highest level of `codec`, and its default.
pub fn levels(codec: Codec) -> Vec<i32> {
    let range = codec.level_range();
    let mut levels = vec![*range.start(), codec.default_level(), *range.end()];
    levels.dedup();
    levels
}

pub fn params(level: i32) -> CompressParams {
    CompressParams::with_level(level)
}

/// The error of a call expected to fail. Unlike `expect_err`, a surprise success is
/// not printed: it may be megabytes.
#[track_caller]
pub fn failure<T>(result: Result<T, CodecError>, what: &str) -> CodecError {
    match result {
        Ok(_) => panic!("{what}: expected an error, got a success"),
        Err(err) => err,
    }
}

/// Compresses, decompresses and checks the result is the input.
pub fn assert_round_trip(codec: Codec, input: &[u8], params: &CompressParams) -> Vec<u8> {
    let packed = compress(codec, input, params)
        .unwrap_or_else(|err| panic!("{codec} compress {} bytes: {err}", input.len()));
    let unpacked = decompress(codec, &packed, input.len())
        .unwrap_or_else(|err| panic!("{codec} decompress {} bytes: {err}", input.len()));
    assert!(
        unpacked == input,
        "{codec}: round trip of {} bytes differs",
        input.len()
    );
    packed
}
