//! Plans and outcomes rendered as terminal text and GitHub markdown (JSON is serde).

use crate::config::Environment;
use crate::context::Deploy;

/// The resolved deploy as readable lines for a terminal.
pub fn deploy_text(deploy: &Deploy) -> String {
    let r = &deploy.resolution;
    let mut out = String::new();
    let head = match &r.environment {
        Some(env) => format!("deploy {} to {env}, version {}", deploy.app, r.version),
        None => format!(
            "no deploy of {} ({}), version {}",
            deploy.app,
            no_deploy_why(deploy),
            r.version
        ),
    };
    out.push_str(&format!("{head}\n  why      {}\n", r.reason));
    if let Some(env) = &deploy.settings {
        out.push_str(&environment_text(env));
    }
    out
}

fn environment_text(env: &Environment) -> String {
    let mut out = String::new();
    let aws = &env.aws;
    out.push_str(&format!(
        "  aws      role {}, region {}",
        aws.role_arn.as_deref().unwrap_or("-"),
        aws.region.as_deref().unwrap_or("-")
    ));
    if !aws.allowed_account_ids.is_empty() {
        out.push_str(&format!(", accounts {}", aws.allowed_account_ids.join(", ")));
    }
    out.push('\n');
    if let Some(url) = &env.url {
        out.push_str(&format!("  url      {url}\n"));
    }
    if let Some(ecr) = &env.ecr {
        out.push_str(&format!("  ecr      repository {}\n", ecr.repository));
    }
    if let Some(ecs) = &env.ecs {
        out.push_str(&format!(
            "  ecs      cluster {}, service {}, container {}\n",
            ecs.cluster, ecs.service, ecs.container
        ));
    }
    if let Some(asg) = &env.asg {
        let strategy = crate::roll::asg::plan::strategy_name(asg.strategy);
        let name = if asg.groups.is_empty() {
            asg.name.clone()
        } else {
            asg.groups.join(" / ")
        };
        out.push_str(&format!(
            "  asg      {name} ({strategy}{})\n",
            asg.launch_template
                .as_deref()
                .map(|t| format!(", launch template {t}"))
                .unwrap_or_default()
        ));
    }
    let health = &env.health;
    let mut checks: Vec<String> = health.urls.iter().map(|u| crate::wait::redact::url(&u.url)).collect();
    checks.extend(health.target_groups.iter().map(|t| {
        let name = t.split('/').nth(1).unwrap_or(t);
        format!("target group {name}")
    }));
    if !checks.is_empty() {
        out.push_str(&format!(
            "  health   {} (timeout {})\n",
            checks.join(", "),
            health.timeout
        ));
    }
    out
}

/// One markdown line for GITHUB_STEP_SUMMARY.
pub fn deploy_markdown(deploy: &Deploy) -> String {
    let r = &deploy.resolution;
    match &r.environment {
        Some(env) => format!(
            "**slipway**: {} → deploy `{}` to **{env}**, version `{}`\n",
            escape_md(&deploy.event.describe()),
            escape_md(&deploy.app),
            escape_md(&r.version)
        ),
        None => format!(
            "**slipway**: {} → no deploy ({}), version `{}`\n",
            escape_md(&deploy.event.describe()),
            no_deploy_why(deploy),
            escape_md(&r.version)
        ),
    }
}

/// Why an event deploys nowhere, in a few words.
fn no_deploy_why(deploy: &Deploy) -> &'static str {
    if deploy.event.deleted {
        "the push deleted the ref"
    } else {
        "test and plan only"
    }
}

/// Escapes text for a markdown table cell or line.
pub fn escape_md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}
