#![no_main]

use libfuzzer_sys::fuzz_target;
use optlayer_codec::Codec;

fuzz_target!(|data: &[u8]| optlayer_codec_fuzz::one_shot(Codec::Deflate, data));
