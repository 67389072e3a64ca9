//! An ECS rollout's plan: what discovery saw of the service and its task definitions,
//! then the ordered mutations (register a revision, point the service at it, wait until
//! it is stable), each with the state it expects.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use sha2::{Digest, Sha256};

use crate::cloud::{DeploymentStatus, Revision, RolloutState};

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
}

/// One step of an ECS rollout, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EcsStep {
    /// RegisterTaskDefinition: a copy of the current revision with one container changed.
    RegisterRevision { revision: PlannedRevision },
    /// UpdateService onto the new revision; `expect` is the task definition before.
    UpdateService { expect: String },
    /// Wait until the new revision is the one stable deployment (rolled back otherwise).
    WaitStable,
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
            EcsStep::UpdateService { expect } => format!(
                "update service {} from {} to the new revision",
                before.service,
                short(expect)
            ),
            EcsStep::WaitStable => format!(
                "wait until the new revision is stable (rolled back to {} on failure)",
                short(&before.task_definition)
            ),
        }
    }
}

/// An ECS rollout's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn text(&self) -> String {
        let b = &self.before;
        let mut out = format!(
            "plan: ecs service {} in {} from {} ({} task(s), container {} on {})\n",
            b.service,
            short(&b.cluster),
            short(&b.task_definition),
            b.desired,
            b.container,
            b.image
        );
        if self.steps.is_empty() {
            out.push_str("  nothing to do: the container already runs this image and environment\n");
        }
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", n + 1, step.describe(b)));
        }
        out
    }
}

pub use crate::wait::ecs::short;

/// Refuses an ECS plan when the service drifted from what it assumed.
pub fn drift(planned: &EcsPlan, fresh: &EcsPlan) -> Result<()> {
    let (a, b) = (&planned.before, &fresh.before);
    if a == b {
        return Ok(());
    }
    Err(crate::roll::planfile::drifted(
        &format!("ECS service {}", a.service),
        drift_reasons(a, b),
        a,
        b,
    ))
}

/// How a service differs from what a plan saw, in words (shared by every ECS target).
pub fn drift_reasons(a: &EcsObserved, b: &EcsObserved) -> Vec<String> {
    let mut reasons = Vec::new();
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
