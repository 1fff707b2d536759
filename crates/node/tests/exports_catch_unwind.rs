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

/// Hand-registered callbacks (`raw_call.rs`) have no macro to catch panics for them: each
/// must run its body through `raw_call`, whose `contain` turns a panic into a JS error.
#[test]
fn every_raw_callback_runs_through_raw_call() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut callbacks = 0;
    let mut offenders = Vec::new();
    for entry in fs::read_dir(&src).expect("read src") {
        let path = entry.expect("entry").path();
        let text = fs::read_to_string(&path).expect("read file");
        for (start, _) in text.match_indices("extern \"C\" fn ") {
            let body_start = text[start..].find('{').map(|i| start + i).unwrap_or(start);
            // The body: up to the next closing brace at column 0.
            let body_end = text[body_start..]
                .find("\n}")
                .map(|i| body_start + i)
                .unwrap_or(text.len());
            callbacks += 1;
            // `$env` inside a macro that declares callbacks (cache.rs's `raw_fn!`).
            let body = &text[body_start..body_end];
            if !body.contains("raw_call(env, ||") && !body.contains("raw_call($env, ||") {
                let line = text[..start].lines().count() + 1;
                offenders.push(format!("{}:{line}", path.display()));
            }
        }
    }
    assert!(
        callbacks > 0,
        "no extern \"C\" callbacks found under {src:?}"
    );
    assert!(
        offenders.is_empty(),
        "extern \"C\" callbacks not wrapped in raw_call: {offenders:?}"
    );
}
