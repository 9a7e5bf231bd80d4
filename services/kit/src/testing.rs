//! Test support shared by every crate: where the real backend servers for conformance tests are.
//!
//! A test that needs a server asks [`backend_url`]. Without the variable the test is skipped
//! with a message, so `cargo test` works on a machine with only Rust; CI sets
//! `DZINZA_REQUIRE_BACKENDS` (e.g. `postgres,mongodb`) so a missing server fails instead of skipping.

/// The URL in `var` (e.g. `DZINZA_TEST_POSTGRES_URL`), or `None` with a note on stderr.
///
/// # Panics
/// When `DZINZA_REQUIRE_BACKENDS` names `backend` (or is `all`) and `var` is unset, so CI can never
/// pass by skipping.
pub fn backend_url(backend: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("DZINZA_REQUIRE_BACKENDS").unwrap_or_default();
            let required = required
                .split(',')
                .map(str::trim)
                .any(|b| b == backend || b == "all");
            assert!(
                !required,
                "{var} is not set but DZINZA_REQUIRE_BACKENDS requires {backend}"
            );
            eprintln!("skipped: {var} is not set (run `cargo xtask test` to start {backend})");
            None
        }
    }
}
