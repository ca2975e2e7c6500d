//! Compile-time behaviour of the derives: what compiles, and the error each mistake
//! gives (`.stderr` files blessed with `TRYBUILD=overwrite cargo test -p minke --test ui`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
