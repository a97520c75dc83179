//! The awsJson1_1 wire format of the answers the front makes up itself.

use http_body_util::Full;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};

pub(super) type FrontBody = Full<Bytes>;

const AWS_JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A successful answer the front makes up itself.
pub(super) fn json_response(body: &serde_json::Value) -> Response<FrontBody> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(AWS_JSON_CONTENT_TYPE));
    response
}

/// An ECS error answer. The Rust SDK reads the code from `x-amzn-errortype` (falling back to
/// `__type`) and the text from `message`, so both carry it; the code decides the retry class
/// (`ThrottlingException` is throttling, HTTP 500/503 are transient).
#[derive(Debug)]
pub(super) struct AwsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AwsError {
    pub(super) fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterException", message)
    }

    pub(super) fn serialization(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    pub(super) fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "UnknownOperationException", message)
    }

    pub(super) fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message)
    }

    pub(super) fn throttling() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded")
    }

    pub(super) fn server(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "ServerException", message)
    }

    pub(super) fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException", message)
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn into_response(self) -> Response<FrontBody> {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(AWS_JSON_CONTENT_TYPE));
        headers.insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(self.code),
        );
        response
    }
}
