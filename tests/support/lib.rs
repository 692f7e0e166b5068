//! The root package's library target, which cargo requires of a package whose only
//! purpose is the workspace-level tests in `tests/`. It holds nothing: the helpers those
//! tests (and every crate's tests) share live in `crates/theater-testkit`.
