//! How a roll ended, as one typed value: the verdict, what stopped it, and the target's
//! facts. The text report, the JSON, the step summary, the GITHUB_OUTPUT pairs and the
//! exit code are all exhaustive matches on it (see `report`), so no verdict can be
//! rendered as another.

use serde::{Deserialize, Serialize};

use crate::config::Strategy;
use crate::error::Error;

/// What slipway-roll rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Asg,
    Ecs,
    /// A CodeDeploy deployment group of EC2 instances or Auto Scaling groups.
    Codedeploy,
}

impl Target {
    /// The name used in plan files, flags and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Asg => "asg",
            Target::Ecs => "ecs",
            Target::Codedeploy => "codedeploy",
        }
    }

    /// What people call it.
    pub fn noun(self) -> &'static str {
        match self {
            Target::Asg => "Auto Scaling group",
            Target::Ecs => "ECS service",
            Target::Codedeploy => "CodeDeploy deployment group",
        }
    }
}

/// The verdict of a roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every step done: the new version serves.
    Succeeded,
    /// `--wait-until traffic-shifted`: production traffic is on the new version and the
    /// platform finishes the deployment (bake, alarms, rollback); `--resume` follows it.
    TrafficShifted,
    /// The fleet already ran the new version; nothing changed.
    Unchanged,
    /// ECS `--register-only`: the revision exists, the service still runs the previous one.
    Registered,
    /// Stopped (failure, timeout or signal) and restored to the previous version.
    RolledBack,
    /// Stopped before anything that serves had changed.
    Aborted,
    /// Stopped past the point of no return: the cleanup finished the roll and the new version serves.
    Finished,
    /// Stopped, and the cleanup did not finish: something is left to do by hand.
    Failed,
    /// Refused before any change (bad input, a busy fleet, drift from the plan, a failed read).
    Refused,
    /// `--dry-run`: the plan was made; nothing changed.
    DryRun,
    /// `--plan-out`: the plan was written; nothing changed.
    Planned,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Succeeded => "succeeded",
            Verdict::TrafficShifted => "traffic_shifted",
            Verdict::Unchanged => "unchanged",
            Verdict::Registered => "registered",
            Verdict::RolledBack => "rolled_back",
            Verdict::Aborted => "aborted",
            Verdict::Finished => "finished",
            Verdict::Failed => "failed",
            Verdict::Refused => "refused",
            Verdict::DryRun => "dry_run",
            Verdict::Planned => "planned",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stopped a roll that did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The roll failed (unhealthy, an API refused, a gate failed).
    Failure,
    /// A deadline passed.
    TimedOut,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// Bad input: config, flags, drift from a plan.
    BadInput,
}

impl Stop {
    pub fn of(e: &Error) -> Stop {
        match e {
            Error::Input { .. } => Stop::BadInput,
            Error::Failed { .. } => Stop::Failure,
            Error::TimedOut { .. } => Stop::TimedOut,
            Error::Interrupted { .. } => Stop::Interrupted,
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Failure => 1,
            Stop::BadInput => 2,
            Stop::TimedOut => 3,
            Stop::Interrupted => 130,
        }
    }
}

/// An Auto Scaling group roll's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsgDetails {
    pub group: String,
    pub strategy: Strategy,
    pub previous_version: i64,
    pub new_version: i64,
    pub previous_image_id: Option<String>,
    pub new_image_id: Option<String>,
    /// Old instances replaced by new ones.
    pub instances_replaced: usize,
    pub new_instances: Vec<String>,
    /// Blue/green: which group served before and after, and how far traffic moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenDetails>,
}

/// An Auto Scaling blue/green roll's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlueGreenDetails {
    /// The group taking the traffic before the roll.
    pub live_group_before: String,
    /// The group taking the traffic now.
    pub live_group_after: String,
    /// The most traffic the new group took, in percent (0: none).
    pub weight_reached: u8,
    /// The forward action's target group stickiness (seconds), when enabled.
    pub stickiness: Option<i32>,
    /// The old group was left running (`asg.keep_old`).
    pub kept_old: bool,
}

/// An ECS rollout's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsDetails {
    pub cluster: String,
    pub service: String,
    pub previous_task_definition: String,
    pub new_task_definition: Option<String>,
    /// The container's image before the roll (what a rollback of a finished roll rolls onto).
    pub previous_image: String,
    pub image: String,
    /// The ECS deployment, or the CodeDeploy deployment for a CODE_DEPLOY service.
    pub deployment_id: Option<String>,
    /// rolling, blue_green, canary, linear or codedeploy.
    pub strategy: String,
    /// The most production traffic the new revision reached, in percent.
    pub traffic_percent: Option<f64>,
    /// The lifecycle stage or CodeDeploy event that failed.
    pub failing_stage: Option<String>,
    /// CodeDeploy services: the deployment that rolled this one back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
}

/// A CodeDeploy deployment to EC2's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerDetails {
    pub application: String,
    pub deployment_group: String,
    pub config: String,
    /// s3://bucket/key of the bundle deployed.
    pub bundle: String,
    /// The bundle was uploaded by this roll (false: it was stored already for the commit).
    pub bundle_uploaded: bool,
    /// s3://bucket/key of the last successful deployment's bundle (what a rollback serves).
    pub previous_bundle: Option<String>,
    pub deployment_id: Option<String>,
    /// The deployment that rolled it back (CodeDeploy's rollback, or slipway's redeploy).
    pub rollback_deployment_id: Option<String>,
    pub instances_succeeded: usize,
    pub instances_failed: usize,
    /// The instance, lifecycle event and error code of the first failure, and the log
    /// tail CodeDeploy returned for it.
    pub failing_instance: Option<String>,
    pub failing_event: Option<String>,
    pub error_code: Option<String>,
    pub log_tail: Option<String>,
}

/// The target's own facts; flattened into the outcome's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Details {
    Asg(AsgDetails),
    Ecs(EcsDetails),
    Server(ServerDetails),
}

/// How a roll ended, for JSON, GITHUB_OUTPUT, the step summary and the exit code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub target: Target,
    /// The group or service.
    pub name: String,
    pub result: Verdict,
    /// What stopped a roll that did not complete.
    pub stopped_by: Option<Stop>,
    /// The previous version serves again.
    pub rolled_back: bool,
    pub duration_seconds: f64,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// What the cleanup did.
    pub cleanup: Vec<String>,
    /// The CloudWatch alarm that stopped or refused the roll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    pub exit_code: u8,
    #[serde(flatten)]
    pub details: Details,
}

impl Outcome {
    pub fn new(target: Target, name: String, result: Verdict, details: Details) -> Self {
        let mut outcome = Outcome {
            target,
            name,
            result,
            stopped_by: None,
            rolled_back: false,
            duration_seconds: 0.0,
            error: None,
            cleanup: Vec::new(),
            alarm: None,
            exit_code: 0,
            details,
        };
        outcome.settle();
        outcome
    }

    /// Derives `rolled_back` and `exit_code` from the verdict and what stopped the roll.
    pub fn settle(&mut self) {
        self.rolled_back = self.result == Verdict::RolledBack;
        self.exit_code = self.code();
    }

    /// The Auto Scaling facts, when the target is a group.
    pub fn asg(&self) -> Option<&AsgDetails> {
        match &self.details {
            Details::Asg(d) => Some(d),
            Details::Ecs(_) | Details::Server(_) => None,
        }
    }

    /// The ECS facts, when the target is a service.
    pub fn ecs(&self) -> Option<&EcsDetails> {
        match &self.details {
            Details::Ecs(d) => Some(d),
            Details::Asg(_) | Details::Server(_) => None,
        }
    }

    /// The CodeDeploy-to-EC2 facts, when the target is a deployment group.
    pub fn server(&self) -> Option<&ServerDetails> {
        match &self.details {
            Details::Server(d) => Some(d),
            Details::Asg(_) | Details::Ecs(_) => None,
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        let stopped = self.stopped_by.unwrap_or(Stop::Failure).exit_code();
        match self.result {
            Verdict::Succeeded
            | Verdict::TrafficShifted
            | Verdict::Unchanged
            | Verdict::Registered
            | Verdict::DryRun
            | Verdict::Planned => 0,
            Verdict::RolledBack | Verdict::Aborted | Verdict::Finished | Verdict::Refused => stopped,
            Verdict::Failed => 1,
        }
    }
}
