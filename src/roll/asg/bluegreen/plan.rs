//! The blue/green plan: the two groups as discovery saw them, the listener's forward
//! action, and the ordered steps: the idle group gets the new version and the live
//! group's capacity, traffic moves over in weight steps, the old group is scaled to zero.

use serde::{Deserialize, Serialize};

use crate::cloud::{Forward, Weighted};
use crate::config;
use crate::error::Result;
use crate::roll::asg::{Plan as GroupPlan, Step};

/// The plan format version.
pub const FORMAT: u32 = 1;

/// The name of the scheduled action that scales a kept-warm old group to zero.
pub const KEEP_OLD_ACTION: &str = "slipway-keep-old";

/// One step of a blue/green roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BgStep {
    /// An Auto Scaling step on the idle group (the one getting the new version).
    Idle(Step),
    /// An Auto Scaling step on the live group (scaling it to zero at the end).
    Live(Step),
    /// Set the forward action's weights: `percent` of the traffic to the new group.
    Shift { percent: u8, weights: Vec<Weighted> },
    /// Watch the alarms and both target groups' health for the step bake.
    StepBake { percent: u8 },
    /// Delete the scale-down a previous roll scheduled for `group` (kept warm by keep_old).
    Unschedule { group: String },
    /// Schedule the old group's scale-down to zero `after` from now (keep_old).
    KeepWarm { after: config::Duration },
}

/// A blue/green roll's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgPlan {
    pub format: u32,
    pub kind: String,
    /// The listener or listener rule ARN.
    pub listener: String,
    /// Its forward action as discovery read it.
    pub forward: Forward,
    /// The group taking the traffic, and its target group.
    pub live: GroupPlan,
    pub live_target_group: String,
    /// The group getting the new version, and its target group.
    pub idle: GroupPlan,
    pub idle_target_group: String,
    pub percents: Vec<u8>,
    pub step_bake: config::Duration,
    pub keep_old: Option<config::Duration>,
    pub steps: Vec<BgStep>,
}

impl BgPlan {
    /// The weights that send `percent` of the traffic to the idle group, in the forward
    /// action's own order.
    pub fn weights(&self, percent: u8) -> Vec<Weighted> {
        self.forward
            .target_groups
            .iter()
            .map(|t| Weighted {
                arn: t.arn.clone(),
                weight: if t.arn == self.idle_target_group {
                    percent as i32
                } else {
                    100 - percent as i32
                },
            })
            .collect()
    }

    pub fn describe(&self, step: &BgStep) -> String {
        match step {
            BgStep::Idle(s) => format!("{}: {}", self.idle.before.group, s.describe()),
            BgStep::Live(s) => format!("{}: {}", self.live.before.group, s.describe()),
            BgStep::Shift { percent, .. } => format!(
                "shift traffic: {}% to {}, {}% to {}",
                percent,
                self.idle.before.group,
                100 - *percent as i32,
                self.live.before.group
            ),
            BgStep::StepBake { percent } => format!(
                "bake at {percent}% for {} (alarms and both target groups' health watched)",
                self.step_bake
            ),
            BgStep::Unschedule { group } => {
                format!("{group}: delete the scale-down the previous roll scheduled ({KEEP_OLD_ACTION})")
            }
            BgStep::KeepWarm { after } => format!(
                "{}: keep warm, scaled to zero in {after} (scheduled action {KEEP_OLD_ACTION})",
                self.live.before.group
            ),
        }
    }

    /// The plan as readable lines.
    pub fn text(&self) -> String {
        let (l, i) = (&self.live.before, &self.idle.before);
        let mut out = format!(
            "plan: blue_green {} -> {} from version {} to {} (live {}: {} instance(s), min {}, max {}, desired {}; idle {}: {} instance(s))\n",
            l.group,
            i.group,
            l.version,
            self.live.new_version,
            l.group,
            l.instances.len(),
            l.capacity.min,
            l.capacity.max,
            l.capacity.desired,
            i.group,
            i.instances.len()
        );
        let weights: Vec<String> = self
            .forward
            .target_groups
            .iter()
            .map(|t| {
                let group = if t.arn == self.idle_target_group {
                    &i.group
                } else {
                    &l.group
                };
                format!("{group} {}%", self.forward.percent(&t.arn))
            })
            .collect();
        out.push_str(&format!("  listener {}: {}\n", self.listener, weights.join(", ")));
        match self.forward.stickiness {
            Some(secs) => out.push_str(&format!(
                "  stickiness {secs}s: clients stay pinned to a target group while the weights shift (kept as configured)\n"
            )),
            None => out.push_str("  stickiness off\n"),
        }
        let steps: Vec<String> = self.percents.iter().map(|p| format!("{p}%")).collect();
        out.push_str(&format!(
            "  traffic steps {}, step bake {}; then the old group {}\n",
            steps.join(", "),
            self.step_bake,
            match self.keep_old {
                Some(d) => format!("is kept warm for {d} (keep_old; a roll before then scales it down first)"),
                None => "is scaled to zero".into(),
            }
        ));
        if self.steps.is_empty() {
            out.push_str("  nothing to do: the live group already runs the new version\n");
        }
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", n + 1, self.describe(step)));
        }
        out
    }
}

/// Refuses a blue/green plan when the groups or the listener drifted from what it assumed.
pub fn drift(planned: &BgPlan, fresh: &BgPlan) -> Result<()> {
    let mut reasons = Vec::new();
    if planned.forward != fresh.forward {
        reasons.push(format!(
            "the weights of {} changed (another deploy ran?)",
            planned.listener
        ));
    }
    if planned.live.before.group != fresh.live.before.group {
        reasons.push(format!(
            "the live group changed from {} to {}",
            planned.live.before.group, fresh.live.before.group
        ));
    }
    for (a, b) in [(&planned.live, &fresh.live), (&planned.idle, &fresh.idle)] {
        if a.before.capacity != b.before.capacity {
            reasons.push(format!("the capacity of {} changed", a.before.group));
        }
        if a.before.version != b.before.version || a.before.launch_template != b.before.launch_template {
            reasons.push(format!(
                "the launch template version of {} changed from {} to {}",
                a.before.group, a.before.version, b.before.version
            ));
        }
        if a.before.instances != b.before.instances {
            reasons.push(format!("the instances of {} changed", a.before.group));
        }
    }
    if planned.live.target != fresh.live.target {
        reasons.push("the launch template version to roll onto changed".into());
    }
    if reasons.is_empty() {
        return Ok(());
    }
    let view = |p: &BgPlan| {
        serde_json::json!({
            "forward": &p.forward,
            "live": &p.live.before,
            "idle": &p.idle.before,
            "target": &p.live.target,
        })
    };
    Err(crate::roll::planfile::drifted(
        &format!(
            "blue/green {} / {}",
            planned.live.before.group, planned.idle.before.group
        ),
        reasons,
        &view(planned),
        &view(fresh),
    ))
}
