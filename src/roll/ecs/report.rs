//! ECS rollout outcomes for people and workflows: text on stderr, a markdown table for
//! the step summary, and the GITHUB_OUTPUT pairs (the previous task definition is what
//! a one-click rollback passes back).

use super::plan::short;
use super::EcsOutcome;
use crate::report::escape_md;

/// The GITHUB_OUTPUT pairs.
pub fn outputs(o: &EcsOutcome) -> Vec<(&'static str, String)> {
    vec![
        ("result", o.result.to_string()),
        ("previous_task_definition", o.previous_task_definition.clone()),
        ("new_task_definition", o.new_task_definition.clone().unwrap_or_default()),
        ("image", o.image.clone()),
        ("deployment_id", o.deployment_id.clone().unwrap_or_default()),
        ("rolled_back", o.rolled_back.to_string()),
        ("duration", format!("{:.0}", o.duration_seconds)),
    ]
}

fn secs(s: f64) -> String {
    crate::wait::human(std::time::Duration::from_secs_f64(s.max(0.0)))
}

fn verdict(o: &EcsOutcome) -> String {
    let new = o.new_task_definition.as_deref().map(short).unwrap_or("-");
    let prev = short(&o.previous_task_definition);
    match o.result {
        "succeeded" => format!(
            "rolled {} from {prev} to {new} in {}",
            o.service,
            secs(o.duration_seconds)
        ),
        "registered" => format!("registered {new} for {}; the service still runs {prev}", o.service),
        "unchanged" => format!("{} already runs {}; nothing changed", o.service, o.image),
        "rolled_back" => format!("{} rolled back to {prev} after {}", o.service, secs(o.duration_seconds)),
        "aborted" => format!("{}: stopped before the service changed", o.service),
        "dry_run" => format!("{}: dry run, nothing changed", o.service),
        "planned" => format!("{}: plan written, nothing changed", o.service),
        _ => format!("{}: the rollout failed and its rollback did not finish", o.service),
    }
}

/// The outcome as readable lines.
pub fn text(o: &EcsOutcome) -> String {
    let mut out = format!("{}\n", verdict(o));
    if let Some(e) = &o.error {
        out.push_str(&format!("  why      {e}\n"));
    }
    for c in &o.cleanup {
        out.push_str(&format!("  cleanup  {c}\n"));
    }
    if o.result == "succeeded" {
        out.push_str(&format!(
            "  undo     aws ecs update-service --cluster {} --service {} --task-definition {}\n",
            o.cluster, o.service, o.previous_task_definition
        ));
    }
    out
}

/// A markdown table for GITHUB_STEP_SUMMARY.
pub fn markdown(o: &EcsOutcome) -> String {
    let mut out = format!(
        "### slipway-roll: {}\n\n{}\n\n| | |\n|---|---|\n",
        escape_md(&o.service),
        escape_md(&verdict(o))
    );
    let rows = [
        ("result", o.result.to_string()),
        ("previous task definition", o.previous_task_definition.clone()),
        ("new task definition", o.new_task_definition.clone().unwrap_or_default()),
        ("image", o.image.clone()),
        ("deployment", o.deployment_id.clone().unwrap_or_default()),
        ("rolled back", if o.rolled_back { "yes" } else { "no" }.to_string()),
        ("duration", secs(o.duration_seconds)),
    ];
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {} |\n", escape_md(&v)));
    }
    if let Some(e) = &o.error {
        out.push_str(&format!("| error | {} |\n", escape_md(e)));
    }
    out
}
