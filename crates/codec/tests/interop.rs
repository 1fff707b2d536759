//! Interoperability with the reference implementations, both ways: gzip(1), zstd(1),
//! brotli(1), lz4(1), Python's zlib module and python-snappy. The tools are installed
//! by `scripts/ensure-codec-tools.sh`.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{data, Shape};
use optlayer_codec::{compress, decompress, zstd, Codec, CompressParams, Encoder};

const INSTALL_HINT: &str = "run scripts/ensure-codec-tools.sh to install the reference tools";

/// The Debian build of python-snappy loads only under the system interpreter.
const PYTHON: &str = "/usr/bin/python3";

/// Debian's python-snappy 0.5.3 computes the framing format's CRC-32C in C code that
/// Python 3.11 rejects (`PY_SSIZE_T_CLEAN`); its framing logic is fine, so the
/// checksum primitive is swapped for python3-crc32c's.
const SNAPPY_FRAMED: &str =
    "import sys, crc32c, snappy, snappy.snappy as impl; impl._crc32c = crc32c.crc32c; ";

/// Runs `program` with `stdin` and returns its stdout; any failure fails the test.
fn run(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}; {INSTALL_HINT}"));
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // A tool that rejects its input may close the pipe early.
        let _ = pipe.write_all(&input);
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    feeder.join().expect("feeder");
    assert!(
        status.success(),
        "{program} {args:?} failed ({status}): {stderr}\n{INSTALL_HINT}"
    );
    stdout
}

fn python(script: &str, stdin: &[u8]) -> Vec<u8> {
    run(PYTHON, &["-c", script], stdin)
}

/// A reference tool's encoder or decoder.
type Tool = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// (encode, decode) with the reference tool for each codec.
fn reference(codec: Codec) -> (Tool, Tool) {
    const STDIO: &str = "import sys; i = sys.stdin.buffer.read(); o = sys.stdout.buffer; ";
    match codec {
        Codec::Gzip => (
            Box::new(|i| run("gzip", &["-c", "-n"], i)),
            Box::new(|i| run("gzip", &["-dc"], i)),
        ),
        Codec::Deflate => (
            Box::new(|i| python(&format!("{STDIO}import zlib; o.write(zlib.compress(i))"), i)),
            Box::new(|i| {
                python(
                    &format!("{STDIO}import zlib; o.write(zlib.decompress(i))"),
                    i,
                )
            }),
        ),
        Codec::DeflateRaw => (
            Box::new(|i| {
                let script = "import zlib; c = zlib.compressobj(6, zlib.DEFLATED, -15); \
                              o.write(c.compress(i) + c.flush())";
                python(&format!("{STDIO}{script}"), i)
            }),
            Box::new(|i| {
                python(
                    &format!("{STDIO}import zlib; o.write(zlib.decompress(i, -15))"),
                    i,
                )
            }),
        ),
        Codec::Snappy => (
            Box::new(|i| {
                python(
                    &format!("{STDIO}import snappy; o.write(snappy.compress(i))"),
                    i,
                )
            }),
            Box::new(|i| {
                python(
                    &format!("{STDIO}import snappy; o.write(snappy.uncompress(i))"),
                    i,
                )
            }),
        ),
        Codec::SnappyFramed => (
            Box::new(|i| {
                let script = "snappy.stream_compress(sys.stdin.buffer, sys.stdout.buffer)";
                python(&format!("{SNAPPY_FRAMED}{script}"), i)
            }),
            Box::new(|i| {
                let script = "snappy.stream_decompress(sys.stdin.buffer, sys.stdout.buffer)";
                python(&format!("{SNAPPY_FRAMED}{script}"), i)
            }),
        ),
        Codec::Zstd => (
            Box::new(|i| run("zstd", &["-c", "-q"], i)),
            Box::new(|i| run("zstd", &["-dc", "-q"], i)),
        ),
        Codec::Brotli => (
            Box::new(|i| run("brotli", &["-c"], i)),
            Box::new(|i| run("brotli", &["-dc"], i)),
        ),
        Codec::Lz4 => (
            Box::new(|i| run("lz4", &["-c", "-q"], i)),
            Box::new(|i| run("lz4", &["-dc", "-q"], i)),
        ),
    }
}

fn inputs() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        data(Shape::Text, 1000),
        data(Shape::Json, 200 << 10),
        data(Shape::Random, 70 << 10),
    ]
}

fn stream_encode(codec: Codec, input: &[u8]) -> Vec<u8> {
    let mut encoder = Encoder::new(codec, &CompressParams::default()).expect("encoder");
    let mut out = Vec::new();
    for chunk in input.chunks(10_000) {
        encoder.write(chunk, &mut out).expect("write");
    }
    encoder.finish(&mut out).expect("finish");
    out
}

#[test]
fn reference_tools_decode_our_output() {
    for codec in Codec::ALL {
        let (_, decode) = reference(codec);
        for input in inputs() {
            for level in common::levels(codec) {
                let packed = compress(codec, &input, &common::params(level)).expect("compress");
                assert!(
                    decode(&packed) == input,
                    "{codec} level {level}, {} bytes",
                    input.len()
                );
            }
            if codec.is_streamable() {
                let packed = stream_encode(codec, &input);
                assert!(
                    decode(&packed) == input,
                    "{codec} streamed, {} bytes",
                    input.len()
                );
            }
        }
    }
}

#[test]
fn we_decode_the_reference_tools_output() {
    for codec in Codec::ALL {
        let (encode, _) = reference(codec);
        for input in inputs() {
            let packed = encode(&input);
            if packed.is_empty() {
                // python-snappy frames nothing as nothing, not even the stream
                // identifier; like any empty input, that is refused.
                assert_eq!(codec, Codec::SnappyFramed);
                let err = common::failure(decompress(codec, &packed, 0), "empty");
                assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
                continue;
            }
            assert!(
                decompress(codec, &packed, input.len()).expect("decode") == input,
                "{codec}, {} bytes",
                input.len()
            );
        }
    }
}

#[test]
fn we_decode_tool_variants() {
    let input = data(Shape::Json, 300 << 10);
    let cases: [(Codec, &str, &[&str]); 8] = [
        (Codec::Gzip, "gzip", &["-c", "-9"]),
        (Codec::Gzip, "gzip", &["-c", "-1"]),
        (Codec::Zstd, "zstd", &["-c", "-q", "--no-check", "-19"]),
        (
            Codec::Zstd,
            "zstd",
            &["-c", "-q", "--long=27", "--no-content-size"],
        ),
        (Codec::Brotli, "brotli", &["-c", "-q", "11", "-w", "24"]),
        (
            Codec::Lz4,
            "lz4",
            &["-c", "-q", "-BD", "-B4", "--content-size", "-BX"],
        ),
        (Codec::Lz4, "lz4", &["-c", "-q", "-9", "--no-frame-crc"]),
        (Codec::Lz4, "lz4", &["-c", "-q", "-B7", "--favor-decSpeed"]),
    ];
    for (codec, program, args) in cases {
        let packed = run(program, args, &input);
        assert!(
            decompress(codec, &packed, input.len()).expect("decode") == input,
            "{program} {args:?}"
        );
    }
}

#[test]
fn concatenated_gzip_members_decode_like_gzip_does() {
    let (first, second) = (data(Shape::Text, 5000), data(Shape::Json, 80_000));
    let mut packed = run("gzip", &["-c"], &first);
    packed.extend(run("gzip", &["-c"], &second));
    packed.extend(compress(Codec::Gzip, b"", &CompressParams::default()).expect("empty member"));
    let expected = [first, second].concat();
    assert_eq!(run("gzip", &["-dc"], &packed), expected);
    assert_eq!(
        decompress(Codec::Gzip, &packed, expected.len()).expect("members"),
        expected
    );
}

#[test]
fn concatenated_zstd_and_lz4_frames_decode_like_the_tools_do() {
    let (first, second) = (data(Shape::Text, 5000), data(Shape::Json, 80_000));
    let expected = [first.clone(), second.clone()].concat();
    for (codec, program) in [(Codec::Zstd, "zstd"), (Codec::Lz4, "lz4")] {
        let mut packed = run(program, &["-c", "-q"], &first);
        packed.extend(compress(codec, &second, &CompressParams::default()).expect("ours"));
        assert_eq!(run(program, &["-dc", "-q"], &packed), expected, "{program}");
        assert_eq!(
            decompress(codec, &packed, expected.len()).expect("frames"),
            expected
        );
    }
}

#[test]
fn zstd_decodes_our_dictionary_frames_and_patches() {
    let dir = std::env::temp_dir().join(format!("optlayer-codec-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut rng = common::Rng::new(7);
    let samples: Vec<Vec<u8>> = (0..200)
        .map(|i| common::json_record(&mut rng, i).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    let dictionary = zstd::train_dictionary(&refs, 4096).expect("train");
    let dict_path = dir.join("dict");
    std::fs::write(&dict_path, &dictionary).expect("write dict");
    let doc = common::json_record(&mut rng, 999).into_bytes();
    let packed = zstd::compress_with_dictionary(&doc, &dictionary, 3).expect("compress");
    let dict_arg = dict_path.to_string_lossy().into_owned();
    assert_eq!(run("zstd", &["-dc", "-q", "-D", &dict_arg], &packed), doc);
    let theirs = run("zstd", &["-c", "-q", "-D", &dict_arg], &doc);
    assert_eq!(
        zstd::decompress_with_dictionary(&theirs, &dictionary, doc.len()).expect("decode"),
        doc
    );

    let reference = data(Shape::Json, 1 << 20);
    let mut next = reference.clone();
    next[1000..1010].copy_from_slice(b"0123456789");
    let ref_path = dir.join("reference");
    std::fs::write(&ref_path, &reference).expect("write reference");
    let patch_from = format!("--patch-from={}", ref_path.to_string_lossy());
    let patch = zstd::compress_patch(&next, &reference, 3).expect("patch");
    assert_eq!(run("zstd", &["-dc", "-q", &patch_from], &patch), next);
    let stream_size = format!("--stream-size={}", next.len());
    let theirs = run("zstd", &["-c", "-q", &stream_size, &patch_from], &next);
    assert_eq!(
        zstd::decompress_patch(&theirs, &reference, next.len()).expect("their patch"),
        next
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
