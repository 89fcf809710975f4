//! iceberg-rust's errors as weir's kinds, each naming the table, the catalog and what the sink
//! was doing, secrets never in them: a refused credential or an unknown warehouse is a
//! configuration error (exit 2, with what to fix); anything the catalog or the store may get
//! over (a refused connection, a 5xx, a locked database) is a connection error, retried with
//! backoff.

use crate::config::IcebergConfig;
use weir_sdk::Error;

/// The error's text with its sources, secrets replaced.
fn text(cfg: &IcebergConfig, e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(&format!(": {s_text}"));
        }
        source = s.source();
    }
    cfg.redact(&without_headers(&out.replace('\n', " ")))
}

/// The text without the HTTP response headers iceberg-rust puts in its error context
/// (`headers: {...}, `): the status and the catalog's JSON error say what happened.
fn without_headers(text: &str) -> String {
    let Some(start) = text.find("headers: {") else {
        return text.to_string();
    };
    let mut depth = 0usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => {
                let rest = &text[start + i + 1..];
                let rest = rest.strip_prefix(", ").unwrap_or(rest);
                return format!("{}{rest}", &text[..start]);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    text.to_string()
}

/// The error for a failed catalog or table call.
pub(crate) fn classify(cfg: &IcebergConfig, what: &str, e: &iceberg::Error) -> Error {
    let detail = text(cfg, e);
    let at = format!("{} in {} ({what})", cfg.table_name(), cfg.describe());
    kind(&detail, Some(e.kind()), &format!("{at}: {detail}"))
}

/// The error for a catalog that cannot be opened.
pub(crate) fn open(cfg: &IcebergConfig, message: &str) -> Error {
    let message = cfg.redact(message);
    let at = format!("cannot open {}: {message}", cfg.describe());
    if message.contains("tls_ca") {
        return Error::config(at);
    }
    kind(&message, None, &at)
}

fn kind(detail: &str, kind: Option<iceberg::ErrorKind>, message: &str) -> Error {
    let low = detail.to_ascii_lowercase();
    // Status codes are matched with their prefix: file names in messages hold digits too.
    let auth = [
        "status: 401",
        "status: 403",
        "unauthorized",
        "forbidden",
        "invalid_client",
        "not authorized",
        "password authentication failed",
    ];
    if auth.iter().any(|a| low.contains(a)) {
        return Error::config(format!(
            "{message}; the catalog refused the credentials: check token, or client_id and client_secret (or the catalog_uri's user and password)"
        ));
    }
    // A server certificate the client does not trust stays untrusted on every retry.
    let untrusted = [
        "invalid peer certificate",
        "certificate verify failed",
        "unknownissuer",
        "self-signed certificate",
    ];
    if untrusted.iter().any(|a| low.contains(a)) {
        return Error::config(format!(
            "{message}; the catalog's TLS certificate is not trusted: set tls_ca to the PEM file of the CA that signed it"
        ));
    }
    // Only a catalog's refusal (a 4xx) names an unknown warehouse: every warehouse file path
    // has the word in it.
    let refused = low.contains("status: 4");
    if refused
        && (low.contains("nosuchwarehouse")
            || low.contains("warehouse")
                && ["not found", "unknown", "no such", "unable to find"]
                    .iter()
                    .any(|a| low.contains(a)))
    {
        return Error::config(format!(
            "{message}; the catalog has no such warehouse: check the address's `warehouse`"
        ));
    }
    // A request the catalog refuses as malformed will be refused again: not retried.
    if ["status: 400", "status: 404", "status: 406", "status: 422"]
        .iter()
        .any(|s| low.contains(s))
    {
        return Error::fatal(message.to_string());
    }
    match kind {
        Some(iceberg::ErrorKind::DataInvalid) => Error::data(message.to_string()),
        Some(iceberg::ErrorKind::FeatureUnsupported) => Error::config(message.to_string()),
        _ => Error::connection(format!("{message}; retrying")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_config_errors_and_file_names_do_not_fool_it() {
        let e = kind(
            "context: { status: 401 Unauthorized } => Not authorized",
            None,
            "m",
        );
        assert_eq!(e.kind, weir_sdk::ErrorKind::Config, "{e}");
        let e = kind(
            "context: { status: 404 Not Found, json: NoSuchWarehouseException } Warehouse swamp not found",
            None,
            "m",
        );
        assert!(e.message.contains("no such warehouse"), "{e}");
        // A transient failure naming a metadata file: retried, whatever digits it holds.
        let e = kind(
            "cannot read file:///lake/warehouse/ns/t/metadata/00401-x.metadata.json: not found",
            Some(iceberg::ErrorKind::Unexpected),
            "m",
        );
        assert_eq!(e.kind, weir_sdk::ErrorKind::Connection, "{e}");
        let e = kind("context: { status: 422 Unprocessable }", None, "m");
        assert_eq!(e.kind, weir_sdk::ErrorKind::Fatal, "{e}");
    }

    #[test]
    fn response_headers_are_left_out_of_the_text() {
        let t = without_headers(
            r#"context: { status: 401 Unauthorized, headers: {"a": "b", "c": "{d}"}, json: {"error": 1} } => x"#,
        );
        assert_eq!(
            t,
            r#"context: { status: 401 Unauthorized, json: {"error": 1} } => x"#
        );
        assert_eq!(without_headers("no headers here"), "no headers here");
    }

    #[test]
    fn an_untrusted_certificate_names_tls_ca_and_a_refused_connection_is_retried() {
        let e = kind(
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
            Some(iceberg::ErrorKind::Unexpected),
            "m",
        );
        assert_eq!(e.kind, weir_sdk::ErrorKind::Config, "{e}");
        assert!(e.message.contains("set tls_ca"), "{e}");
        let e = kind(
            "error sending request: client error (Connect): tcp connect error: Connection refused",
            Some(iceberg::ErrorKind::Unexpected),
            "m",
        );
        assert_eq!(e.kind, weir_sdk::ErrorKind::Connection, "{e}");
    }
}
