//! Roll outcomes for people and workflows: a text summary on stderr, a markdown table
//! for the step summary, and the GITHUB_OUTPUT pairs (enough for a one-click rollback:
//! the previous launch template version is an input of the next roll).

use super::plan::strategy_name;
use super::Outcome;
use crate::report::escape_md;

/// The GITHUB_OUTPUT pairs.
pub fn outputs(o: &Outcome) -> Vec<(&'static str, String)> {
    vec![
        ("result", o.result.to_string()),
        ("previous_version", o.previous_version.to_string()),
        ("new_version", o.new_version.to_string()),
        ("previous_image_id", o.previous_image_id.clone().unwrap_or_default()),
        ("new_image_id", o.new_image_id.clone().unwrap_or_default()),
        ("instances_replaced", o.instances_replaced.to_string()),
        ("rolled_back", o.rolled_back.to_string()),
        ("duration", format!("{:.0}", o.duration_seconds)),
    ]
}

fn verdict(o: &Outcome) -> String {
    match o.result {
        "succeeded" => format!(
            "rolled {} from version {} to {}: {} instance(s) replaced in {}",
            o.group,
            o.previous_version,
            o.new_version,
            o.instances_replaced,
            secs(o.duration_seconds)
        ),
        "unchanged" => format!("{} already runs version {}; nothing changed", o.group, o.new_version),
        "rolled_back" => format!(
            "{} rolled back to version {} after {}",
            o.group,
            o.previous_version,
            secs(o.duration_seconds)
        ),
        "finished" => format!(
            "{} interrupted after the new version {} was serving: the old instances were removed",
            o.group, o.new_version
        ),
        "aborted" => format!("{}: stopped before changing anything", o.group),
        "dry_run" => format!("{}: dry run, nothing changed", o.group),
        _ => format!("{}: the roll failed and its cleanup did not finish", o.group),
    }
}

fn secs(s: f64) -> String {
    crate::wait::human(std::time::Duration::from_secs_f64(s.max(0.0)))
}

/// The outcome as readable lines.
pub fn text(o: &Outcome) -> String {
    let mut out = format!("{}\n", verdict(o));
    if let Some(e) = &o.error {
        out.push_str(&format!("  why      {e}\n"));
    }
    for c in &o.cleanup {
        out.push_str(&format!("  cleanup  {c}\n"));
    }
    if o.result == "succeeded" {
        out.push_str(&format!(
            "  undo     slipway-roll --launch-template-version {}\n",
            o.previous_version
        ));
    }
    out
}

/// A markdown table for GITHUB_STEP_SUMMARY.
pub fn markdown(o: &Outcome) -> String {
    let mut out = format!(
        "### slipway-roll: {}\n\n{}\n\n| | |\n|---|---|\n",
        escape_md(&o.group),
        escape_md(&verdict(o))
    );
    let rows = [
        ("strategy", strategy_name(o.strategy).to_string()),
        ("result", o.result.to_string()),
        ("previous version", o.previous_version.to_string()),
        ("new version", o.new_version.to_string()),
        ("previous image", o.previous_image_id.clone().unwrap_or_default()),
        ("new image", o.new_image_id.clone().unwrap_or_default()),
        ("instances replaced", o.instances_replaced.to_string()),
        ("rolled back", if o.rolled_back { "yes" } else { "no" }.to_string()),
        ("duration", secs(o.duration_seconds)),
    ];
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {} |\n", escape_md(&v)));
    }
    if let Some(e) = &o.error {
        out.push_str(&format!("| error | {} |\n", escape_md(e)));
    }
    if o.result == "succeeded" {
        out.push_str(&format!(
            "\nTo roll back: run slipway-roll with `--launch-template-version {}`.\n",
            o.previous_version
        ));
    }
    out
}
