//! A bake's outcome as terminal text, step outputs and step-summary markdown.

use std::collections::BTreeMap;

use super::{How, Outcome, Status, TemplateChange};
use crate::report::escape_md;

/// The step outputs: result, skipped, ami-id, ami-ids (JSON, region to AMI of Packer's
/// build), launch-template-id, launch-template-version (the home region's), amis (JSON,
/// every region of the environment to its AMI) and launch-template-versions (JSON, region
/// to version). Every name is declared in action.yml, so there is no output per region.
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
    let amis: BTreeMap<&str, &str> = o
        .regions
        .iter()
        .filter_map(|r| Some((r.region.as_str(), r.ami_id.as_deref()?)))
        .collect();
    let versions: BTreeMap<&str, i64> = o
        .regions
        .iter()
        .filter_map(|r| Some((r.region.as_str(), r.launch_template.as_ref()?.version?)))
        .collect();
    for (name, value) in [
        ("amis", serde_json::to_string(&amis)),
        ("launch-template-versions", serde_json::to_string(&versions)),
    ] {
        out.push((name.to_string(), value.unwrap_or_else(|_| "{}".into())));
    }
    out
}

/// What happens to a region's launch template, in words.
fn template_words(result: Status, t: &TemplateChange) -> String {
    let what = match (result, t.version, t.created) {
        (Status::DryRun, _, _) => format!("would get a new version from version {}", t.source_version),
        (_, Some(v), true) => format!("version {v} created from version {}", t.source_version),
        (_, Some(v), false) => format!("version {v} already carries the AMI"),
        (_, None, _) => "unchanged".to_string(),
    };
    let default = if t.default { ", default" } else { "" };
    format!("{} ({}): {what}{default}", t.name, t.id)
}

/// How a region gets its AMI, in a dry run's future tense when it is one.
fn how_words(result: Status, how: How) -> &'static str {
    match (result, how) {
        (Status::DryRun, How::Reused) => "would reuse",
        (_, how) => how.as_str(),
    }
}

/// One line per region of a multi-region bake.
fn region_lines(o: &Outcome) -> String {
    let mut out = String::new();
    if o.regions.len() < 2 {
        return out;
    }
    for r in &o.regions {
        let ami = r.ami_id.as_deref().unwrap_or("-");
        let how = match o.result {
            Status::DryRun if r.how == How::Reused => format!("would reuse {ami}"),
            Status::DryRun => how_words(o.result, r.how).to_string(),
            _ => format!("{ami} {} ({:.0}s)", r.how.as_str(), r.seconds),
        };
        out.push_str(&format!("  region   {}: {how}", r.region));
        if let Some(t) = &r.launch_template {
            out.push_str(&format!("; template {}", template_words(o.result, t)));
        }
        out.push('\n');
    }
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
    match &o.launch_template {
        // Several regions: the home region's template is on its region line.
        Some(t) if o.regions.len() < 2 => out.push_str(&format!("  template {}\n", template_words(o.result, t))),
        _ => out.push_str(&region_lines(o)),
    }
    for line in share_lines(o) {
        out.push_str(&format!("  share    {line}\n"));
    }
    out
}

/// What became of the home AMI's sharing with each other account, one line each.
fn share_lines(o: &Outcome) -> Vec<String> {
    o.shares
        .iter()
        .map(|s| {
            let ami = s.ami_id.as_deref().unwrap_or("the new AMI");
            let what = match (o.result, s.added) {
                (Status::DryRun, _) => format!("would share {ami} with"),
                (_, true) => format!("{ami} shared with"),
                (_, false) => format!("{ami} already shared with"),
            };
            format!("{what} account {} ({})", s.account, s.regions.join(", "))
        })
        .collect()
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
    for line in share_lines(o) {
        out.push_str(&format!("\n{}\n", escape_md(&line)));
    }
    if o.regions.len() > 1 {
        out.push_str("\n| region | AMI | how | duration | launch template version |\n|---|---|---|---|---|\n");
        for r in &o.regions {
            let version = match &r.launch_template {
                Some(t) => match t.version {
                    Some(v) => format!(
                        "`{}` **{v}**{}",
                        escape_md(&t.name),
                        if t.created { " created" } else { " reused" }
                    ),
                    None => format!("`{}` new from {}", escape_md(&t.name), t.source_version),
                },
                None => "-".to_string(),
            };
            let ami = match &r.ami_id {
                Some(ami) => format!("`{}`", escape_md(ami)),
                None => "-".to_string(),
            };
            out.push_str(&format!(
                "| {} | {ami} | {} | {:.0}s | {version} |\n",
                escape_md(&r.region),
                how_words(o.result, r.how),
                r.seconds
            ));
        }
    }
    out
}
