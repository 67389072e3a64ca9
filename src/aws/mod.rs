//! AWS access: the one place that builds the SdkConfig every client uses, and the
//! credentials behind it (GitHub OIDC -> STS inside Actions, the standard chain outside).

pub mod asg;
pub mod cloudwatch;
pub mod codedeploy;
mod credentials;
pub mod ec2;
pub mod ecr;
pub mod ecs;
mod ecs_deploy;
pub mod elb;
mod errors;
mod listener;
pub mod s3;

pub use credentials::{connect, session_name, Session, Source, Target};

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region};

pub use errors::{absent_as_none, error_code, to_cloud};

/// Attempts per call (the first and up to nine retries) unless AWS_MAX_ATTEMPTS says otherwise.
pub const MAX_ATTEMPTS: u32 = 10;
/// The first retry comes after up to this long; each later one may wait twice as long, up to
/// the SDK's 20s cap, so ten attempts ride out about a minute of throttling.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);

/// The retry policy every SdkConfig gets unless AWS_RETRY_MODE or AWS_MAX_ATTEMPTS say
/// otherwise: the standard mode (exponential backoff with jitter), with enough attempts
/// for a deploy. Not the adaptive mode: its client-side rate limiter, once throttled,
/// holds back every later call of a tool that makes only a few dozen, and a roll under
/// 30% throttling took 50 times as long with it.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
}

/// How long a connection to AWS may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt of a call may go unanswered before the SDK gives up on it and
/// retries (a hung connection is a transient error, retried like a 5xx). Every call
/// slipway makes is a small request; none legitimately takes this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one call may take, all its attempts and backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The timeouts every SdkConfig gets: the SDK sets none by default, so a call whose
/// answer never comes would wait for ever (and a signal would wait with it). The
/// polling engine abandons a call in flight at a signal or its deadline besides.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The loader every SdkConfig starts from: the region, `timeout_config()` and `retry_config()`, unless
/// AWS_RETRY_MODE or AWS_MAX_ATTEMPTS are set (then the SDK reads them itself).
/// AWS_ENDPOINT_URL and the other standard variables are honoured by the SDK itself.
pub fn loader(region: &str) -> ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(timeout_config());
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    if !set("AWS_RETRY_MODE") && !set("AWS_MAX_ATTEMPTS") {
        loader = loader.retry_config(retry_config());
    }
    loader
}

// The one place AWS adapters are built, each from the job's one SdkConfig: every
// command gets its adapters here, named `<Service>Adapter`.

/// The ports a roll or a wait uses.
pub fn ports(config: &aws_config::SdkConfig) -> crate::cloud::Ports {
    crate::cloud::Ports {
        asg: std::sync::Arc::new(asg::AsgAdapter::new(config)),
        elb: std::sync::Arc::new(elb::ElbAdapter::new(config)),
        ecs: std::sync::Arc::new(ecs::EcsAdapter::new(config)),
        templates: std::sync::Arc::new(ec2::Ec2Adapter::new(config)),
        alarms: std::sync::Arc::new(cloudwatch::CloudWatchAdapter::new(config)),
        codedeploy: std::sync::Arc::new(codedeploy::CodeDeployAdapter::new(config)),
        objects: std::sync::Arc::new(s3::S3Adapter::new(config)),
    }
}

/// The ECR port of slipway-build.
pub fn ecr(config: &aws_config::SdkConfig) -> ecr::EcrAdapter {
    ecr::EcrAdapter::new(config)
}

/// The EC2 port of slipway-bake, in the config's region or another one.
pub fn ec2(config: &aws_config::SdkConfig, region: Option<&str>) -> ec2::Ec2Adapter {
    match region {
        Some(region) => ec2::Ec2Adapter::in_region(config, region),
        None => ec2::Ec2Adapter::new(config),
    }
}

#[cfg(test)]
mod tests {
    use aws_config::retry::RetryMode;

    #[test]
    fn every_config_retries_in_standard_mode_with_enough_attempts_for_a_deploy() {
        // What `loader` sets whenever AWS_RETRY_MODE and AWS_MAX_ATTEMPTS are unset.
        let retry = super::retry_config();
        assert_eq!(
            retry.mode(),
            RetryMode::Standard,
            "the adaptive mode stalls a tool under throttling"
        );
        assert_eq!(retry.max_attempts(), super::MAX_ATTEMPTS);
        assert_eq!(retry.initial_backoff(), super::INITIAL_BACKOFF);
    }

    #[tokio::test]
    async fn every_config_bounds_each_call_and_each_attempt() {
        let config = super::loader("us-east-1").no_credentials().load().await;
        let timeouts = config.timeout_config().expect("a timeout config");
        assert_eq!(timeouts.connect_timeout(), Some(super::CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(super::ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(super::OPERATION_TIMEOUT));
    }
}
