//! `source.options.format` and where its schemas come from: `schema_registry_url` (with
//! `schema_registry_username`/`_password` or `_token`, and `schema_registry_ca`) for
//! `format: avro | protobuf | json_schema`, else `avro_schema` for Avro or `proto_descriptor`
//! and `proto_message` for Protobuf (`json_schema` needs the registry); and `key_format`. Each problem names its key path.

use super::shaping::{text, BASE};
use super::{problem, Problem};
use crate::decode::keys::KeyFormat;
use crate::decode::registry::{Redacted, RegistryConfig};
use crate::decode::{AvroSpec, DecodeConfig, Format, ProtoSpec};
use serde_json::{Map, Value};

/// The formats, as `format` names them.
const FORMATS: [(&str, Format); 5] = [
    ("json", Format::Json),
    ("avro", Format::Avro),
    ("protobuf", Format::Protobuf),
    ("json_schema", Format::JsonSchema),
    ("raw", Format::Raw),
];

/// Reads `format` and its schema options into `decode`.
pub(super) fn parse(
    options: &Map<String, Value>,
    decode: &mut DecodeConfig,
    problems: &mut Vec<Problem>,
) {
    if let Some(f) = format(options, problems) {
        decode.format = f;
    }
    let get = |k: &str| {
        options
            .get(k)
            .and_then(text)
            .filter(|s| !s.trim().is_empty())
    };
    // Each option with the formats that read it.
    let owners: [(&str, &[Format]); 4] = [
        (
            "schema_registry_url",
            &[Format::Avro, Format::Protobuf, Format::JsonSchema],
        ),
        ("avro_schema", &[Format::Avro]),
        ("proto_descriptor", &[Format::Protobuf]),
        ("proto_message", &[Format::Protobuf]),
    ];
    for (key, formats) in owners {
        let for_keys = key == "schema_registry_url"
            && options
                .get("key_format")
                .and_then(text)
                .is_some_and(|k| matches!(k.trim(), "avro" | "protobuf"));
        if get(key).is_some() && !formats.contains(&decode.format) && !for_keys {
            let names: Vec<&str> = FORMATS
                .iter()
                .filter(|(_, f)| formats.contains(f))
                .map(|(n, _)| *n)
                .collect();
            problems.push(problem(
                format!("{BASE}.{key}"),
                format!(
                    "is read only with format: {}; set it, or drop this option",
                    names.join(" or ")
                ),
            ));
        }
    }
    let url = get("schema_registry_url");
    decode.key = key_format(options, url.as_deref(), problems);
    match decode.format {
        Format::Avro => decode.avro = avro(options, url, get("avro_schema"), problems),
        Format::Protobuf => decode.protobuf = protobuf(options, url, problems),
        Format::JsonSchema => match url {
            Some(url) => decode.json_schema = Some(registry(options, url, problems)),
            None => problems.push(problem(
                format!("{BASE}.format"),
                "format: json_schema needs schema_registry_url (JSON in the Confluent wire format, typed by its schema there)",
            )),
        },
        Format::Json | Format::Raw => {}
    }
}

/// `key_format: string | raw | json | avro | protobuf` (Avro and Protobuf keys need the
/// registry).
fn key_format(
    options: &Map<String, Value>,
    url: Option<&str>,
    problems: &mut Vec<Problem>,
) -> KeyFormat {
    let Some(given) = options.get("key_format") else {
        return KeyFormat::String;
    };
    let name = text(given).unwrap_or_default().trim().to_ascii_lowercase();
    let with_registry = |make: fn(RegistryConfig) -> KeyFormat, problems: &mut Vec<Problem>| {
        match url {
            Some(u) => make(registry(options, u.to_string(), problems)),
            None => {
                problems.push(problem(
                    format!("{BASE}.key_format"),
                    format!("key_format: {name} needs schema_registry_url (keys in the Confluent wire format)"),
                ));
                KeyFormat::String
            }
        }
    };
    match name.as_str() {
        "string" => KeyFormat::String,
        "raw" => KeyFormat::Raw,
        "json" => KeyFormat::Json,
        "avro" => with_registry(KeyFormat::Avro, problems),
        "protobuf" => with_registry(KeyFormat::Protobuf, problems),
        _ => {
            problems.push(problem(
                format!("{BASE}.key_format"),
                format!("`{name}` is not a key format; use string (the default), raw, json, avro or protobuf"),
            ));
            KeyFormat::String
        }
    }
}

/// `format: json | avro | protobuf | raw`; `None` when absent or wrong.
fn format(options: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<Format> {
    let given = options.get("format")?;
    let name = text(given).unwrap_or_default();
    let found = FORMATS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, f)| *f);
    if found.is_none() {
        problems.push(problem(
            format!("{BASE}.format"),
            format!(
                "`{name}` is not a format weir decodes; use json (the default), avro, protobuf, json_schema or raw"
            ),
        ));
    }
    found
}

/// Where `format: avro` finds its schemas: the registry or `avro_schema` (the JSON text, or
/// a path to a file holding it); exactly one of the two.
fn avro(
    options: &Map<String, Value>,
    url: Option<String>,
    inline: Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<AvroSpec> {
    match (url, inline) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                format!("{BASE}.avro_schema"),
                "give schema_registry_url or avro_schema, not both",
            ));
            None
        }
        (None, None) => {
            problems.push(problem(
                format!("{BASE}.format"),
                "format: avro needs schema_registry_url (messages in the Confluent wire format) or avro_schema (the writer schema, inline or a file)",
            ));
            None
        }
        (None, Some(text)) => inline_schema(text, problems),
        (Some(url), None) => Some(AvroSpec::Registry(registry(options, url, problems))),
    }
}

/// `avro_schema`: the JSON text, or a path to a file holding it.
fn inline_schema(text: String, problems: &mut Vec<Problem>) -> Option<AvroSpec> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') || trimmed.starts_with('"') {
        text
    } else {
        let path = std::path::Path::new(text.trim());
        match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem(
                    format!("{BASE}.avro_schema"),
                    format!(
                        "`{}`: not a JSON schema and not a readable file ({e})",
                        path.display()
                    ),
                ));
                return None;
            }
        }
    };
    match crate::decode::avro::Schemas::inline(&json) {
        Ok(_) => Some(AvroSpec::Inline(json)),
        Err(e) => {
            problems.push(problem(
                format!("{BASE}.avro_schema"),
                format!("not an Avro schema weir can read: {e}"),
            ));
            None
        }
    }
}

/// Where `format: protobuf` finds its descriptors: the registry, or `proto_descriptor` (a
/// `FileDescriptorSet` file, as `protoc --descriptor_set_out` writes it) with
/// `proto_message` (the message's full name).
fn protobuf(
    options: &Map<String, Value>,
    url: Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<ProtoSpec> {
    let get = |k: &str| {
        options
            .get(k)
            .and_then(text)
            .filter(|s| !s.trim().is_empty())
    };
    match (url, get("proto_descriptor"), get("proto_message")) {
        (Some(url), None, None) => Some(ProtoSpec::Registry(registry(options, url, problems))),
        (Some(_), _, _) => {
            problems.push(problem(
                format!("{BASE}.proto_descriptor"),
                "give schema_registry_url or proto_descriptor and proto_message, not both",
            ));
            None
        }
        (None, Some(path), Some(message)) => {
            let set = match std::fs::read(path.trim()) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(problem(
                        format!("{BASE}.proto_descriptor"),
                        format!("`{path}`: cannot read it ({e}); give a FileDescriptorSet file (protoc --include_imports --descriptor_set_out=FILE)"),
                    ));
                    return None;
                }
            };
            if let Err(e) = crate::decode::protobuf::Descriptors::file(&set, &message) {
                problems.push(problem(
                    format!("{BASE}.proto_message"),
                    format!("`{path}`: {e}"),
                ));
                return None;
            }
            Some(ProtoSpec::File { set, message })
        }
        (None, None, None) => {
            problems.push(problem(
                format!("{BASE}.format"),
                "format: protobuf needs schema_registry_url (messages in the Confluent wire format) or proto_descriptor and proto_message (bare messages of one type)",
            ));
            None
        }
        (None, d, _) => {
            let missing = if d.is_none() {
                "proto_descriptor"
            } else {
                "proto_message"
            };
            problems.push(problem(
                format!("{BASE}.{missing}"),
                "is needed with the other: proto_descriptor is the FileDescriptorSet file, proto_message the full name of the values' message",
            ));
            None
        }
    }
}

/// The `schema_registry_*` options.
fn registry(
    options: &Map<String, Value>,
    url: String,
    problems: &mut Vec<Problem>,
) -> RegistryConfig {
    let get = |k: &str| {
        options
            .get(k)
            .and_then(text)
            .filter(|s| !s.trim().is_empty())
    };
    if let Some(ca) = get("schema_registry_ca") {
        if let Err(e) = std::fs::read(ca.trim()) {
            problems.push(problem(
                format!("{BASE}.schema_registry_ca"),
                format!("`{ca}`: cannot read it ({e}); give a PEM file of the registry's CA"),
            ));
        }
    }
    RegistryConfig {
        urls: url.split(',').map(|u| u.trim().to_string()).collect(),
        username: get("schema_registry_username"),
        password: get("schema_registry_password").map(Redacted),
        token: get("schema_registry_token").map(Redacted),
        ca_file: get("schema_registry_ca"),
    }
}
