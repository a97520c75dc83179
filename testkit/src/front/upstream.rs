//! The calls the front makes to moto: the ones it forwards, and its own reads (uncounted, never throttled).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderValue, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::pipeline::{ECS_TARGET_PREFIX, Shared};
use super::wire::{AwsError, FrontBody};
use crate::request_log::FRONT_HEADER;

const RESPONSE_BYTES_MAX: usize = 64 << 20;
/// Bounds a hung moto; far above anything moto needs.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct UpstreamResponse {
    pub(super) status: StatusCode,
    headers: HeaderMap,
    pub(super) body: Bytes,
}

impl UpstreamResponse {
    pub(super) fn with_body(self, body: Bytes) -> Self {
        Self { body, ..self }
    }

    pub(super) fn into_front_response(self) -> Response<FrontBody> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

pub(super) async fn forward(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<UpstreamResponse, AwsError> {
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    send(shared, path, &parts.headers, body).await
}

/// An ECS call of the front's own to moto, as the caller of `headers` (same credentials, so the same account
/// and Region in moto); moto's answer when it succeeds.
pub(super) async fn call_moto(
    shared: &Shared,
    headers: &HeaderMap,
    action: &str,
    body: &Value,
) -> Result<Value, AwsError> {
    let mut headers = headers.clone();
    let target = HeaderValue::from_str(&format!("{ECS_TARGET_PREFIX}{action}"))
        .map_err(|error| AwsError::server(format!("cannot name {action}: {error}")))?;
    headers.insert("x-amz-target", target);
    let response = send(shared, "/", &headers, Bytes::from(body.to_string())).await?;
    if !response.status.is_success() {
        let answer = String::from_utf8_lossy(&response.body);
        return Err(AwsError::server(format!("moto refused the front's {action}: {answer}")));
    }
    serde_json::from_slice(&response.body)
        .map_err(|error| AwsError::server(format!("moto answered {action} with unreadable JSON: {error}")))
}

async fn send(shared: &Shared, path: &str, headers: &HeaderMap, body: Bytes) -> Result<UpstreamResponse, AwsError> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("{}{path}", shared.upstream))
        .body(Full::new(body))
        .map_err(|error| AwsError::server(format!("cannot build upstream request: {error}")))?;
    let request_headers = request.headers_mut();
    *request_headers = headers.clone();
    strip_framing_headers(request_headers);
    request_headers.remove(HOST);
    // The IAM proof counts a request through the front in the front's log, and the front's own reads not at all.
    request_headers.insert(FRONT_HEADER, HeaderValue::from_static("1"));

    let response = tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(request))
        .await
        .map_err(|_| AwsError::server("moto did not answer in time"))?
        .map_err(|error| AwsError::server(format!("cannot reach moto: {error}")))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, RESPONSE_BYTES_MAX)
        .collect()
        .await
        .map_err(|error| AwsError::server(format!("cannot read moto's answer: {error}")))?
        .to_bytes();
    let mut headers = parts.headers;
    strip_framing_headers(&mut headers);
    Ok(UpstreamResponse {
        status: parts.status,
        headers,
        body,
    })
}

/// Framing belongs to each hop: hyper sets the right length for the body it sends.
fn strip_framing_headers(headers: &mut HeaderMap) {
    for name in [CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}
