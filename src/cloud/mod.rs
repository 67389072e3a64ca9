//! The ports: narrow async traits for exactly the AWS calls the jobs make. Jobs call
//! these, never an SDK client. `aws::adapters` implements them with the AWS SDK (tested
//! against moto); `sim` implements them over a virtual clock with injected faults.
//!
//! Types here are slipway's own model of the few fields the jobs read, so plans can be
//! serialised and the simulator stays small.

pub mod alarms;
pub mod asg;
pub mod codedeploy;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elb;
pub mod objects;
pub mod states;
pub mod templates;

use std::fmt;
use std::sync::Arc;

pub use alarms::{Alarm, Alarms};
pub use asg::{Activity, AutoScaling, Group, GroupInstance, InstanceRefresh, LaunchTemplateSpec, RefreshSpec};
pub use codedeploy::{
    CdDeployment, CdRevision, CodeDeploy, DeploymentGroup, DeploymentTarget, Diagnostics, InstanceTarget,
    LifecycleEvent, NewDeployment, S3Revision, Shift, TaskSet,
};
pub use ec2::{CopyImage, Ec2, Image, LaunchTemplate, NewVersion, Snapshot};
pub use ecs::{
    ContainerSpec, DeploymentSettings, Ecs, EcsDeployment, EcsService, HookAction, HookDetail, Revision,
    ServiceDeployment, ServiceEvent, ServiceLoadBalancer, ServiceUpdate, StoppedTask, TaskDefinition,
};
pub use elb::{Forward, LoadBalancing, TargetGroup, TargetHealth, Weighted};
pub use objects::{ObjectStore, StoredObject};
pub use states::{
    AlarmState, CdStatus, Controller, DeploymentStatus, Health, HookStatus, Lifecycle, LifecycleStage, NativeStrategy,
    RefreshStatus, RolloutState, ServiceDeploymentStatus, TargetState,
};
pub use templates::{LaunchTemplates, TemplateVersion};

/// One implementation of every port a roll or a wait uses: the AWS adapters
/// (`aws::ports`), or the simulator (`sim::ports`). The one way ports are passed.
#[derive(Clone)]
pub struct Ports {
    pub asg: Arc<dyn AutoScaling>,
    pub elb: Arc<dyn LoadBalancing>,
    pub ecs: Arc<dyn Ecs>,
    pub templates: Arc<dyn LaunchTemplates>,
    /// CloudWatch alarms, watched while a roll runs and bakes.
    pub alarms: Arc<dyn Alarms>,
    /// CodeDeploy, for services whose deployment controller is CODE_DEPLOY.
    pub codedeploy: Arc<dyn CodeDeploy>,
    /// S3, for CodeDeploy bundles.
    pub objects: Arc<dyn ObjectStore>,
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
    /// The caller may not do this (AccessDenied, UnauthorizedOperation, or HTTP 401/403).
    Denied,
    /// No usable credentials: none found, expired, or the provider failed.
    Credentials,
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
    /// The service's IAM prefix (`autoscaling`, `ecs`, ...), when the adapter knows it.
    pub service: Option<&'static str>,
}

impl CloudError {
    pub fn new(kind: ErrorKind, operation: &str, code: Option<&str>, message: impl Into<String>) -> Self {
        CloudError {
            kind,
            operation: operation.to_string(),
            code: code.map(str::to_string),
            message: message.into(),
            service: None,
        }
    }

    /// The same error, naming the service it came from.
    pub fn in_service(mut self, service: &'static str) -> Self {
        self.service = Some(service);
        self
    }

    /// The IAM action this call needs, e.g. `autoscaling:UpdateAutoScalingGroup`.
    pub fn iam_action(&self) -> String {
        match self.service {
            Some(service) => format!("{service}:{}", self.operation),
            None => self.operation.clone(),
        }
    }

    /// Worth another try: throttling, 5xx and transport failures. A denial, missing
    /// credentials, an invalid request, a missing resource and the conflicts below are answers.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Other)
            && !matches!(
                self.code.as_deref(),
                Some(
                    "InstanceRefreshInProgress"
                        | "ActiveInstanceRefreshNotFound"
                        | "ScalingActivityInProgress"
                        | "NotImplemented"
                )
            )
    }

    /// What to do about it, when slipway knows.
    pub fn help(&self) -> Option<String> {
        match self.kind {
            ErrorKind::Denied => Some(format!(
                "grant {} to the role slipway runs as (`slipway-env iam-policy` prints the policy it needs)",
                self.iam_action()
            )),
            ErrorKind::Credentials => Some(CREDENTIALS_HELP.to_string()),
            _ => None,
        }
    }

    /// The error and what to do about it, in one line (for probe reports).
    pub fn explain(&self) -> String {
        match self.help() {
            Some(help) => format!("{self}; {help}"),
            None => self.to_string(),
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
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedException" => {
                ErrorKind::Denied
            }
            "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "AuthFailure"
            | "SignatureDoesNotMatch"
            | "MissingAuthenticationToken" => ErrorKind::Credentials,
            c if c.contains("NotFound") || c.ends_with(".NotFound") => ErrorKind::NotFound,
            _ => ErrorKind::Other,
        }
    }
}

/// How to get credentials, on a terminal and in GitHub Actions.
pub const CREDENTIALS_HELP: &str = "on a terminal run `aws sso login` and set AWS_PROFILE (or set \
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); in GitHub Actions give the job `permissions: id-token: write` \
and the environment an aws.role_arn";

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
        let help = e.help();
        match e.kind {
            // No credentials at all is something to set up: bad input.
            ErrorKind::Credentials => crate::Error::input(e.to_string(), help.unwrap_or_default()),
            ErrorKind::Denied | ErrorKind::NotFound | ErrorKind::Throttled | ErrorKind::Invalid | ErrorKind::Other => {
                crate::Error::caused_by(e.to_string(), help, e)
            }
        }
    }
}
