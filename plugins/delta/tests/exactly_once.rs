//! The Delta sink's exactly-once rule through the built library, in this process
//! (`weir_sdk::testing`, no weir binary): the positions stored with a batch are read back by a
//! new instance, and a second writer whose stored positions were moved by the first drops its
//! batch with a positions-moved error, leaving the table as the first writer left it.

use weir_sdk::testing::{ids, PluginUnderTest};
use weir_sdk::{ErrorKind, Position, SinkConfig};

fn plugin() -> PluginUnderTest {
    PluginUnderTest::built("weir_plugin_delta")
        .expect("load the built library")
        .with_pipeline("orders")
}

fn sink_config(dir: &std::path::Path) -> SinkConfig {
    SinkConfig {
        address: format!("file://{}", dir.display()),
        ..SinkConfig::default()
    }
}

#[test]
fn stored_versions_are_read_back_and_a_moved_key_drops_the_batch() {
    let dir = tempfile::Builder::new()
        .prefix("weir-delta-eo-")
        .tempdir()
        .expect("scratch");
    let table = dir.path().join("t");
    let p = plugin();

    let mut first = p.sink_with(sink_config(&table)).expect("first sink");
    assert_eq!(first.stored_positions(&["orders/0"]).unwrap(), vec![]);
    first
        .write_and_commit(ids(0..100), &[Position::new("orders/0", 100)])
        .unwrap();

    // A new instance reads what the first stored.
    let mut second = p.sink_with(sink_config(&table)).expect("second sink");
    assert_eq!(
        second.stored_positions(&["orders/0"]).unwrap(),
        vec![Position::new("orders/0", 100)]
    );

    // The first writer goes on; the second, which last saw 100, must not write over it.
    first
        .write_and_commit(ids(100..200), &[Position::new("orders/0", 200)])
        .unwrap();
    let err = second
        .write_and_commit(ids(100..200), &[Position::new("orders/0", 200)])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::PositionsMoved, "{err}");
    assert!(
        err.message
            .contains("this process last saw 100, the table has 200"),
        "{err}"
    );

    // After re-reading the stored positions the second writer may go on from them.
    assert_eq!(
        second.stored_positions(&["orders/0"]).unwrap(),
        vec![Position::new("orders/0", 200)]
    );
    second
        .write_and_commit(ids(200..300), &[Position::new("orders/0", 300)])
        .unwrap();
    let mut third = p.sink_with(sink_config(&table)).expect("third sink");
    assert_eq!(
        third.stored_positions(&["orders/0"]).unwrap(),
        vec![Position::new("orders/0", 300)]
    );
    for s in [first, second, third] {
        s.close().unwrap();
    }
}
