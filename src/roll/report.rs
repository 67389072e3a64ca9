//! Roll outcomes for people and workflows, for every target: a text summary on stderr,
//! a markdown table for the step summary, and the GITHUB_OUTPUT pairs (with what a
//! one-click rollback passes back: the previous launch template version or task
//! definition). Every function is an exhaustive match on the verdict and the target.

use super::asg::plan::strategy_name;
use super::ecs::plan::short;
use super::outcome::{Details, Outcome, Verdict};
use crate::report::escape_md;

fn percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

fn secs(s: f64) -> String {
    crate::wait::human(std::time::Duration::from_secs_f64(s.max(0.0)))
}

impl Details {
    /// What ran before the roll.
    pub(crate) fn previous(&self) -> String {
        match self {
            Details::Asg(d) => format!("version {}", d.previous_version),
            Details::Ecs(d) => short(&d.previous_task_definition).to_string(),
            Details::Server(d) => d
                .previous_bundle
                .clone()
                .unwrap_or_else(|| "the previous revision".into()),
        }
    }

    /// What the roll rolls onto.
    pub(crate) fn next(&self) -> String {
        match self {
            Details::Asg(d) => format!("version {}", d.new_version),
            Details::Ecs(d) => d.new_task_definition.as_deref().map(short).unwrap_or("-").to_string(),
            Details::Server(d) => d.bundle.clone(),
        }
    }

    /// What already runs, for an unchanged fleet.
    fn current(&self) -> String {
        match self {
            Details::Asg(d) => format!("version {}", d.new_version),
            Details::Ecs(d) => d.image.clone(),
            Details::Server(d) => d.bundle.clone(),
        }
    }

    /// What the success replaced, after the durations.
    fn replaced(&self) -> String {
        match self {
            Details::Asg(d) => format!(": {} instance(s) replaced", d.instances_replaced),
            Details::Ecs(_) => String::new(),
            Details::Server(d) => format!(" on {} instance(s)", d.instances_succeeded),
        }
    }

    /// The command that undoes a successful roll.
    fn undo(&self) -> String {
        match self {
            Details::Asg(d) => format!("slipway-roll --launch-template-version {}", d.previous_version),
            // A CODE_DEPLOY service refuses UpdateService: the undo is another deployment.
            Details::Ecs(d) if d.strategy == "codedeploy" => format!(
                "slipway-roll --image <the image of {}> (a CodeDeploy deployment of the previous revision)",
                short(&d.previous_task_definition)
            ),
            Details::Ecs(d) => format!(
                "aws ecs update-service --cluster {} --service {} --task-definition {}",
                d.cluster, d.service, d.previous_task_definition
            ),
            Details::Server(d) => match d.previous_bundle.as_deref().and_then(|b| b.strip_prefix("s3://")) {
                Some(location) => {
                    let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
                    format!(
                        "aws deploy create-deployment --application-name {} --deployment-group-name {} \
                         --s3-location bucket={bucket},key={key},bundleType=zip",
                        d.application, d.deployment_group
                    )
                }
                None => "redeploy the previous revision with CodeDeploy".into(),
            },
        }
    }

    /// The target's rows of the step summary table.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        match self {
            Details::Asg(d) => {
                let mut rows = vec![
                    ("strategy", strategy_name(d.strategy).to_string()),
                    ("previous version", d.previous_version.to_string()),
                    ("new version", d.new_version.to_string()),
                    ("previous image", opt(&d.previous_image_id)),
                    ("new image", opt(&d.new_image_id)),
                    ("instances replaced", d.instances_replaced.to_string()),
                ];
                if let Some(bg) = &d.blue_green {
                    rows.push(("live group before", bg.live_group_before.clone()));
                    rows.push(("live group after", bg.live_group_after.clone()));
                    rows.push(("traffic reached", format!("{}%", bg.weight_reached)));
                }
                rows
            }
            Details::Ecs(d) => {
                let mut rows = vec![
                    ("strategy", d.strategy.clone()),
                    ("previous task definition", d.previous_task_definition.clone()),
                    ("new task definition", opt(&d.new_task_definition)),
                    ("image", d.image.clone()),
                    ("deployment", opt(&d.deployment_id)),
                ];
                if d.traffic_percent.is_some() {
                    rows.push(("production traffic reached", percent(d.traffic_percent)));
                }
                if let Some(stage) = &d.failing_stage {
                    rows.push(("failing stage", stage.clone()));
                }
                if let Some(id) = &d.rollback_deployment_id {
                    rows.push(("rollback deployment", id.clone()));
                }
                rows
            }
            Details::Server(d) => {
                let mut rows = vec![
                    ("application", d.application.clone()),
                    ("deployment group", d.deployment_group.clone()),
                    ("config", d.config.clone()),
                    (
                        "bundle",
                        format!(
                            "{} ({})",
                            d.bundle,
                            if d.bundle_uploaded {
                                "uploaded"
                            } else {
                                "stored already"
                            }
                        ),
                    ),
                    ("deployment", opt(&d.deployment_id)),
                    (
                        "instances",
                        format!("{} succeeded, {} failed", d.instances_succeeded, d.instances_failed),
                    ),
                ];
                if let Some(id) = &d.rollback_deployment_id {
                    rows.push(("rollback deployment", id.clone()));
                }
                if let Some(i) = &d.failing_instance {
                    rows.push(("failing instance", i.clone()));
                }
                if let Some(e) = &d.failing_event {
                    rows.push((
                        "failing event",
                        format!("{e} {}", opt(&d.error_code)).trim().to_string(),
                    ));
                }
                if let Some(t) = &d.log_tail {
                    rows.push(("log tail", t.clone()));
                }
                rows
            }
        }
    }

    /// The target's GITHUB_OUTPUT pairs.
    fn outputs(&self) -> Vec<(&'static str, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        match self {
            Details::Asg(d) => {
                let mut pairs = vec![
                    ("previous-version", d.previous_version.to_string()),
                    ("new-version", d.new_version.to_string()),
                    ("previous-image-id", opt(&d.previous_image_id)),
                    ("new-image-id", opt(&d.new_image_id)),
                    ("instances-replaced", d.instances_replaced.to_string()),
                ];
                if let Some(bg) = &d.blue_green {
                    pairs.push(("live-group-before", bg.live_group_before.clone()));
                    pairs.push(("live-group-after", bg.live_group_after.clone()));
                    pairs.push(("weight-reached", bg.weight_reached.to_string()));
                }
                pairs
            }
            Details::Ecs(d) => vec![
                ("previous-task-definition", d.previous_task_definition.clone()),
                ("new-task-definition", opt(&d.new_task_definition)),
                ("image", d.image.clone()),
                ("ecs-deployment-id", opt(&d.deployment_id)),
                ("strategy", d.strategy.clone()),
                (
                    "traffic-percent",
                    d.traffic_percent.map(|p| p.to_string()).unwrap_or_default(),
                ),
                ("failing-stage", opt(&d.failing_stage)),
                ("rollback-deployment-id", opt(&d.rollback_deployment_id)),
            ],
            Details::Server(d) => vec![
                ("codedeploy-deployment-id", opt(&d.deployment_id)),
                ("rollback-deployment-id", opt(&d.rollback_deployment_id)),
                ("bundle", d.bundle.clone()),
                ("bundle-uploaded", d.bundle_uploaded.to_string()),
                ("failing-instance", opt(&d.failing_instance)),
                ("failing-event", opt(&d.failing_event)),
                ("error-code", opt(&d.error_code)),
            ],
        }
    }
}

/// The verdict in one sentence.
pub fn verdict(o: &Outcome) -> String {
    let (name, d, took) = (&o.name, &o.details, secs(o.duration_seconds));
    match o.result {
        Verdict::Succeeded => format!(
            "rolled {name} from {} to {}{} in {took}",
            d.previous(),
            d.next(),
            d.replaced()
        ),
        Verdict::TrafficShifted => format!(
            "{name}: production traffic moved from {} to {} in {took}; the deployment finishes on its own \
             (bake, alarms, rollback): follow it with slipway-roll --resume",
            d.previous(),
            d.next()
        ),
        Verdict::Unchanged => format!("{name} already runs {}; nothing changed", d.current()),
        Verdict::Registered => format!("registered {} for {name}; it still runs {}", d.next(), d.previous()),
        Verdict::RolledBack => format!("{name} rolled back to {} after {took}", d.previous()),
        Verdict::Aborted => format!("{name}: stopped before anything serving had changed"),
        Verdict::Finished => format!(
            "{name}: stopped after {} was serving; the roll was finished instead of undone",
            d.next()
        ),
        Verdict::Failed => format!("{name}: the roll failed and its cleanup did not finish"),
        Verdict::Refused => format!("{name}: refused before any change"),
        Verdict::DryRun => format!("{name}: dry run, nothing changed"),
        Verdict::Planned => format!("{name}: plan written, nothing changed"),
    }
}

/// Whether the report offers the one-line undo.
fn undoable(o: &Outcome) -> bool {
    match o.result {
        Verdict::Succeeded => true,
        Verdict::Unchanged
        | Verdict::TrafficShifted
        | Verdict::Registered
        | Verdict::RolledBack
        | Verdict::Aborted
        | Verdict::Finished
        | Verdict::Failed
        | Verdict::Refused
        | Verdict::DryRun
        | Verdict::Planned => false,
    }
}

/// The GITHUB_OUTPUT pairs (kebab-case, as the aws-actions name theirs).
pub fn outputs(o: &Outcome) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("result", o.result.as_str().to_string()),
        ("target", o.target.as_str().to_string()),
    ];
    out.extend(o.details.outputs());
    out.push(("rolled-back", o.rolled_back.to_string()));
    out.push(("alarm", o.alarm.clone().unwrap_or_default()));
    out.push(("duration", format!("{:.0}", o.duration_seconds)));
    out
}

/// The outcome as readable lines.
pub fn text(o: &Outcome) -> String {
    let mut out = format!("{}\n", verdict(o));
    if let Some(e) = &o.error {
        out.push_str(&format!("  why      {e}\n"));
    }
    if let Some(a) = &o.alarm {
        out.push_str(&format!("  alarm    {a}\n"));
    }
    for c in &o.cleanup {
        out.push_str(&format!("  cleanup  {c}\n"));
    }
    if undoable(o) {
        out.push_str(&format!("  undo     {}\n", o.details.undo()));
    }
    out
}

/// A markdown table for GITHUB_STEP_SUMMARY.
pub fn markdown(o: &Outcome) -> String {
    let mut out = format!(
        "### slipway-roll: {}\n\n{}\n\n| | |\n|---|---|\n",
        escape_md(&o.name),
        escape_md(&verdict(o))
    );
    let mut rows = vec![("result", o.result.as_str().to_string())];
    rows.extend(o.details.rows());
    rows.push(("rolled back", if o.rolled_back { "yes" } else { "no" }.to_string()));
    if let Some(a) = &o.alarm {
        rows.push(("alarm", a.clone()));
    }
    rows.push(("duration", secs(o.duration_seconds)));
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {} |\n", escape_md(&v)));
    }
    if let Some(e) = &o.error {
        out.push_str(&format!("| error | {} |\n", escape_md(e)));
    }
    for c in &o.cleanup {
        out.push_str(&format!("| cleanup | {} |\n", escape_md(c)));
    }
    if undoable(o) {
        out.push_str(&format!("\nTo roll back: `{}`\n", o.details.undo()));
    }
    out
}
