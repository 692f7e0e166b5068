//! The soak benchmark's code path, bounded for CI: 50,000 deliveries recorded on the
//! recorder thread, resident memory sampled, the whole trace replayed to the same chain
//! head. The 10-million run is `cargo bench -p theater-runtime --bench soak`.

use theater_runtime::bench_support::soak;

#[test]
fn a_bounded_soak_records_and_replays_to_the_same_head() {
    let component = theater_testkit::fixture_component("ping-pong");
    let path = std::env::temp_dir().join(format!("theater-soak-test-{}.trace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut rows = Vec::new();
    let r = soak(&component, 50_000, &path, 10, |row| rows.push(row.clone())).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(r.deliveries, 50_000 + 1, "every hit and the serve");
    assert_eq!(r.replay_head, r.head);
    assert!(rows.len() >= 10, "a row per tenth: {rows:?}");
    assert!(r.events > 2 * r.deliveries);
    assert!(r.peak_rss_bytes > 0);
}
