//! The pipelines API on the `--listen` server: `GET /pipelines` and `/pipelines/{name}`
//! (JSON, see `status::View`), `POST /pipelines/{name}/pause|resume|restart` and
//! `POST /reload`; the status page at `/` (`page`) and this API described at `/openapi.json`.
//!
//! Mutating calls need `Authorization: Bearer <token>` when a token is configured
//! (`--api-token`, `WEIR_API_TOKEN`); without one they are allowed on a loopback listener only
//! and refused (403) elsewhere, with a body that says how to configure one.

use crate::service::Service;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Who may call the mutating endpoints.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// The bearer token required, if one is configured.
    pub token: Option<String>,
    /// The listener is on a loopback address.
    pub loopback: bool,
}

/// The API's routes.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/pipelines", get(list))
        .route("/pipelines/{name}", get(one))
        .route("/pipelines/{name}/{action}", post(act))
        .route("/reload", post(reload))
        .route("/", get(page))
        .route("/openapi.json", get(openapi))
        .fallback(no_endpoint)
}

async fn no_endpoint(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no endpoint `{}`; /openapi.json lists them", uri.path()),
    )
}

/// The API described (OpenAPI 3).
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn page(State(s): State<Arc<Service>>) -> Response {
    let views: Vec<_> = s.all_statuses().iter().map(|st| st.view()).collect();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::page::render(&views, crate::service::now_ms()),
    )
        .into_response()
}

fn json_response(code: StatusCode, body: Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn error(code: StatusCode, message: String) -> Response {
    json_response(code, json!({ "error": message }))
}

async fn list(State(s): State<Arc<Service>>) -> Response {
    let views: Vec<_> = s.all_statuses().iter().map(|st| st.view()).collect();
    json_response(StatusCode::OK, json!(views))
}

fn unknown(s: &Service, name: &str) -> Response {
    let names: Vec<String> = s
        .all_statuses()
        .iter()
        .map(|st| st.name().to_string())
        .collect();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no pipeline named `{name}`; this weir runs: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    )
}

async fn one(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    match s.status_of(&name) {
        Some(st) => json_response(StatusCode::OK, json!(st.view())),
        None => unknown(&s, &name),
    }
}

async fn act(
    State(s): State<Arc<Service>>,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refusal(s.access.get(), &headers) {
        return refused;
    }
    let Some(st) = s.status_of(&name) else {
        return unknown(&s, &name);
    };
    let message = match action.as_str() {
        "pause" => {
            st.pause.store(true, Ordering::SeqCst);
            "pausing: the batch in flight is committed, then nothing is polled until a resume"
        }
        "resume" => {
            st.pause.store(false, Ordering::SeqCst);
            "resumed: polling again from the last commit"
        }
        "restart" => {
            st.restart.store(true, Ordering::SeqCst);
            "restarting: the batch in flight is committed, then the pipeline starts again from its stored positions"
        }
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no action `{other}` on a pipeline: POST pause, resume or restart"),
            )
        }
    };
    tracing::info!(pipeline = %name, action = %action, "API: {message}");
    json_response(
        StatusCode::ACCEPTED,
        json!({"pipeline": name, "action": action, "message": message}),
    )
}

async fn reload(State(s): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(s.access.get(), &headers) {
        return refused;
    }
    s.reloads.fetch_add(1, Ordering::SeqCst);
    tracing::info!("API: reload requested (as on SIGHUP)");
    json_response(
        StatusCode::ACCEPTED,
        json!({"message": "every manifest is re-read as on SIGHUP: a valid one is applied by draining and restarting its pipeline, an invalid one is refused in the log"}),
    )
}

/// Why a mutating call may not go on, as the answer; `None` when it may.
fn refusal(access: Option<&Access>, headers: &HeaderMap) -> Option<Response> {
    // A browser says where a request comes from: a page of another site that POSTs here
    // (a form needs no preflight) is refused whatever the token.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let from = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if from != Some(host) {
            return Some(error(
                StatusCode::FORBIDDEN,
                format!("a cross-site request (Origin {origin}) is refused: the mutating calls are for operators' tools, not web pages"),
            ));
        }
    }
    let access = access.cloned().unwrap_or_default();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&access.token, given) {
        (Some(want), Some(got)) if same(want.as_bytes(), got.trim().as_bytes()) => None,
        (Some(_), _) => Some(error(
            StatusCode::UNAUTHORIZED,
            "this call needs the API token: send `Authorization: Bearer <token>` with the token weir was started with (--api-token or WEIR_API_TOKEN)".into(),
        )),
        (None, _) if access.loopback => None,
        (None, _) => Some(error(
            StatusCode::FORBIDDEN,
            "mutating calls on a listener that is not on loopback need a token: start weir with --api-token TOKEN (or WEIR_API_TOKEN) and send `Authorization: Bearer TOKEN`".into(),
        )),
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        for path in [
            "/",
            "/health/live",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/pipelines",
            "/pipelines/{name}",
            "/pipelines/{name}/{action}",
            "/reload",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is not described");
        }
        // The view's fields are the schema's, no more, no fewer.
        let view = serde_json::to_value(crate::status::Status::new("p").view()).unwrap();
        let mut fields: Vec<&String> = view.as_object().unwrap().keys().collect();
        fields.sort();
        let schema = &doc["components"]["schemas"]["Pipeline"];
        let mut described: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        described.sort();
        assert_eq!(fields, described);
    }

    #[test]
    fn mutations_need_a_token_off_loopback_and_the_right_one_when_set() {
        let none = HeaderMap::new();
        let open = Access {
            token: None,
            loopback: true,
        };
        assert!(refusal(Some(&open), &none).is_none());
        let exposed = Access {
            token: None,
            loopback: false,
        };
        let refused = refusal(Some(&exposed), &bearer("x")).expect("refused");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        for loopback in [true, false] {
            let guarded = Access {
                token: Some("s3cret".into()),
                loopback,
            };
            assert!(refusal(Some(&guarded), &bearer("s3cret")).is_none());
            let wrong = refusal(Some(&guarded), &bearer("s3cre")).expect("refused");
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
            let missing = refusal(Some(&guarded), &none).expect("refused");
            assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        }
        // A page of another site posting here, even to an open loopback listener.
        let mut cross = HeaderMap::new();
        cross.insert(header::HOST, "127.0.0.1:9464".parse().unwrap());
        cross.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        let refused = refusal(Some(&open), &cross).expect("refused");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        cross.insert(header::ORIGIN, "http://127.0.0.1:9464".parse().unwrap());
        assert!(refusal(Some(&open), &cross).is_none());
    }
}
