//! An ECS rollout's plan: what discovery saw of the service and its task definitions,
//! then the ordered mutations (register a revision, point the service at it, wait until
//! it is stable), each with the state it expects.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use sha2::{Digest, Sha256};

use crate::roll::WaitUntil;

use crate::cloud::{Controller, DeploymentSettings, DeploymentStatus, NativeStrategy, Revision, RolloutState};

/// The new revision as a plan records it: the variables' names and a digest of their
/// values, never the values (plans are uploaded as workflow artifacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRevision {
    /// The task definition the new revision copies, everything else unchanged.
    pub from: String,
    pub container: String,
    pub image: String,
    /// The names of the environment variables set, sorted.
    pub environment: Vec<String>,
    /// `sha256:` over the names and values, so `--apply` can check it was given the same.
    pub environment_digest: String,
}

impl PlannedRevision {
    pub fn of(revision: &Revision) -> Self {
        PlannedRevision {
            from: revision.from.clone(),
            container: revision.container.clone(),
            image: revision.image.clone(),
            environment: revision.environment.iter().map(|(k, _)| k.clone()).collect(),
            environment_digest: environment_digest(&revision.environment),
        }
    }
}

/// The digest of environment variables (sorted by name) as plans record it.
pub fn environment_digest(environment: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = environment.iter().collect();
    pairs.sort();
    let mut hash = Sha256::new();
    for (k, v) in pairs {
        hash.update((k.len() as u64).to_be_bytes());
        hash.update(k.as_bytes());
        hash.update((v.len() as u64).to_be_bytes());
        hash.update(v.as_bytes());
    }
    format!(
        "sha256:{}",
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// One deployment as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenDeployment {
    pub id: String,
    pub task_definition: String,
    pub status: DeploymentStatus,
    pub rollout_state: Option<RolloutState>,
}

/// What discovery saw; the plan assumes it, and a rollback restores its task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsObserved {
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    /// The task definition the service runs.
    pub task_definition: String,
    pub family: String,
    pub revision: i32,
    /// The newest revision of the family.
    pub latest_revision: i32,
    pub desired: i32,
    pub deployments: Vec<SeenDeployment>,
    /// The container the rollout changes, and its image now.
    pub container: String,
    pub image: String,
    pub circuit_breaker_rollback: bool,
    /// Who deploys the service.
    #[serde(default = "ecs_controller")]
    pub controller: Controller,
    /// The alternate target group of its load balancer entry (ECS blue/green), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_target_group: Option<String>,
}

fn ecs_controller() -> Controller {
    Controller::Ecs
}

/// One step of an ECS rollout, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EcsStep {
    /// RegisterTaskDefinition: a copy of the current revision with one container changed.
    RegisterRevision { revision: PlannedRevision },
    /// UpdateService onto the new revision; `expect` is the task definition before;
    /// `deployment` the native strategy's settings (None: rolling, as the service is).
    UpdateService {
        expect: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment: Option<DeploymentSettings>,
    },
    /// Wait until the new revision is the one stable deployment (rolled back otherwise).
    WaitStable,
    /// Follow the native service deployment to SUCCESSFUL (or, `until` traffic_shifted,
    /// until production traffic is on the new revision), with the test-traffic gate at its
    /// PAUSE hook (StopServiceDeployment ROLLBACK otherwise).
    FollowDeployment {
        test_urls: usize,
        #[serde(default, skip_serializing_if = "WaitUntil::is_completed")]
        until: WaitUntil,
    },
    /// `--resume`: take over the service deployment a roll left running (from here on a
    /// failure, timeout, alarm or signal rolls it back).
    Attach { deployment: String },
    /// Deregister the family's older revisions, keeping the newest `keep` and any in use.
    KeepRevisions { keep: u32 },
}

/// A strategy's name as slipway.yml writes it.
pub fn strategy_name(deployment: Option<&DeploymentSettings>) -> String {
    match deployment.map(|d| &d.strategy) {
        None | Some(NativeStrategy::Rolling) => "rolling".into(),
        Some(NativeStrategy::BlueGreen) => "blue_green".into(),
        Some(NativeStrategy::Canary) => "canary".into(),
        Some(NativeStrategy::Linear) => "linear".into(),
        Some(NativeStrategy::Unknown(other)) => other.to_lowercase(),
    }
}

/// A duration for plans: `0s`, `5m`, `90s`.
fn minutes(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// How production traffic moves, in words: "100% at once", "10% for 5m, then 100%",
/// "25%, 50%, 75%, 100% every 1m".
pub fn traffic_steps(d: &DeploymentSettings) -> String {
    match (&d.strategy, d.canary, d.linear) {
        (NativeStrategy::Canary, Some((percent, bake)), _) => {
            format!("{percent}% for {}, then 100%", minutes(bake))
        }
        (NativeStrategy::Linear, _, Some((step, bake))) if step > 0.0 => {
            let mut shares = Vec::new();
            let mut share: f64 = 0.0;
            while share < 100.0 {
                share = (share + step).min(100.0);
                shares.push(format!("{share}%"));
            }
            format!("{} every {}", shares.join(", "), minutes(bake))
        }
        _ => "100% at once".into(),
    }
}

/// The native deployment's settings in one line, for plans and dry runs.
pub fn describe_deployment(d: &DeploymentSettings) -> String {
    let alarms = if d.alarms.is_empty() {
        "none".to_string()
    } else {
        d.alarms.join(", ")
    };
    format!(
        "strategy {}: test traffic first{}, then production traffic {}; bake {}; alarms: {alarms}",
        strategy_name(Some(d)),
        if d.pause_after_test_traffic {
            " (paused at POST_TEST_TRAFFIC_SHIFT for the test-traffic gate)"
        } else {
            ""
        },
        traffic_steps(d),
        minutes(d.bake),
    )
}

impl EcsStep {
    pub fn describe(&self, before: &EcsObserved) -> String {
        match self {
            EcsStep::RegisterRevision { revision } => {
                let mut text = format!(
                    "register {}:{} from revision {} with container {} image {}",
                    before.family,
                    before.latest_revision + 1,
                    before.revision,
                    revision.container,
                    revision.image
                );
                if !revision.environment.is_empty() {
                    text.push_str(&format!(" and environment {}", revision.environment.join(", ")));
                }
                text
            }
            EcsStep::UpdateService { expect, deployment } => {
                let mut text = format!(
                    "update service {} from {} to the new revision",
                    before.service,
                    short(expect)
                );
                if let Some(d) = deployment {
                    text.push_str(&format!(" with {}", describe_deployment(d)));
                }
                text
            }
            EcsStep::WaitStable => format!(
                "wait until the new revision is stable (rolled back to {} on failure)",
                short(&before.task_definition)
            ),
            EcsStep::FollowDeployment { test_urls, until } => {
                let gate = match test_urls {
                    0 => String::new(),
                    n => format!(", probe {n} test URL(s) at the PAUSE hook, then CONTINUE or ROLLBACK"),
                };
                let end = match until {
                    WaitUntil::Completed => "SUCCESSFUL",
                    WaitUntil::TrafficShifted => "production traffic is on the new revision (ECS finishes the rest)",
                };
                format!(
                    "follow the service deployment until {end}{gate} (StopServiceDeployment ROLLBACK to {} on failure)",
                    short(&before.task_definition)
                )
            }
            EcsStep::Attach { deployment } => {
                format!(
                    "resume service deployment {} of {}, rolling it back to {} on failure",
                    deployment.rsplit('/').next().unwrap_or(deployment),
                    before.service,
                    short(&before.task_definition)
                )
            }
            EcsStep::KeepRevisions { keep } => format!(
                "deregister revisions of {} older than the newest {keep}, never one a service uses",
                before.family
            ),
        }
    }
}

/// An ECS rollout's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsPlan {
    pub format: u32,
    pub kind: String,
    pub before: EcsObserved,
    pub steps: Vec<EcsStep>,
}

impl EcsPlan {
    /// The revision the plan registers, if any.
    pub fn revision(&self) -> Option<&PlannedRevision> {
        self.steps.iter().find_map(|s| match s {
            EcsStep::RegisterRevision { revision } => Some(revision),
            _ => None,
        })
    }

    /// The native strategy's settings the plan deploys with (None: rolling).
    pub fn deployment(&self) -> Option<&DeploymentSettings> {
        self.steps.iter().find_map(|s| match s {
            EcsStep::UpdateService { deployment, .. } => deployment.as_ref(),
            _ => None,
        })
    }

    pub fn text(&self) -> String {
        let b = &self.before;
        b.plan_text("", self.steps.iter().map(|s| s.describe(b)))
    }
}

impl EcsObserved {
    /// A plan's text for this service: the headline (`via`, e.g. " through CodeDeploy",
    /// after the service) and the numbered steps, or why there is nothing to do.
    pub fn plan_text(&self, via: &str, steps: impl Iterator<Item = String>) -> String {
        let mut out = format!(
            "plan: ecs service {} in {}{via} from {} ({} task(s), container {} on {})\n",
            self.service,
            short(&self.cluster),
            short(&self.task_definition),
            self.desired,
            self.container,
            self.image
        );
        let mut any = false;
        for (n, step) in steps.enumerate() {
            any = true;
            out.push_str(&format!("  {}. {step}\n", n + 1));
        }
        if !any {
            out.push_str("  nothing to do: the container already runs this image and environment\n");
        }
        out
    }

    /// Why a plan for this service has no steps.
    pub fn up_to_date(&self) -> String {
        format!(
            "{}: container {} already runs {}; nothing to do",
            self.service, self.container, self.image
        )
    }
}

pub use crate::wait::ecs::short;

/// Refuses an ECS plan when the service drifted from what it assumed.
pub fn drift(planned: &EcsPlan, fresh: &EcsPlan) -> Result<()> {
    let (a, b) = (&planned.before, &fresh.before);
    let (sa, sb) = (planned.deployment(), fresh.deployment());
    if a == b && sa == sb {
        return Ok(());
    }
    let mut reasons = drift_reasons(a, b);
    if sa != sb {
        reasons.push(format!(
            "the strategy is now {} instead of {}",
            sb.map(describe_deployment).unwrap_or_else(|| "rolling".into()),
            sa.map(describe_deployment).unwrap_or_else(|| "rolling".into())
        ));
    }
    Err(crate::roll::planfile::drifted(
        &format!("ECS service {}", a.service),
        reasons,
        a,
        b,
    ))
}

/// How a service differs from what a plan saw, in words (shared by every ECS target).
pub fn drift_reasons(a: &EcsObserved, b: &EcsObserved) -> Vec<String> {
    let mut reasons = Vec::new();
    if a.controller != b.controller {
        reasons.push(format!(
            "the service's deployment controller is now {} instead of {}",
            b.controller, a.controller
        ));
    }
    if a.alternate_target_group != b.alternate_target_group {
        reasons.push("the service's alternate target group changed".into());
    }
    if a.task_definition != b.task_definition {
        reasons.push(format!(
            "the service now runs {} instead of {} (another deploy ran)",
            short(&b.task_definition),
            short(&a.task_definition)
        ));
    }
    if a.latest_revision != b.latest_revision {
        reasons.push(format!(
            "a newer task definition exists: {}:{}",
            b.family, b.latest_revision
        ));
    }
    if a.deployments != b.deployments {
        reasons.push("the service's deployments changed".into());
    }
    if a.desired != b.desired {
        reasons.push(format!("the desired count changed from {} to {}", a.desired, b.desired));
    }
    if reasons.is_empty() && a != b {
        reasons.push("the service changed".into());
    }
    reasons
}
