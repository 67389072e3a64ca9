//! The ports: narrow async traits for exactly the AWS calls the jobs make. Jobs call
//! these, never an SDK client. `aws::adapters` implements them with the AWS SDK (tested
//! against moto); `sim` implements them over a virtual clock with injected faults.
//!
//! Types here are slipway's own model of the few fields the jobs read, so plans can be
//! serialised and the simulator stays small.

pub mod asg;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elb;
pub mod states;
pub mod templates;

use std::fmt;
use std::sync::Arc;

pub use asg::{Activity, AutoScaling, Group, GroupInstance, InstanceRefresh, LaunchTemplateSpec, RefreshSpec};
pub use ec2::{Ec2, Image, LaunchTemplate, LaunchTemplateVersion, NewVersion};
pub use ecs::{ContainerSpec, Ecs, EcsDeployment, EcsService, Revision, ServiceEvent, StoppedTask, TaskDefinition};
pub use elb::{LoadBalancing, TargetGroup, TargetHealth};
pub use states::{DeploymentStatus, Health, Lifecycle, RefreshStatus, RolloutState, TargetState};
pub use templates::{LaunchTemplates, TemplateVersion};

/// One implementation of every port a roll or a wait uses: the AWS adapters
/// (`aws::ports`), or the simulator (`sim::ports`). The one way ports are passed.
#[derive(Clone)]
pub struct Ports {
    pub asg: Arc<dyn AutoScaling>,
    pub elb: Arc<dyn LoadBalancing>,
    pub ecs: Arc<dyn Ecs>,
    pub templates: Arc<dyn LaunchTemplates>,
}

/// What kind of failure a cloud call had; callers branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named resource does not exist.
    NotFound,
    /// The service throttled the call after the SDK's own retries.
    Throttled,
    /// The request was refused as invalid (ValidationError and friends).
    Invalid,
    /// The caller may not do this (AccessDenied).
    Denied,
    /// Anything else: 5xx, transport, unexpected answers.
    Other,
}

/// A failed cloud call: its kind, the service's code and message, and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    pub kind: ErrorKind,
    /// The operation, e.g. `DescribeAutoScalingGroups`.
    pub operation: String,
    /// The service's error code, when it sent one.
    pub code: Option<String>,
    pub message: String,
}

impl CloudError {
    pub fn new(kind: ErrorKind, operation: &str, code: Option<&str>, message: impl Into<String>) -> Self {
        CloudError {
            kind,
            operation: operation.to_string(),
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn not_found(operation: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, operation, None, message)
    }

    /// Classifies a service error code.
    pub fn classify(code: Option<&str>) -> ErrorKind {
        match code.unwrap_or_default() {
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown" => ErrorKind::Throttled,
            "ValidationError"
            | "ValidationException"
            | "InvalidParameterException"
            | "InvalidParameterValue"
            | "InvalidParameterCombination"
            | "ClientException" => ErrorKind::Invalid,
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => ErrorKind::Denied,
            c if c.contains("NotFound") || c.ends_with(".NotFound") => ErrorKind::NotFound,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: ", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CloudError {}

pub type CloudResult<T> = std::result::Result<T, CloudError>;

/// A refused cloud call fails the job and stays its cause (`Error::cause::<CloudError>()`).
impl From<CloudError> for crate::Error {
    fn from(e: CloudError) -> Self {
        let help = match e.kind {
            ErrorKind::Denied => {
                Some("the role lacks a permission: `slipway-env iam-policy` prints the policy it needs".to_string())
            }
            ErrorKind::NotFound | ErrorKind::Throttled | ErrorKind::Invalid | ErrorKind::Other => None,
        };
        crate::Error::caused_by(e.to_string(), help, e)
    }
}
