//! The order in which docs/guide.md introduces things: what a newcomer needs first comes
//! first.

use crate::excerpts::{text, GUIDE};

/// The byte offset of the first `needle` in the guide.
fn first(guide: &str, needle: &str) -> usize {
    guide
        .find(needle)
        .unwrap_or_else(|| panic!("{GUIDE} never mentions {needle}"))
}

#[test]
fn the_guide_shows_wait_for_before_wait_until() {
    // `wait_for` takes an async check (a call to an actor, typically); `wait_until` a plain
    // predicate, which a test of actors needs less often.
    let guide = text(GUIDE);
    assert!(first(&guide, "wait_for") < first(&guide, "wait_until"));
}

#[test]
fn the_guide_s_code_waits_without_sleeping() {
    // A sleep stands in for a condition the test should wait for by name.
    let guide = text(GUIDE);
    assert!(!guide.contains("sleep("), "{GUIDE} shows a sleep");
}
