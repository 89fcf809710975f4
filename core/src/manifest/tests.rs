//! Manifest parsing: the current form, placeholders, knobs and problems.
use super::*;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    match name {
        "USER_X" => Some("alice".into()),
        _ => None,
    }
}

const GOOD: &str = r#"
name: demo
version: v1alpha
type: nilus
spec:
  type: stream
  compute: runnable-default
  source:
    address: "generator://?count=10&user={USER_X}"
    options:
      run-in-loop: false
      batch_size: 500
      batch_timeout: 0.5
  sink:
    address: /tmp/weir
    options:
      dest_table: raw.events
"#;

#[test]
fn parses_the_current_form() {
    let p = parse(GOOD, &env).unwrap();
    assert_eq!(p.name, "demo");
    assert_eq!(p.source.scheme, "generator");
    assert_eq!(p.source.address, "generator://?count=10&user=alice");
    assert_eq!(p.sink.scheme, "file");
    assert!(!p.run_in_loop);
    assert_eq!(p.limits.max_records, 500);
    assert_eq!(p.limits.timeout, Duration::from_millis(500));
    assert!(
        !p.source.options.contains_key("batch_size"),
        "core keys are not passed on"
    );
    assert_eq!(p.sink.options["dest_table"], "raw.events");
}

#[test]
fn reports_every_problem_with_its_path() {
    let text = r#"
type: flow
spec:
  type: batch
  schedule: {crons: ["* * * * *"]}
  source:
    address: "kafka://?bootstrap_servers={NOPE}"
    options: {batch_size: -3}
  sink: {}
"#;
    let e = parse(text, &env).unwrap_err();
    let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "name",
            "type",
            "spec.type",
            "spec.schedule",
            "spec.source.address",
            "spec.sink.address",
            "spec.source.options.batch_size"
        ],
        "{e}"
    );
    assert!(e.to_string().contains("`NOPE` is not set"));
}

#[test]
fn the_manifest_wins_over_run_in_loop_env() {
    let with_env = |n: &str| match n {
        "RUN_IN_LOOP" => Some("true".to_string()),
        other => env(other),
    };
    assert!(!parse(GOOD, &with_env).unwrap().run_in_loop);
    let no_flag = GOOD.replace("      run-in-loop: false\n", "");
    assert!(parse(&no_flag, &with_env).unwrap().run_in_loop);
}

#[test]
fn knob_in_both_places_must_agree() {
    let text = GOOD.replace("count=10", "count=10&batch_size=7");
    let e = parse(&text, &env).unwrap_err();
    assert_eq!(e.problems[0].path, "spec.source.options.batch_size");
}

#[test]
fn plain_paths_and_file_uris_are_files() {
    assert_eq!(scheme_of("/data/tables"), "file");
    assert_eq!(scheme_of("relative/dir"), "file");
    assert_eq!(scheme_of("file:///data"), "file");
    assert_eq!(scheme_of("NATS+JetStream://h:4222"), "nats+jetstream");
}

fn corpus_env(name: &str) -> Option<String> {
    match name {
        "KAFKA_USER" => Some("svc".into()),
        "KAFKA_PASS" => Some("s3cret".into()),
        "NATS_USERNAME" => Some("weir".into()),
        "NATS_PASSWORD" => Some("pw".into()),
        _ => None,
    }
}

fn corpus(dir: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/manifests")
        .join(dir);
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn good_corpus_forms_of_one_pipeline_normalise_alike() {
    let good = corpus("good");
    assert!(good.len() >= 7);
    let mut groups: std::collections::BTreeMap<String, Vec<(String, Pipeline)>> =
        Default::default();
    for (name, text) in good {
        let p = parse(&text, &corpus_env).unwrap_or_else(|e| panic!("{name}: {e}"));
        let group = name.split('-').next().unwrap().to_string();
        groups.entry(group).or_default().push((name, p));
    }
    assert_eq!(groups.len(), 2, "kafka and nats");
    for (group, members) in &groups {
        let (first_name, first) = &members[0];
        for (name, p) in &members[1..] {
            assert_eq!(p, first, "{group}: {name} differs from {first_name}");
        }
    }
    let kafka = &groups["kafka"][0].1;
    assert!(kafka.run_in_loop);
    assert_eq!(kafka.limits.max_records, 3000);
    assert_eq!(kafka.source.options["source_table"], "orders");
    assert!(
        !kafka.source.options.contains_key("mask"),
        "core keys are not passed to the plugin"
    );
    assert_eq!(kafka.transform.mask.len(), 2);
    assert!(kafka.transform.decode.nested_as_text);
    assert_eq!(kafka.sink.options["dest_table"], "raw.orders");
    let nats = &groups["nats"][0].1;
    assert_eq!(nats.limits.max_records, 100);
    assert_eq!(nats.limits.timeout, Duration::from_secs(10));
    assert!(nats.run_in_loop);
    assert!(nats.source.address.contains("weir:pw@"));
    assert_eq!(
        nats.transform.dead_letter,
        Some(("/data/lake/dead/events".to_string(), "file".to_string()))
    );
}

#[test]
fn broken_corpus_reports_every_expected_problem_with_its_path() {
    let broken = corpus("broken");
    assert!(broken.len() >= 20, "{}", broken.len());
    for (name, text) in broken {
        let expected: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let (path, msg) = l.split_once(": ").unwrap_or((l, ""));
                (path.to_string(), msg.trim().to_string())
            })
            .collect();
        assert!(!expected.is_empty(), "{name} has no `# expect:` lines");
        let err = parse(&text, &corpus_env).expect_err(&name);
        for (path, msg) in &expected {
            assert!(
                err.problems
                    .iter()
                    .any(|p| &p.path == path && p.message.contains(msg.as_str())),
                "{name}: no problem `{path}: {msg}` in\n{err}"
            );
        }
    }
}

/// A tiny deterministic generator of YAML-ish documents built from manifest words, so random
/// documents reach deep into the parser.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "name",
            "type",
            "spec",
            "source",
            "sink",
            "address",
            "options",
            "run_in_loop",
            "run-in-loop",
            "batch_size",
            "batch_timeout",
            "timeout",
            "mask",
            "type_hints",
            "format",
            "dead_letter",
            "on_error",
            "max_table_nesting",
            "schedule",
            "workflow",
            "dag",
            "stack",
            "stackSpec",
            "use",
            "envs",
            "primary_key",
            "incremental_strategy",
            "dest_table",
            "version",
            "{X}",
        ];
        const WORDS: &[&str] = &[
            "nilus",
            "stream",
            "workflow",
            "nilus:1.0",
            "generator://?count=1",
            "kafka://?batch_size=x",
            "/tmp/t",
            "hash",
            "partial:3",
            "round:0",
            "merge",
            "json",
            "raw",
            "fail",
            "0",
            "-1",
            "{UNSET}",
            "${A",
            "true",
            "",
            "nats+jetstream://u:p@h?subject=a&batch_size=9999999999999999999999",
            "dataos://d?acl=rw",
        ];
        match (self.next() % 7, depth) {
            (0..=2, d) if d < 5 => {
                let n = self.next() % 5;
                Value::Object(
                    (0..n)
                        .map(|_| (self.pick(KEYS).to_string(), self.value(d + 1)))
                        .collect(),
                )
            }
            (3, d) if d < 5 => {
                Value::Array((0..self.next() % 3).map(|_| self.value(d + 1)).collect())
            }
            (4, _) => Value::from((self.next() as i64) >> (self.next() % 64)),
            (5, _) => Value::Bool(self.next().is_multiple_of(2)),
            _ => Value::String(self.pick(WORDS).to_string()),
        }
    }
}

#[test]
fn the_parser_never_panics_on_random_documents() {
    let started = std::time::Instant::now();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut n = 0;
    while n < 20_000 && started.elapsed() < Duration::from_secs(5) {
        let mut doc = g.value(0);
        if n % 3 == 0 {
            // Start from a valid shape so the deeper checks run too.
            doc = serde_json::json!({"name": "x", "type": g.pick(&["nilus", "workflow"]), "spec": doc, "workflow": {"dag": [{"spec": {"stack": "nilus:1.0", "stackSpec": g.value(1)}}]}});
        }
        let text = serde_yaml::to_string(&doc).unwrap();
        let result = std::panic::catch_unwind(|| parse(&text, &|_| None));
        assert!(result.is_ok(), "parse panicked on:\n{text}");
        n += 1;
    }
    assert!(n >= 1_000, "only {n} documents in the time allowed");
}

#[test]
fn yaml_merge_keys_and_x_blocks_work_as_in_kubernetes_manifests() {
    let text = r#"
x-common: &common
  batch_size: 250
  run_in_loop: false
name: merged
type: nilus
spec:
  type: stream
  source:
    address: generator://?count=10
    options:
      <<: *common
      batch_timeout: 3
  sink:
    address: /tmp/t
"#;
    let p = parse(text, &env).unwrap();
    assert_eq!(p.limits.max_records, 250);
    assert_eq!(p.limits.timeout, Duration::from_secs(3));
}

#[test]
fn batch_limits_are_bounded() {
    for (knob, value) in [
        ("batch_size", "1000000000000"),
        ("batch_size", "0"),
        ("max_batch_bytes", "1000000000000000"),
        ("max_batch_bytes", "10"),
    ] {
        let text = GOOD.replace("count=10", &format!("count=10&{knob}={value}"));
        let text = text.replace("      batch_size: 500\n", "");
        let e = parse(&text, &env).unwrap_err();
        let p = e
            .problems
            .iter()
            .find(|p| p.path == format!("spec.source.options.{knob}"))
            .unwrap_or_else(|| panic!("{knob}={value}: {e}"));
        assert!(p.message.contains("from"), "{}", p.message);
    }
}

#[test]
fn the_legacy_form_accepts_dataos_secrets_and_hints_its_own_keys() {
    let text = r#"
name: kafka-batch
version: v1
type: workflow
workflow:
  dag:
    - name: kafka-aws
      spec:
        stack: nilus:1.0
        compute: runnable-default
        dataosSecrets:
          - name: kafka-creds
            allKeys: true
            consumptionType: envVars
        stackSpec:
          source:
            address: generator://?count=10
            options:
              run-in-loop: false
          sink:
            address: /tmp/t
"#;
    assert!(parse(text, &env).is_ok(), "{:?}", parse(text, &env).err());
    let bad = text
        .replace("allKeys: true", "allKeys: yes please")
        .replace("compute:", "computee:");
    let e = parse(&bad, &env).unwrap_err();
    let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
    assert!(
        paths.contains(&"workflow.dag[0].spec.dataosSecrets[0].allKeys"),
        "{e}"
    );
    let typo = e
        .problems
        .iter()
        .find(|p| p.path == "workflow.dag[0].spec.computee")
        .expect("the typo");
    assert!(typo.message.contains("`compute`"), "{}", typo.message);
    let far = parse(&text.replace("compute:", "zzzzzzzzzzzz:"), &env).unwrap_err();
    let hint = &far.problems[0].message;
    assert!(
        hint.contains("stackSpec") && hint.contains("dataosSecrets"),
        "{hint}"
    );
}

#[test]
fn max_retry_time_bounds_the_retries_and_stays_with_the_engine() {
    let text = GOOD.replace(
        "      batch_size: 500\n",
        "      batch_size: 500\n      max_retry_time: 30\n",
    );
    let p = parse(&text, &env).unwrap();
    assert_eq!(p.retry.max_wait, Some(Duration::from_secs(30)));
    assert!(!p.source.options.contains_key("max_retry_time"));
    assert_eq!(parse(GOOD, &env).unwrap().retry.max_wait, None);
    let bad = GOOD.replace("      batch_size: 500\n", "      max_retry_time: -1\n");
    let e = parse(&bad, &env).unwrap_err().to_string();
    assert!(e.contains("spec.source.options.max_retry_time"), "{e}");
}

#[test]
fn isolation_is_process_none_or_the_hosts_default() {
    use crate::manifest::Isolation;
    let with = |v: &str| {
        GOOD.replace(
            "      batch_size: 500\n",
            &format!("      batch_size: 500\n      isolation: {v}\n"),
        )
    };
    let p = parse(&with("process"), &env).unwrap();
    assert_eq!(p.isolation, Some(Isolation::Process));
    assert!(!p.source.options.contains_key("isolation"));
    assert_eq!(
        parse(&with("none"), &env).unwrap().isolation,
        Some(Isolation::InProcess)
    );
    assert_eq!(parse(GOOD, &env).unwrap().isolation, None);
    let e = parse(&with("thread"), &env).unwrap_err().to_string();
    assert!(
        e.contains("spec.source.options.isolation") && e.contains("`thread`"),
        "{e}"
    );
}
