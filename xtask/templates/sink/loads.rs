//! Loads the built library as the weir host does (`weir_sdk::testing`) and feeds the sink
//! batches: every row lands in the file once, in order.

use weir_sdk::testing::{self, PluginUnderTest};
use weir_sdk::{Position, SinkConfig};

// The plugin's name (its scheme too) and its library's crate name.
const NAME: &str = "{{name}}";
const LIB: &str = "{{crate_ident}}";

fn sink_at(path: &std::path::Path) -> SinkConfig {
    let options = weir_sdk::serde_json::json!({ "path": path });
    SinkConfig {
        address: format!("{NAME}://"),
        options: options.as_object().cloned().unwrap_or_default(),
    }
}

#[test]
fn the_library_loads_and_describes_its_sink() {
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    assert_eq!(plugin.info().name, NAME);
    assert_eq!(plugin.info().abi_version, weir_sdk::ABI_VERSION);
    assert!(plugin.info().connectors.iter().any(|c| c.scheme == NAME));
}

#[test]
fn committed_batches_are_in_the_file_in_order() {
    let dir = std::env::temp_dir().join(format!("{LIB}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&path);
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    let mut sink = plugin.sink_with(sink_at(&path)).unwrap();
    sink.write_and_commit(testing::ids(0..3), &[Position::new("test", 3)])
        .unwrap();
    sink.write_and_commit(testing::ids(3..5), &[Position::new("test", 5)])
        .unwrap();
    sink.close().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..5).map(|i| format!("{{\"id\":{i}}}")).collect();
    assert_eq!(lines, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_as_path_is_a_config_error() {
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    let err = plugin.sink_with(sink_at(&std::env::temp_dir())).unwrap_err();
    assert_eq!(err.kind, weir_sdk::ErrorKind::Config);
}
