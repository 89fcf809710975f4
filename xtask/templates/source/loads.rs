//! Loads the built library as the weir host does (`weir_sdk::testing`) and runs the source:
//! every id once, the position at the end, and a resume from a stored position.

use weir_sdk::testing::PluginUnderTest;
use weir_sdk::{Position, SourceConfig};

// The plugin's name (its scheme too) and its library's crate name.
const NAME: &str = "{{name}}";
const LIB: &str = "{{crate_ident}}";

fn source(count: i64) -> SourceConfig {
    let options = weir_sdk::serde_json::json!({"count": count, "max_per_poll": 7});
    SourceConfig {
        address: format!("{NAME}://"),
        options: options.as_object().cloned().unwrap_or_default(),
        batch_size: 1000,
        ..SourceConfig::default()
    }
}

fn ids(run: &weir_sdk::testing::Collected) -> Vec<i64> {
    use weir_sdk::arrow::array::AsArray;
    use weir_sdk::arrow::datatypes::Int64Type;
    run.batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[test]
fn the_library_loads_and_describes_its_source() {
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    assert_eq!(plugin.info().name, NAME);
    assert_eq!(plugin.info().abi_version, weir_sdk::ABI_VERSION);
    assert!(plugin.info().connectors.iter().any(|c| c.scheme == NAME));
}

#[test]
fn runs_to_the_end_and_resumes_from_a_stored_position() {
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    let run = plugin.source_with(source(20)).unwrap().run_to_end().unwrap();
    assert_eq!(ids(&run), (0..20).collect::<Vec<_>>());
    assert_eq!(run.position(NAME), Some(20));
    assert!(run.batches.iter().all(|b| b.num_rows() <= 7));

    let resumed = plugin
        .source_with(source(20))
        .unwrap()
        .resume_to_end(&[Position::new(NAME, 15)])
        .unwrap();
    assert_eq!(ids(&resumed), (15..20).collect::<Vec<_>>());
}

#[test]
fn bad_options_are_a_config_error() {
    let plugin = PluginUnderTest::built(LIB).expect("load the built library");
    let err = plugin.source_with(source(-3)).unwrap_err();
    assert_eq!(err.kind, weir_sdk::ErrorKind::Config);
    assert!(err.message.contains("count"), "{err}");
}
