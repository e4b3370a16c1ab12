//! Compile-time behaviour of `#[derive(IotService)]` and `#[commands]`:
//! `ui/pass` programs compile and run their own assertions, each
//! `ui/fail` program fails with exactly the error in its `.stderr`.
//!
//! One test function, so trybuild builds the dependencies once.
//! Regenerate the expected output with `TRYBUILD=overwrite`, then read it.

#[test]
fn derive_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
