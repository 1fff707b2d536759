//! The two rules that keep a native panic from aborting the Node process, checked on the
//! parsed sources (comments and strings cannot satisfy them):
//! - every `#[napi]` function carries `catch_unwind`: without it napi-rs aborts the whole
//!   process on a panic in a synchronous export;
//! - every hand-registered `extern "C"` callback is declared with `raw_call.rs`'s
//!   `raw_fn!`, which runs its body through `raw_call` (panic and failure to a thrown
//!   error with a code): no bare `extern` function, and no other macro that writes one.

use std::fs;
use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::visit::{self, Visit};

/// The file and macro allowed to write `extern` functions.
const RAW_CALL_FILE: &str = "raw_call.rs";
const RAW_FN: &str = "raw_fn";

#[derive(Default)]
struct Findings {
    napi_functions: usize,
    napi_without_catch_unwind: Vec<String>,
    raw_fn_uses: usize,
    raw_fn_definitions: usize,
    bare_extern_fns: Vec<String>,
    other_extern_macros: Vec<String>,
}

struct Checker<'a> {
    file: &'a str,
    findings: &'a mut Findings,
}

impl Checker<'_> {
    fn check_napi(&mut self, attrs: &[syn::Attribute], name: &syn::Ident) {
        for attr in attrs.iter().filter(|a| a.path().is_ident("napi")) {
            self.findings.napi_functions += 1;
            let args = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => Default::default(),
            };
            let catches = args.into_iter().any(|token| match token {
                proc_macro2::TokenTree::Ident(ident) => ident == "catch_unwind",
                _ => false,
            });
            if !catches {
                let at = format!("{}: fn {name}", self.file);
                self.findings.napi_without_catch_unwind.push(at);
            }
        }
    }

    fn check_abi(&mut self, sig: &syn::Signature) {
        if sig.abi.is_some() {
            let at = format!("{}: fn {}", self.file, sig.ident);
            self.findings.bare_extern_fns.push(at);
        }
    }

    /// Macro tokens are not items, so an `extern fn` inside one is found by its keyword.
    fn writes_extern(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "extern",
            proc_macro2::TokenTree::Group(group) => Self::writes_extern(group.stream()),
            _ => false,
        })
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.check_napi(&item.attrs, &item.sig.ident);
        self.check_abi(&item.sig);
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.check_napi(&item.attrs, &item.sig.ident);
        self.check_abi(&item.sig);
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        if !item.mac.path.is_ident("macro_rules") {
            // An invocation: `visit_macro` looks at it.
            return visit::visit_item_macro(self, item);
        }
        let name = item.ident.as_ref().map(ToString::to_string);
        if self.file == RAW_CALL_FILE && name.as_deref() == Some(RAW_FN) {
            self.findings.raw_fn_definitions += 1;
            // The one macro allowed to write an `extern fn` must hand its body to `raw_call`.
            let body = item.mac.tokens.to_string();
            assert!(
                body.contains("raw_call :: raw_call"),
                "raw_fn! no longer runs its body through raw_call: {body}"
            );
        } else if Checker::writes_extern(item.mac.tokens.clone()) {
            let at = format!("{}: macro {}", self.file, name.unwrap_or_default());
            self.findings.other_extern_macros.push(at);
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if mac.path.is_ident(RAW_FN) {
            self.findings.raw_fn_uses += 1;
        } else if Checker::writes_extern(mac.tokens.clone()) {
            let what = mac.path.to_token_stream().to_string();
            let at = format!("{}: {what}!", self.file);
            self.findings.other_extern_macros.push(at);
        }
        visit::visit_macro(self, mac);
    }
}

fn check(file: &str, source: &str, findings: &mut Findings) {
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("parse {file}: {e}"));
    Checker { file, findings }.visit_file(&parsed);
}

fn sources() -> Vec<(String, String)> {
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(&src).expect("under src");
                let text = fs::read_to_string(&path).expect("read file");
                files.push((name.display().to_string(), text));
            }
        }
    }
    files
}

fn check_crate() -> Findings {
    let mut findings = Findings::default();
    for (file, text) in sources() {
        check(&file, &text, &mut findings);
    }
    findings
}

#[test]
fn every_napi_function_catches_unwind() {
    let findings = check_crate();
    assert!(findings.napi_functions > 0, "no #[napi] functions found");
    assert!(
        findings.napi_without_catch_unwind.is_empty(),
        "#[napi] functions without catch_unwind: {:?}",
        findings.napi_without_catch_unwind
    );
}

#[test]
fn every_raw_callback_is_declared_with_raw_fn() {
    let findings = check_crate();
    assert_eq!(
        findings.raw_fn_definitions, 1,
        "raw_fn! not found in raw_call.rs"
    );
    assert!(findings.raw_fn_uses > 0, "no raw_fn! callbacks found");
    assert!(
        findings.bare_extern_fns.is_empty(),
        "extern functions not declared with raw_fn!: {:?}",
        findings.bare_extern_fns
    );
    assert!(
        findings.other_extern_macros.is_empty(),
        "macros other than raw_fn! writing extern functions: {:?}",
        findings.other_extern_macros
    );
}

/// The checks above must be able to fail: a bare callback is found however it is
/// commented or whatever its body calls.
#[test]
fn a_bare_extern_callback_is_reported() {
    let source = r#"
        // raw_call(env, || is only a comment here
        unsafe extern "C" fn raw_bare(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
            /* raw_call(env, || */
            let _ = "raw_call(env, ||";
            std::ptr::null_mut()
        }
        impl Thing {
            extern "C" fn method_callback() {}
        }
        fn outer() {
            extern fn nested() {}
        }
        macro_rules! my_callback {
            ($name:ident) => { unsafe extern "C" fn $name() {} };
        }
        raw_fn!(raw_ok, 0, |env, [], _handle| raw_call::undefined());
        #[napi]
        pub fn forgets_catch_unwind() {}
        #[napi(js_name = "catch_unwind")]
        pub fn names_it_only() {}
        #[napi(catch_unwind)]
        pub fn fine() {}
    "#;
    let mut findings = Findings::default();
    check("example.rs", source, &mut findings);
    assert_eq!(
        findings.bare_extern_fns,
        [
            "example.rs: fn raw_bare",
            "example.rs: fn method_callback",
            "example.rs: fn nested"
        ]
    );
    assert_eq!(
        findings.other_extern_macros,
        ["example.rs: macro my_callback"]
    );
    assert_eq!(findings.raw_fn_uses, 1);
    assert_eq!(findings.napi_functions, 3);
    assert_eq!(
        findings.napi_without_catch_unwind,
        [
            "example.rs: fn forgets_catch_unwind",
            "example.rs: fn names_it_only"
        ]
    );
}
