//! Every `#[napi]` function must carry `catch_unwind`: without it napi-rs aborts the
//! whole Node process on a panic in a synchronous export.

use std::fs;
use std::path::Path;

#[test]
fn every_napi_function_catches_unwind() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut exports = 0;
    let mut offenders = Vec::new();
    for entry in fs::read_dir(&src).expect("read src") {
        let path = entry.expect("entry").path();
        let text = fs::read_to_string(&path).expect("read file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let attr = line.trim();
            if !attr.starts_with("#[napi") {
                continue;
            }
            let item = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
                .unwrap_or_default();
            if item.starts_with("pub fn") || item.starts_with("fn") {
                exports += 1;
                if !attr.contains("catch_unwind") {
                    offenders.push(format!("{}:{}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(exports > 0, "no #[napi] functions found under {src:?}");
    assert!(
        offenders.is_empty(),
        "#[napi] functions without catch_unwind: {offenders:?}"
    );
}
