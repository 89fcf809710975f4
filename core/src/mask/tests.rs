//! The masker's API and the text algorithms, with golden outputs (hashes computed with
//! Python's hashlib/hmac).

use super::*;
use arrow::array::{
    AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, LargeStringArray, StringArray,
};
use arrow::datatypes::{Int32Type, Int64Type};

pub(super) const KEY: &[u8] = b"test-key";

/// Masks a single column `c` with `spec`.
pub(super) fn mask(spec: &str, array: ArrayRef) -> ArrayRef {
    let batch = RecordBatch::try_from_iter([("c", array)]).unwrap();
    let masker = Masker::parse_all(&[("c".to_string(), spec.to_string())], KEY).unwrap();
    masker.apply(&batch).unwrap().column(0).clone()
}

pub(super) fn text(array: &ArrayRef) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        _ => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
    }
}

pub(super) fn strs(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// Masks text values and returns the output text.
fn on_text(spec: &str, values: &[Option<&str>]) -> Vec<Option<String>> {
    text(&mask(spec, strs(values)))
}

fn owned(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

const ALICE_SHA256: &str = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";

#[test]
fn sha256_hashes_python_str_of_each_value() {
    for spec in ["hash", "sha256", "HASH", "Sha256"] {
        let out = on_text(spec, &[Some("alice"), None]);
        assert_eq!(out, owned(&[Some(ALICE_SHA256), None]), "{spec}");
    }
    // str(42), str(12.0), str(True)
    let ints = mask("hash", Arc::new(Int64Array::from(vec![42])));
    let floats = mask("hash", Arc::new(Float64Array::from(vec![12.0])));
    let bools = mask("hash", Arc::new(BooleanArray::from(vec![true])));
    assert_eq!(
        text(&ints)[0].as_deref(),
        Some("73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049")
    );
    assert_eq!(
        text(&floats)[0].as_deref(),
        Some("77c52f3feed5acdd119b1f8449d5ccc2d39be94bd0314d5b7302f36e20b6cea9")
    );
    assert_eq!(
        text(&bools)[0].as_deref(),
        Some("3cbc87c7681f34db4617feaa2c8801931bc5e42d8d0f560e756dd4cd92885f18")
    );
}

#[test]
fn md5_hashes_including_the_empty_string() {
    let out = on_text("md5", &[Some("alice"), Some(""), None]);
    assert_eq!(
        out,
        owned(&[
            Some("6384e2b2184bcbf58eccf10ca7a6563c"),
            Some("d41d8cd98f00b204e9800998ecf8427e"),
            None
        ])
    );
}

#[test]
fn hmac_uses_the_spec_key_or_default_key() {
    let out = on_text("hmac:secret", &[Some("alice"), None]);
    assert_eq!(
        out,
        owned(&[
            Some("4360c67bc81025114044578d7c4e8e0f02fd0cae99f22d603390e8f9dc9888f8"),
            None
        ])
    );
    for spec in ["hmac", "hmac:"] {
        let out = on_text(spec, &[Some("alice")]);
        assert_eq!(
            out[0].as_deref(),
            Some("68767957eb30ae7fd5038331f2bed3a92e3d1e7f69d7cdaa3c8cbf8f250e5f4a")
        );
    }
}

#[test]
fn redact_and_fixed_replace_nulls_too() {
    let input = [Some("a"), None, Some("")];
    assert_eq!(on_text("redact", &input), owned(&[Some("REDACTED"); 3]));
    assert_eq!(on_text("fixed", &input), owned(&[Some("MASKED"); 3]));
    assert_eq!(on_text("fixed:", &input), owned(&[Some("MASKED"); 3]));
    assert_eq!(on_text("fixed:n/a", &input), owned(&[Some("n/a"); 3]));
    let ints = mask("redact", Arc::new(Int64Array::from(vec![Some(1), None])));
    assert_eq!(ints.data_type(), &DataType::Utf8);
    assert_eq!(text(&ints), owned(&[Some("REDACTED"); 2]));
}

#[test]
fn stars_counts_characters_and_blanks_falsy_and_null() {
    let out = on_text("stars", &[Some("abc"), Some(""), None, Some("héllo")]);
    assert_eq!(
        out,
        owned(&[Some("***"), Some(""), Some(""), Some("*****")])
    );
    let ints = mask("stars", Arc::new(Int64Array::from(vec![0, 123, -5])));
    assert_eq!(text(&ints), owned(&[Some(""), Some("***"), Some("**")]));
    let bools = mask("stars", Arc::new(BooleanArray::from(vec![false, true])));
    assert_eq!(text(&bools), owned(&[Some(""), Some("****")]));
}

#[test]
fn email_keeps_domain_and_ends_of_local_part() {
    let out = on_text(
        "email",
        &[
            Some("john.doe@example.com"),
            Some("ab@x.org"),
            Some("abc@x.org"),
            Some("nodomain"),
            Some("a@b@c"),
            Some(""),
            None,
        ],
    );
    let expected = [
        Some("j******e@example.com"),
        Some("**@x.org"),
        Some("a*c@x.org"),
        Some("no****in"),
        Some("*@b@c"),
        Some(""),
        None,
    ];
    assert_eq!(out, owned(&expected));
}

#[test]
fn phone_keeps_first_three_digits() {
    let out = on_text(
        "phone",
        &[
            Some("+1-555-123-4567"),
            Some("5551234567"),
            Some("555-1234"),
            Some(""),
            None,
        ],
    );
    let expected = [
        Some("155-***-****"),
        Some("555-***-****"),
        Some("*******"),
        Some(""),
        None,
    ];
    assert_eq!(out, owned(&expected));
    // Falsy integers are kept (as text), others masked through str(v).
    let ints = mask("phone", Arc::new(Int64Array::from(vec![0, 5551234567])));
    assert_eq!(text(&ints), owned(&[Some("0"), Some("555-***-****")]));
}

#[test]
fn credit_card_keeps_last_four_digits() {
    let out = on_text(
        "credit_card",
        &[
            Some("4111-1111-1111-1111"),
            Some("4111 1111 1111"),
            Some("1234-5678"),
            Some(""),
            None,
        ],
    );
    let expected = [
        Some("************1111"),
        Some("********1111"),
        Some("********"),
        Some(""),
        None,
    ];
    assert_eq!(out, owned(&expected));
}

#[test]
fn ssn_needs_exactly_nine_digits() {
    let out = on_text(
        "ssn",
        &[
            Some("123-45-6789"),
            Some("123456789"),
            Some("12-345"),
            Some(""),
            None,
        ],
    );
    let expected = [
        Some("***-**-6789"),
        Some("***-**-6789"),
        Some("*****"),
        Some(""),
        None,
    ];
    assert_eq!(out, owned(&expected));
}

#[test]
fn partial_keeps_n_characters_at_each_end() {
    let out = on_text("partial:3", &[Some("abcdefghij"), Some("abcdef"), None]);
    assert_eq!(out, owned(&[Some("abc****hij"), Some("******"), None]));
    let out = on_text(
        "partial",
        &[Some("abcde"), Some("abcd"), Some(""), Some("ñandú!")],
    );
    assert_eq!(
        out,
        owned(&[Some("ab*de"), Some("****"), Some(""), Some("ña**ú!")])
    );
}

#[test]
fn first_letter_keeps_the_first_character() {
    let out = on_text(
        "first_letter",
        &[Some("alice"), Some("a"), Some("élan"), Some(""), None],
    );
    assert_eq!(
        out,
        owned(&[Some("a****"), Some("a"), Some("é***"), Some(""), None])
    );
}

fn masker(spec: &str, key: &[u8]) -> Masker {
    Masker::parse_all(&[("c".to_string(), spec.to_string())], key).unwrap()
}

fn apply_to(masker: &Masker, array: ArrayRef) -> ArrayRef {
    let batch = RecordBatch::try_from_iter([("c", array)]).unwrap();
    masker.apply(&batch).unwrap().column(0).clone()
}

#[test]
fn uuid_tokens_are_stable_per_key_and_uuid_shaped() {
    let input = || strs(&[Some("alice"), Some("bob"), Some("alice"), None]);
    let a = text(&apply_to(&masker("uuid", KEY), input()));
    let b = text(&apply_to(&masker("uuid", KEY), input()));
    let other = text(&apply_to(&masker("uuid", b"another-key"), input()));
    assert_eq!(a, b, "same key, same tokens (another process or replica)");
    assert_ne!(a[0], other[0], "another key, other tokens");
    assert_eq!(a[0], a[2]);
    assert_ne!(a[0], a[1]);
    assert_eq!(a[3], None);
    let token = a[0].clone().unwrap();
    let groups: Vec<&str> = token.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(groups[2].starts_with('4'), "version 4: {token}");
    assert!(
        "89ab".contains(&groups[3][..1]),
        "RFC 4122 variant: {token}"
    );
    assert!(token.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
}

#[test]
fn sequential_tokens_are_stable_positive_int64() {
    let input = || strs(&[Some("alice"), Some("bob"), Some("alice"), None]);
    let ints = |array: ArrayRef| {
        assert_eq!(array.data_type(), &DataType::Int64);
        array.as_primitive::<Int64Type>().iter().collect::<Vec<_>>()
    };
    let a = ints(apply_to(&masker("sequential", KEY), input()));
    let b = ints(apply_to(&masker("sequential", KEY), input()));
    let other = ints(apply_to(&masker("sequential", b"another-key"), input()));
    assert_eq!(a, b);
    assert_ne!(a[0], other[0]);
    assert_eq!(a[0], a[2]);
    assert_ne!(a[0], a[1]);
    assert_eq!(a[3], None);
    for v in a.iter().flatten().chain(other.iter().flatten()) {
        assert!((1..=999_999_999_999_999).contains(v), "{v}");
    }
    // Tokens follow str(v): the integer 7 and the text "7" share one.
    let from_int = ints(apply_to(
        &masker("sequential", KEY),
        Arc::new(Int64Array::from(vec![7])),
    ));
    let from_text = ints(apply_to(&masker("sequential", KEY), strs(&[Some("7")])));
    assert_eq!(from_int, from_text);
}

#[test]
fn random_text_is_alphanumeric_of_same_length_and_stable() {
    let input = [Some("héllo"), Some(""), None, Some("ab")];
    let a = on_text("random", &input);
    assert_eq!(a, on_text("random", &input));
    let first = a[0].clone().unwrap();
    assert_eq!(first.chars().count(), 5);
    assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(a[1].as_deref(), Some(""));
    assert_eq!(a[2], None);
    assert_eq!(a[3].as_ref().map(String::len), Some(2));
}

#[test]
fn nested_struct_field_is_masked_in_place() {
    let os = strs(&[Some("android"), Some("ios"), None]);
    let model: ArrayRef = Arc::new(StringArray::from(vec!["pixel", "iphone", "x"]));
    let device = StructArray::from(vec![
        (Arc::new(Field::new("os", DataType::Utf8, true)), os),
        (Arc::new(Field::new("model", DataType::Utf8, false)), model),
    ]);
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let batch = RecordBatch::try_from_iter([("id", ids), ("device", Arc::new(device) as ArrayRef)])
        .unwrap();
    let specs = [
        ("device.os".to_string(), "sequential".to_string()),
        ("device.model".to_string(), "first_letter".to_string()),
    ];
    let out = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap();
    assert_eq!(out.column(0), batch.column(0), "other columns untouched");
    let device = out.column(1).as_struct();
    let DataType::Struct(fields) = out.schema().field(1).data_type().clone() else {
        panic!("device is still a struct");
    };
    assert_eq!(
        fields[0].data_type(),
        &DataType::Int64,
        "schema has the new type"
    );
    assert_eq!(fields[1].data_type(), &DataType::Utf8);
    let os = device.column(0).as_primitive::<Int64Type>();
    assert_eq!(os.null_count(), 1);
    assert!(os.value(0) > 0);
    assert_eq!(
        text(device.column(1)),
        owned(&[Some("p****"), Some("i*****"), Some("x")])
    );
}

#[test]
fn a_missing_column_is_skipped() {
    let batch = RecordBatch::try_from_iter([("a", strs(&[Some("x")]))]).unwrap();
    for column in ["nope", "nope.deeper"] {
        let specs = [(column.to_string(), "redact".to_string())];
        let out = Masker::parse_all(&specs, KEY)
            .unwrap()
            .apply(&batch)
            .unwrap();
        assert_eq!(out, batch, "{column}");
    }
    let inner = StructArray::from(vec![(
        Arc::new(Field::new("b", DataType::Utf8, true)),
        strs(&[Some("x")]),
    )]);
    let batch = RecordBatch::try_from_iter([("a", Arc::new(inner) as ArrayRef)]).unwrap();
    let specs = [("a.zzz".to_string(), "redact".to_string())];
    let out = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap();
    assert_eq!(out, batch);
}

#[test]
fn a_dotted_top_level_name_wins_and_a_non_struct_parent_is_an_error() {
    let batch = RecordBatch::try_from_iter([
        ("a.b", strs(&[Some("secret")])),
        ("name", strs(&[Some("x")])),
    ])
    .unwrap();
    let specs = [("a.b".to_string(), "redact".to_string())];
    let masked = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap();
    assert_eq!(text(masked.column(0)), owned(&[Some("REDACTED")]));
    let specs = [("name.first".to_string(), "redact".to_string())];
    let err = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap_err();
    assert!(matches!(err, MaskError::NotAStruct { .. }), "{err}");
    assert!(
        err.to_string().contains("`name` is Utf8, not a struct"),
        "{err}"
    );
}

#[test]
fn parse_accepts_specs_case_insensitively_with_defaults() {
    let cases = [
        ("partial:3", Algorithm::Partial(3)),
        ("partial", Algorithm::Partial(2)),
        ("partial:", Algorithm::Partial(2)),
        ("HASH", Algorithm::Sha256),
        (" Sha256 ", Algorithm::Sha256),
        ("hmac:k", Algorithm::Hmac("k".into())),
        ("fixed:  spaced  ", Algorithm::Fixed("  spaced  ".into())),
        ("round", Algorithm::Round(10.0)),
        ("round:2.5", Algorithm::Round(2.5)),
        ("range", Algorithm::Range(100.0)),
        ("noise", Algorithm::Noise(0.1)),
        ("noise:0.25", Algorithm::Noise(0.25)),
        ("date_shift", Algorithm::DateShift(30)),
        ("DATE_SHIFT:7", Algorithm::DateShift(7)),
        ("Year_Only", Algorithm::YearOnly),
        ("credit_card", Algorithm::CreditCard),
    ];
    for (spec, expected) in cases {
        assert_eq!(Algorithm::parse(spec).unwrap(), expected, "{spec}");
    }
}

#[test]
fn parse_errors_name_the_algorithm_and_the_accepted_form() {
    let err = |spec: &str| Algorithm::parse(spec).unwrap_err();
    assert!(matches!(err("shuffle"), MaskError::UnknownAlgorithm { .. }));
    assert!(err("shuffle").to_string().contains("use one of hash"));
    assert!(matches!(err(""), MaskError::Empty));
    assert!(matches!(err("  "), MaskError::Empty));
    assert!(matches!(err("fixed:a:b"), MaskError::Malformed { .. }));
    for (spec, algorithm, form) in [
        ("partial:x", "partial", "`partial:<n>`"),
        ("partial:0", "partial", "`partial:<n>`"),
        ("round:0", "round", "`round:<n>`"),
        ("round:abc", "round", "`round:<n>`"),
        ("range:-5", "range", "`range:<n>`"),
        ("noise:0", "noise", "`noise:<p>`"),
        ("noise:NaN", "noise", "`noise:<p>`"),
        ("date_shift:0", "date_shift", "`date_shift:<days>`"),
        ("date_shift:1.5", "date_shift", "`date_shift:<days>`"),
        ("md5:x", "md5", "no parameter"),
    ] {
        let e = err(spec);
        let message = e.to_string();
        assert!(
            matches!(&e, MaskError::BadParameter { algorithm: a, .. } if *a == algorithm),
            "{spec}: {message}"
        );
        assert!(message.contains(form), "{spec}: {message}");
        assert!(message.contains(spec), "{spec}: {message}");
    }
}

#[test]
fn parse_all_reports_every_bad_spec_with_its_column() {
    let specs = [
        ("ok".to_string(), "hash".to_string()),
        ("a".to_string(), "nope".to_string()),
        ("b".to_string(), "partial:x".to_string()),
    ];
    let errors = Masker::parse_all(&specs, KEY).unwrap_err();
    let columns: Vec<&str> = errors.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(columns, ["a", "b"]);
    let ok = Masker::parse_all(&specs[..1], KEY).unwrap();
    assert_eq!(ok.rules()[0].algorithm, Algorithm::Sha256);
}

#[test]
fn hmac_keys_stay_out_of_debug_and_display() {
    let m = Masker::parse_all(&[("c".to_string(), "hmac:hunter2".to_string())], KEY).unwrap();
    assert!(!format!("{m:?}").contains("hunter2"));
    assert_eq!(Algorithm::Hmac("hunter2".into()).to_string(), "hmac");
    assert_eq!(Algorithm::Partial(3).to_string(), "partial:3");
}

#[test]
fn an_algorithm_that_cannot_read_the_type_names_column_and_type() {
    let batch = RecordBatch::try_from_iter([(
        "flag",
        Arc::new(BooleanArray::from(vec![true])) as ArrayRef,
    )])
    .unwrap();
    for spec in [
        "year_only",
        "round",
        "random",
        "date_shift",
        "noise",
        "range",
    ] {
        let specs = [("flag".to_string(), spec.to_string())];
        let err = Masker::parse_all(&specs, KEY)
            .unwrap()
            .apply(&batch)
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, MaskError::UnsupportedType { .. }),
            "{message}"
        );
        assert!(message.contains("`flag`"), "{message}");
        assert!(message.contains("Boolean"), "{message}");
    }
    let list =
        arrow::array::ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    let batch = RecordBatch::try_from_iter([("l", Arc::new(list) as ArrayRef)]).unwrap();
    let specs = [("l".to_string(), "hash".to_string())];
    let err = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap_err();
    assert!(err.to_string().contains("List"), "{err}");
}

#[test]
fn large_text_stays_large_and_dictionaries_are_read() {
    let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("alice"), None]));
    let out = mask("hash", large);
    assert_eq!(out.data_type(), &DataType::LargeUtf8);
    assert_eq!(text(&out), owned(&[Some(ALICE_SHA256), None]));
    let dict: DictionaryArray<Int32Type> = vec!["alice", "alice", "bob"].into_iter().collect();
    let out = mask("hash", Arc::new(dict));
    assert_eq!(out.data_type(), &DataType::Utf8);
    assert_eq!(text(&out)[1].as_deref(), Some(ALICE_SHA256));
}

#[test]
fn the_schema_carries_new_types_and_nullability() {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1, 2]))],
    )
    .unwrap();
    let specs = [("n".to_string(), "md5".to_string())];
    let out = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap();
    let field = out.schema().field(0).clone();
    assert_eq!(field.data_type(), &DataType::Utf8);
    assert!(!field.is_nullable());
    // year_only turns text that is no date into null: the field becomes nullable.
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("d", DataType::Utf8, false)])),
        vec![strs(&[Some("2024-01-02"), Some("soon")])],
    )
    .unwrap();
    let specs = [("d".to_string(), "year_only".to_string())];
    let out = Masker::parse_all(&specs, KEY)
        .unwrap()
        .apply(&batch)
        .unwrap();
    assert!(out.schema().field(0).is_nullable());
    assert_eq!(out.column(0).null_count(), 1);
}

#[test]
fn a_hand_built_rule_with_a_bad_parameter_is_refused_not_a_panic() {
    let batch =
        RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![5])) as ArrayRef)])
            .unwrap();
    for algorithm in [
        Algorithm::Range(0.0),
        Algorithm::Round(f64::NAN),
        Algorithm::Partial(0),
        Algorithm::DateShift(-1),
    ] {
        let rule = MaskRule {
            column: "n".to_string(),
            algorithm,
        };
        let err = Masker::new(vec![rule], KEY).apply(&batch).unwrap_err();
        assert!(matches!(err, MaskError::BadParameter { .. }), "{err}");
    }
}
