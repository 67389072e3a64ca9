//! A bake's outcome as terminal text, step outputs and step-summary markdown.

use super::{Outcome, Status};
use crate::report::escape_md;

/// The step outputs: result, skipped, ami-id, ami-ids (JSON, region to AMI),
/// launch-template-id, launch-template-version. Every name is declared in action.yml, so
/// there is no output per region.
pub fn outputs(o: &Outcome) -> Vec<(String, String)> {
    let ids = o.ami_ids();
    let mut out = vec![
        ("result".to_string(), o.result.as_str().to_string()),
        ("skipped".to_string(), (o.result == Status::Skipped).to_string()),
        ("ami-id".to_string(), o.ami_id.clone().unwrap_or_default()),
        (
            "ami-ids".to_string(),
            serde_json::to_string(&ids).unwrap_or_else(|_| "{}".into()),
        ),
    ];
    let lt = o.launch_template.as_ref();
    out.push((
        "launch-template-id".to_string(),
        lt.map(|t| t.id.clone()).unwrap_or_default(),
    ));
    out.push((
        "launch-template-version".to_string(),
        lt.and_then(|t| t.version).map(|v| v.to_string()).unwrap_or_default(),
    ));
    out
}

fn headline(o: &Outcome) -> String {
    let commit = crate::commit::short(&o.commit);
    match o.result {
        Status::Baked => format!("baked {} {} ({commit}) for {}", o.app, o.version, o.environment),
        Status::Skipped => format!(
            "reused the AMI of {} {} ({commit}) for {}: nothing baked",
            o.app, o.version, o.environment
        ),
        Status::DryRun => format!(
            "dry run: would bake {} {} ({commit}) for {} from {}",
            o.app, o.version, o.environment, o.template
        ),
    }
}

/// Readable lines for a terminal.
pub fn text(o: &Outcome) -> String {
    let mut out = format!("{}\n", headline(o));
    if o.result == Status::DryRun {
        match o.amis.first() {
            Some(a) => out.push_str(&format!(
                "  ami      {} already exists for this commit: it would be reused\n",
                a.ami_id
            )),
            None => out.push_str(&format!(
                "  packer   build {} (packer {}), region {}\n",
                o.template, o.packer_version, o.region
            )),
        }
    } else {
        for a in &o.amis {
            let build = if a.build.is_empty() { "-" } else { &a.build };
            out.push_str(&format!("  ami      {} {} ({build})\n", a.ami_id, a.region));
        }
    }
    if let Some(t) = &o.launch_template {
        let what = match (o.result, t.version, t.created) {
            (Status::DryRun, _, _) => format!("would get a new version from version {}", t.source_version),
            (_, Some(v), true) => format!("version {v} created from version {}", t.source_version),
            (_, Some(v), false) => format!("version {v} already carries the AMI"),
            (_, None, _) => "unchanged".to_string(),
        };
        let default = if t.default { ", default" } else { "" };
        out.push_str(&format!("  template {} ({}): {what}{default}\n", t.name, t.id));
    }
    out
}

/// Markdown for GITHUB_STEP_SUMMARY.
pub fn markdown(o: &Outcome) -> String {
    let mut out = format!("**slipway-bake**: {}\n\n", escape_md(&headline(o)));
    if !o.amis.is_empty() {
        out.push_str("| build | region | AMI |\n|---|---|---|\n");
        for a in &o.amis {
            out.push_str(&format!(
                "| {} | {} | `{}` |\n",
                escape_md(&a.build),
                escape_md(&a.region),
                escape_md(&a.ami_id)
            ));
        }
        out.push('\n');
    }
    if let Some(t) = &o.launch_template {
        match t.version {
            Some(v) => out.push_str(&format!(
                "Launch template `{}` (`{}`): version **{v}**{} (from version {}){}\n",
                escape_md(&t.name),
                escape_md(&t.id),
                if t.created { " created" } else { " reused" },
                t.source_version,
                if t.default { ", now the default" } else { "" }
            )),
            None => out.push_str(&format!(
                "Launch template `{}` would get a new version from version {}\n",
                escape_md(&t.name),
                t.source_version
            )),
        }
    }
    out
}
