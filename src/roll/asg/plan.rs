//! The plan: what discovery saw, then the ordered mutations a roll intends, each with
//! the state it expects. `--dry-run` prints it; it serialises to JSON so a later job can
//! apply exactly it (and refuse when the cloud drifted from `before`).

use serde::{Deserialize, Serialize};

use crate::error::Result;

use crate::cloud::{LaunchTemplateSpec, RefreshSpec, TargetGroup};
use crate::config::Strategy;

/// The plan format version.
pub const FORMAT: u32 = 1;

/// Min, max and desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

/// One instance as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInstance {
    pub id: String,
    pub version: Option<String>,
}

/// What discovery saw; the plan's mutations assume it, and a rollback restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub group: String,
    pub capacity: Capacity,
    /// The launch template as the group had it (`$Latest` and `$Default` included).
    pub launch_template: LaunchTemplateSpec,
    /// The version number it stood for.
    pub version: i64,
    pub image_id: Option<String>,
    pub instances: Vec<PlannedInstance>,
    pub target_groups: Vec<TargetGroup>,
}

impl Observed {
    /// The launch template pinned to the version discovery resolved.
    pub fn pinned(&self) -> LaunchTemplateSpec {
        LaunchTemplateSpec {
            version: self.version.to_string(),
            ..self.launch_template.clone()
        }
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.id.clone()).collect()
    }
}

/// One mutation (or wait) of a roll, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Point the group at the new launch template version.
    SetLaunchTemplate { template: LaunchTemplateSpec },
    /// UpdateAutoScalingGroup with the sizes given; `expect` is the capacity before.
    SetCapacity {
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
        expect: Capacity,
    },
    /// Wait until `count` new instances are InService and healthy in every target group.
    WaitNewHealthy { count: i32, target_groups: Vec<String> },
    /// Run the extra health probes (health URLs showing the new version), when given.
    CheckProbes,
    /// Surge canary: the `count` new instances serve beside the old ones for `bake`
    /// seconds, watched (their target health, the health URLs; the alarms throughout).
    CanaryBake {
        count: i32,
        bake: u64,
        target_groups: Vec<String>,
    },
    /// Deregister the old instances from every target group.
    Deregister {
        target_groups: Vec<String>,
        instances: Vec<String>,
    },
    /// Wait until they have drained (the longest deregistration delay, in seconds).
    WaitDrained {
        target_groups: Vec<String>,
        instances: Vec<String>,
        delay: i32,
    },
    /// Terminate the old instances, decrementing desired capacity.
    Terminate { instances: Vec<String>, decrement: bool },
    /// Wait until the terminated instances have left the group.
    WaitGone { instances: Vec<String> },
    /// StartInstanceRefresh.
    StartRefresh { spec: RefreshSpec },
    /// Follow the refresh until it succeeds or fails.
    WaitRefresh,
}

impl Step {
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Step::SetLaunchTemplate { .. }
                | Step::SetCapacity { .. }
                | Step::Deregister { .. }
                | Step::Terminate { .. }
                | Step::StartRefresh { .. }
        )
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let list = |ids: &[String]| match ids.len() {
            0..=3 => ids.join(", "),
            n => format!("{}, ... ({n} instances)", ids[..2].join(", ")),
        };
        match self {
            Step::SetLaunchTemplate { template } => format!(
                "set the group's launch template {} to version {}",
                template.name.as_deref().or(template.id.as_deref()).unwrap_or("-"),
                template.version
            ),
            Step::SetCapacity {
                min,
                max,
                desired,
                expect,
            } => {
                let mut parts = Vec::new();
                if let Some(v) = min {
                    parts.push(format!("min {} -> {v}", expect.min));
                }
                if let Some(v) = max {
                    parts.push(format!("max {} -> {v}", expect.max));
                }
                if let Some(v) = desired {
                    parts.push(format!("desired {} -> {v}", expect.desired));
                }
                format!("update capacity: {}", parts.join(", "))
            }
            Step::WaitNewHealthy { count, target_groups } => format!(
                "wait until {count} new instances are InService and healthy in {} target group(s)",
                target_groups.len()
            ),
            Step::CheckProbes => "check the extra health probes, if any".into(),
            Step::CanaryBake { count, bake, .. } => format!(
                "canary: {count} new instance(s) serve beside the old ones for {}, watched (target health, health URLs, alarms); a failure removes just them",
                crate::config::Duration(std::time::Duration::from_secs(*bake))
            ),
            Step::Deregister {
                target_groups,
                instances,
            } => format!(
                "deregister {} from {} target group(s)",
                list(instances),
                target_groups.len()
            ),
            Step::WaitDrained { delay, .. } => format!("wait for draining (deregistration delay {delay}s)"),
            Step::Terminate { instances, decrement } => format!(
                "terminate {}{}",
                list(instances),
                if *decrement {
                    ", decrementing desired capacity"
                } else {
                    ""
                }
            ),
            Step::WaitGone { instances } => format!("wait until {} instance(s) have left the group", instances.len()),
            Step::StartRefresh { spec } => {
                let mut extra = String::new();
                if !spec.alarms.is_empty() {
                    extra.push_str(&format!(", rolled back by AWS on alarms {}", spec.alarms.join(", ")));
                }
                if let Some(b) = spec.bake_time {
                    extra.push_str(&format!(", AWS bake time {b}s"));
                }
                if !spec.auto_rollback {
                    extra.push_str(
                        ": the group uses $Latest or $Default, which AWS cannot roll back; on failure slipway cancels \
                         the refresh and refreshes back to the numbered version the group ran",
                    );
                }
                format!(
                    "start an instance refresh to version {} (min healthy {}%, max healthy {}%, warmup {}, skip matching, auto rollback {}{extra})",
                    spec.launch_template.version,
                    spec.min_healthy_percentage,
                    spec.max_healthy_percentage,
                    spec.instance_warmup.map(|w| format!("{w}s")).unwrap_or_else(|| "default".into()),
                    if spec.auto_rollback { "on" } else { "off" }
                )
            }
            Step::WaitRefresh => "follow the refresh until it succeeds (rolled back on failure)".into(),
        }
    }
}

/// A roll's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub kind: String,
    pub strategy: Strategy,
    pub before: Observed,
    /// The launch template pinned to the new version.
    pub target: LaunchTemplateSpec,
    pub new_version: i64,
    pub new_image_id: Option<String>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The plan as readable lines.
    pub fn text(&self) -> String {
        let b = &self.before;
        let mut out = format!(
            "plan: {} {} from version {} to {} ({} instance(s), min {}, max {}, desired {})\n",
            strategy_name(self.strategy),
            b.group,
            b.version,
            self.new_version,
            b.instances.len(),
            b.capacity.min,
            b.capacity.max,
            b.capacity.desired
        );
        if self.steps.is_empty() {
            out.push_str("  nothing to do: every instance already runs the new version\n");
        }
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", n + 1, step.describe()));
        }
        out
    }
}

pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Surge => "surge",
        Strategy::Refresh => "refresh",
        Strategy::BlueGreen => "blue_green",
    }
}

/// Refuses an Auto Scaling plan when the group drifted from what it assumed.
pub fn drift(planned: &Plan, fresh: &Plan) -> Result<()> {
    let (a, b) = (&planned.before, &fresh.before);
    if a == b && planned.target == fresh.target {
        return Ok(());
    }
    let mut reasons = Vec::new();
    if a.capacity != b.capacity {
        reasons.push("the group's capacity changed".to_string());
    }
    if a.launch_template != b.launch_template || a.version != b.version {
        reasons.push(format!(
            "the group's launch template version changed from {} to {} (another deploy ran?)",
            a.version, b.version
        ));
    }
    if a.instances != b.instances {
        reasons.push("the group's instances changed".into());
    }
    if planned.target != fresh.target {
        reasons.push("the launch template version to roll onto changed".into());
    }
    if reasons.is_empty() {
        reasons.push("the group changed".into());
    }
    #[derive(Serialize)]
    struct View<'a> {
        before: &'a Observed,
        target: &'a LaunchTemplateSpec,
    }
    Err(crate::roll::planfile::drifted(
        &format!("Auto Scaling group {}", a.group),
        reasons,
        &View {
            before: a,
            target: &planned.target,
        },
        &View {
            before: b,
            target: &fresh.target,
        },
    ))
}
