//! AWS access: the one place that builds the SdkConfig every client uses, and the
//! credentials behind it (GitHub OIDC -> STS inside Actions, the standard chain outside).

pub mod asg;
mod credentials;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elb;

pub use credentials::{connect, session_name, Session, Source, Target};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region};

/// The loader every SdkConfig starts from: the region, and adaptive retries (client-side
/// rate limiting on throttling) unless AWS_RETRY_MODE or AWS_MAX_ATTEMPTS say otherwise.
/// AWS_ENDPOINT_URL and the other standard variables are honoured by the SDK itself.
pub fn loader(region: &str) -> ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    if !set("AWS_RETRY_MODE") && !set("AWS_MAX_ATTEMPTS") {
        loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(8));
    }
    loader
}

/// A one-line message for an SDK error: the service's code and message when there is one.
pub fn describe<E, R>(err: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_sts::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => match (service.code(), service.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_string(),
            _ => aws_sdk_sts::error::DisplayErrorContext(err).to_string(),
        },
        None => aws_sdk_sts::error::DisplayErrorContext(err).to_string(),
    }
}

/// The error code of a service error, if the call got that far.
pub fn error_code<E, R>(err: &aws_sdk_sts::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_sts::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code())
}

/// Turns an SDK error into the ports' CloudError, keeping the service's code and message.
/// An HTTP 403 whose body names no code the SDK can read is a denial all the same.
pub fn to_cloud<E>(
    operation: &str,
    err: &aws_sdk_sts::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> crate::cloud::CloudError
where
    E: std::error::Error + aws_sdk_sts::error::ProvideErrorMetadata + 'static,
{
    let forbidden = err.raw_response().is_some_and(|r| r.status().as_u16() == 403);
    let code = error_code(err).or(forbidden.then_some("AccessDenied"));
    // A 403 in a body the SDK cannot read (XML to a JSON client) is a ResponseError.
    let kind = match err {
        aws_sdk_sts::error::SdkError::ServiceError(_) => crate::cloud::CloudError::classify(code),
        _ if forbidden => crate::cloud::CloudError::classify(code),
        _ => crate::cloud::ErrorKind::Other,
    };
    let body_message = || {
        let body = std::str::from_utf8(err.raw_response()?.body().bytes()?).ok()?;
        let (_, rest) = body.split_once("<Message>")?;
        rest.split_once("</Message>").map(|(m, _)| m.to_string())
    };
    let message = match err.as_service_error().and_then(|service| service.message()) {
        Some(message) => message.to_string(),
        None => body_message().unwrap_or_else(|| describe(err)),
    };
    crate::cloud::CloudError::new(kind, operation, code, message)
}

/// The AWS adapters of every port, built from one SdkConfig.
pub fn ports(config: &aws_config::SdkConfig) -> crate::cloud::Ports {
    crate::cloud::Ports {
        asg: std::sync::Arc::new(asg::AsgAdapter::new(config)),
        elb: std::sync::Arc::new(elb::ElbAdapter::new(config)),
        ecs: std::sync::Arc::new(ecs::EcsAdapter::new(config)),
    }
}
