//! The one mapping from an AWS SDK error to the ports' CloudError: the operation, the
//! service's error code and AWS's own message, in one line. Every shape an SDK call can
//! fail with is covered (a service error with a code, an HTTP status without one, a
//! timeout, a connection failure, missing credentials, an answer that does not parse),
//! and none of them ever shows the SDK's Debug dump.

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::cloud::{CloudError, ErrorKind};
use crate::error::aws_message;

/// 4xx codes that mean "try again", beyond throttling.
const TRANSIENT_4XX: [&str; 4] = [
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "IDPCommunicationError",
];

/// The longest excerpt of an unparsable answer's body that a message quotes.
const BODY_EXCERPT: usize = 200;

/// A read's answer, with "does not exist" as None rather than an error.
pub fn absent_as_none<T>(result: Result<T, CloudError>) -> Result<Option<T>, CloudError> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `service` is the IAM prefix (`autoscaling`, `ecs`, ...), `operation` the API action.
pub fn to_cloud<E>(service: &'static str, operation: &str, err: &SdkError<E, HttpResponse>) -> CloudError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let (kind, code, message) = match err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let status = service_err.raw().status().as_u16();
            match e.code() {
                Some(code) => {
                    let mut kind = CloudError::classify(Some(code));
                    if kind == ErrorKind::Other && matches!(status, 401 | 403) {
                        kind = ErrorKind::Denied;
                    } else if kind == ErrorKind::Other && (400..500).contains(&status) && !TRANSIENT_4XX.contains(&code)
                    {
                        // The service refused the request (InvalidTarget, ResourceInUse, ...):
                        // an answer, not a failure to get one; asking again gets the same.
                        kind = ErrorKind::Invalid;
                    }
                    let message = e
                        .message()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("HTTP {status}"));
                    (kind, Some(code.to_string()), message)
                }
                None => without_code(status, service_err.raw()),
            }
        }
        SdkError::ResponseError(r) => without_code(r.raw().status().as_u16(), r.raw()),
        SdkError::TimeoutError(_) => (
            ErrorKind::Other,
            None,
            format!("no answer in time ({})", chain_after(err)),
        ),
        SdkError::DispatchFailure(d) => {
            if let Some(creds) = credentials_error(err) {
                (ErrorKind::Credentials, None, creds)
            } else if d.is_timeout() {
                (
                    ErrorKind::Other,
                    None,
                    format!("the connection timed out ({})", chain_after(err)),
                )
            } else if d.is_io() {
                (
                    ErrorKind::Other,
                    None,
                    format!("could not reach AWS: {}", chain_after(err)),
                )
            } else {
                (ErrorKind::Other, None, chain_after(err))
            }
        }
        SdkError::ConstructionFailure(_) => match credentials_error(err) {
            Some(creds) => (ErrorKind::Credentials, None, creds),
            None => (
                ErrorKind::Invalid,
                None,
                format!("the request could not be built: {}", chain_after(err)),
            ),
        },
        _ => (ErrorKind::Other, None, chain_after(err)),
    };
    CloudError::new(kind, operation, code.as_deref(), message).in_service(service)
}

/// The service's error code, if the call got that far.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code())
}

/// A status without a code: 401/403 are denials, 429 throttling, 404 a missing thing.
fn by_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Denied,
        429 => ErrorKind::Throttled,
        404 => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    }
}

/// An answer the SDK found no code in: the code and message read from the body when it
/// holds them in another protocol's shape (moto answers some denials in EC2's XML),
/// else the status and an excerpt. 401 and 403 are denials either way.
fn without_code(status: u16, raw: &HttpResponse) -> (ErrorKind, Option<String>, String) {
    let denied = matches!(status, 401 | 403);
    let body = raw.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    match salvage(&body) {
        Some((code, message)) => {
            let mut kind = CloudError::classify(Some(&code));
            if denied && kind == ErrorKind::Other {
                kind = ErrorKind::Denied;
            }
            (kind, Some(code), message)
        }
        None => (by_status(status), None, unparsed(status, raw)),
    }
}

/// `(code, message)` from an XML `<Code>`/`<Message>` pair or a JSON `__type`/`message`.
fn salvage(body: &str) -> Option<(String, String)> {
    let tag = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + end].trim().to_string())
    };
    if let Some(code) = tag("Code").filter(|c| !c.is_empty()) {
        return Some((code, tag("Message").unwrap_or_default()));
    }
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = json.get("__type").or_else(|| json.get("code"))?.as_str()?;
    // `__type` may be `namespace#Code`.
    let code = code.rsplit('#').next().unwrap_or(code).to_string();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|m| m.as_str()))
        .unwrap_or_default()
        .to_string();
    Some((code, message))
}

/// `HTTP 403 with no error code in the answer: <excerpt of the body>`.
fn unparsed(status: u16, raw: &HttpResponse) -> String {
    let body = raw
        .body()
        .bytes()
        .map(|b| {
            String::from_utf8_lossy(b)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut out = format!("HTTP {status} with no error code in the answer");
    if matches!(status, 401 | 403) {
        out.push_str(" (access denied)");
    }
    if !body.is_empty() {
        let excerpt: String = body.chars().take(BODY_EXCERPT).collect();
        let more = if body.chars().count() > BODY_EXCERPT { "..." } else { "" };
        out.push_str(&format!(": {excerpt}{more}"));
    }
    out
}

/// The causes below the SDK's own word for the shape ("dispatch failure", ...), joined.
fn chain_after<E: std::error::Error + 'static, R: std::fmt::Debug>(err: &SdkError<E, R>) -> String {
    match std::error::Error::source(err) {
        Some(source) => aws_message(source),
        None => err.to_string(),
    }
}

/// When the call failed because no credentials could be loaded: what the provider said.
fn credentials_error<E: std::error::Error + 'static, R: std::fmt::Debug>(err: &SdkError<E, R>) -> Option<String> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if s.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return Some(format!("no usable AWS credentials: {}", aws_message(s)));
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
#[path = "errors_tests.rs"]
mod tests;
