//! Cross-field checks of slipway.yml that serde cannot express, each pointing at a line.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

mod bluegreen;

use super::{Environment, Loaded};
use crate::error::{Error, Result};
use crate::trigger::{CompiledRule, EventName};

/// The longest `body_regex` read (compiling a huge one takes seconds).
const MAX_REGEX_LEN: usize = 4096;

/// How many problems are spelt out; the rest are counted (locating each costs a scan).
const LISTED: usize = 20;

/// Runs every check and reports all problems at once.
pub fn check(loaded: &Loaded) -> Result<()> {
    let mut problems = Problems {
        loaded,
        found: Vec::new(),
        more: 0,
    };
    let config = &loaded.config;
    if config.app.trim().is_empty() {
        problems.add(&["app"], "app is empty", "name the application, e.g. `app: web`");
    }
    if config.environments.is_empty() {
        problems.add(
            &["environments"],
            "no environments are configured",
            "add at least one under `environments:` (see examples/slipway.yml)",
        );
    }
    for (name, env) in &config.environments {
        check_environment(&mut problems, name, env);
        check_regions(&mut problems, name, env);
        if let Some(notify) = &env.notify {
            check_notify(&mut problems, &["environments", name, "notify"], notify);
        }
    }
    if let Some(notify) = &config.notify {
        check_notify(&mut problems, &["notify"], notify);
    }
    if let Some(rules) = &config.triggers {
        check_triggers(&mut problems, rules);
    }
    problems.finish()
}

struct Problems<'a> {
    loaded: &'a Loaded,
    found: Vec<Error>,
    /// Problems beyond the first [`LISTED`].
    more: usize,
}

impl Problems<'_> {
    fn add(&mut self, path: &[&str], message: impl Into<String>, help: impl Into<String>) {
        if self.found.len() >= LISTED {
            self.more += 1;
            return;
        }
        let location = self.loaded.locate(path);
        self.found.push(Error::input(message, help).at(location));
    }

    fn finish(mut self) -> Result<()> {
        match self.found.len() + self.more {
            0 => Ok(()),
            1 => Err(self.found.remove(0)),
            n => {
                let mut lines: Vec<String> = self
                    .found
                    .iter()
                    .map(|e| format!("  - {}", e.render().replace('\n', "\n    ")))
                    .collect();
                if self.more > 0 {
                    lines.push(format!("  - ... and {} more", self.more));
                }
                let first = self.found.remove(0);
                Err(Error::Input {
                    message: format!("{} has {n} problems:\n{}", self.loaded.path.display(), lines.join("\n")),
                    help: None,
                    location: first.location().cloned(),
                })
            }
        }
    }
}

/// `regions` and `waves`: known regions, each once and in exactly one wave, overrides
/// that fit the environment's sections.
fn check_regions(p: &mut Problems, name: &str, env: &Environment) {
    let at = |key: &'static str| ["environments", name, key];
    let mut seen = std::collections::BTreeSet::new();
    for r in &env.regions {
        if !super::AWS_REGIONS.contains(&r.region.as_str()) {
            p.add(
                &at("regions"),
                format!(
                    "environment {name:?}: regions names {:?}, which is not an AWS region",
                    r.region
                ),
                "write a region code such as us-east-1 or eu-west-1",
            );
        } else if !seen.insert(r.region.as_str()) {
            p.add(
                &at("regions"),
                format!("environment {name:?}: regions lists {} twice", r.region),
                "list each region once, with all its overrides",
            );
        } else {
            match env.in_region(&r.region) {
                Err(e) => p.add(
                    &at("regions"),
                    format!("environment {name:?}: region {}: {e}", r.region),
                    "override only the keys of aws, ecr, ecs, asg, codedeploy and health that differ there",
                ),
                Ok(there) => {
                    let registry = there.ecr.as_ref().and_then(|e| e.registry.as_deref());
                    if let Some(why) = registry.and_then(registry_problem) {
                        p.add(
                            &at("regions"),
                            format!("environment {name:?}: region {}: ecr.registry {why}", r.region),
                            "write host[:port], https://host[:port] or http://host:port",
                        );
                    }
                }
            }
        }
    }
    if !env.waves.is_empty() && env.regions.is_empty() {
        p.add(
            &at("waves"),
            format!("environment {name:?}: waves is set but regions is not"),
            "list the regions under `regions:` (each with its overrides), then group them in waves",
        );
        return;
    }
    let mut placed = std::collections::BTreeMap::new();
    for (n, wave) in env.waves.iter().enumerate() {
        if wave.regions.is_empty() {
            p.add(
                &at("waves"),
                format!("environment {name:?}: wave {} has no regions", n + 1),
                "list at least one region in each wave, or remove the wave",
            );
        }
        if wave.bake.std() > MAX_BAKE {
            p.add(
                &at("waves"),
                format!(
                    "environment {name:?}: wave {} bakes {}, longer than 48h",
                    n + 1,
                    wave.bake
                ),
                "use 0 to 48h",
            );
        }
        for region in &wave.regions {
            if !env.regions.iter().any(|r| &r.region == region) {
                p.add(
                    &at("waves"),
                    format!(
                        "environment {name:?}: wave {} names region {region}, which is not in regions",
                        n + 1
                    ),
                    "add it to `regions:` or remove it from the wave",
                );
            } else if let Some(first) = placed.insert(region.clone(), n + 1) {
                p.add(
                    &at("waves"),
                    format!(
                        "environment {name:?}: region {region} is in wave {first} and wave {}",
                        n + 1
                    ),
                    "put each region in one wave",
                );
            }
        }
    }
    if !env.waves.is_empty() {
        for r in env.regions.iter().filter(|r| !placed.contains_key(&r.region)) {
            p.add(
                &at("waves"),
                format!("environment {name:?}: region {} is in no wave", r.region),
                "add it to a wave (or remove it from regions)",
            );
        }
    }
}

/// `notify`: the variables it names are variable names; Slack needs a channel.
fn check_notify(p: &mut Problems, at: &[&str], notify: &super::Notify) {
    let mut vars = Vec::new();
    if let Some(s) = &notify.slack {
        vars.push(("slack", "token_env", s.token_env.as_str()));
        if s.channel.trim().is_empty() {
            let mut path = at.to_vec();
            path.extend(["slack", "channel"]);
            p.add(
                &path,
                format!("{}.slack.channel is empty", at.join(".")),
                "name the channel the bot posts in: its id (C0123ABCD) or #name",
            );
        }
    }
    if let Some(s) = &notify.slack_webhook {
        vars.push(("slack_webhook", "webhook_env", s.webhook_env.as_str()));
    }
    if let Some(w) = &notify.webhook {
        vars.push(("webhook", "url_env", w.url_env.as_str()));
        if let Some(secret) = &w.secret_env {
            vars.push(("webhook", "secret_env", secret.as_str()));
        }
    }
    for (section, key, var) in vars {
        if !re(r"^[A-Za-z_][A-Za-z0-9_]*$").is_match(var) {
            let mut path = at.to_vec();
            path.extend([section, key]);
            p.add(
                &path,
                format!("{}.{section}.{key} {var:?} is not an environment variable name", at.join(".")),
                "name the variable that holds it (letters, digits and _), e.g. SLACK_BOT_TOKEN; never the secret itself",
            );
        }
    }
}

/// A built-in pattern, compiled once (a config may have many environments).
fn re(pattern: &'static str) -> Regex {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Regex>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern)
        .or_insert_with(|| Regex::new(pattern).expect("a valid built-in pattern"))
        .clone()
}

/// Names for a help text: all of them when few, else the first ten and a count.
fn some_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    match names.len() {
        0..=10 => names.join(", "),
        n => format!("{}, ... ({} more)", names[..10].join(", "), n - 10),
    }
}

/// The account id in an IAM role ARN.
pub fn role_account(role_arn: &str) -> Option<&str> {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[2] == "iam").then(|| parts[4])
}

fn check_environment(p: &mut Problems, name: &str, env: &Environment) {
    let at = |rest: &[&'static str]| -> Vec<String> {
        let mut v = vec!["environments".to_string(), name.to_string()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let add = |p: &mut Problems, rest: &[&'static str], msg: String, help: &str| {
        let path = at(rest);
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        p.add(&refs, msg, help);
    };
    if !re(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$").is_match(name) {
        add(
            p,
            &[],
            format!("environment name {name:?} has characters other than letters, digits, `-`, `_` and `.`"),
            "rename the environment",
        );
    }
    match &env.aws.role_arn {
        None => add(
            p,
            &["aws"],
            format!("environment {name:?} has no aws.role_arn"),
            "add aws.role_arn: arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME (the role GitHub's OIDC token assumes)",
        ),
        Some(arn) if !re(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+$").is_match(arn) => add(
            p,
            &["aws", "role_arn"],
            format!("environment {name:?}: aws.role_arn {arn:?} is not an IAM role ARN"),
            "write it as arn:aws:iam::123456789012:role/ROLE_NAME",
        ),
        Some(_) => {}
    }
    match &env.aws.region {
        None => add(
            p,
            &["aws"],
            format!("environment {name:?} has no aws.region"),
            "add aws.region, e.g. `region: us-east-1`",
        ),
        Some(region) if !re(r"^[a-z]{2}(-[a-z]+)+-\d+$").is_match(region) => add(
            p,
            &["aws", "region"],
            format!("environment {name:?}: aws.region {region:?} is not an AWS region"),
            "write a region code such as us-east-1 or eu-west-2",
        ),
        Some(_) => {}
    }
    for id in &env.aws.allowed_account_ids {
        if !re(r"^\d{12}$").is_match(id) {
            add(
                p,
                &["aws", "allowed_account_ids"],
                format!("environment {name:?}: account id {id:?} is not 12 digits"),
                "quote account ids (`\"012345678901\"`) so YAML keeps leading zeros",
            );
        }
    }
    if let Some(account) = env.aws.role_arn.as_deref().and_then(role_account) {
        let ids = &env.aws.allowed_account_ids;
        if !ids.is_empty() && !ids.iter().any(|i| i == account) {
            add(
                p,
                &["aws", "allowed_account_ids"],
                format!(
                    "environment {name:?}: the role's account {account} is not in allowed_account_ids ({})",
                    ids.join(", ")
                ),
                "add the account to allowed_account_ids or fix role_arn",
            );
        }
    }
    let session = env.aws.session_duration.std().as_secs();
    if !(900..=43_200).contains(&session) {
        add(
            p,
            &["aws", "session_duration"],
            format!(
                "environment {name:?}: aws.session_duration {} is outside 15m..12h",
                env.aws.session_duration
            ),
            "STS accepts 15m to 12h (and at most the role's maximum session duration)",
        );
    }
    if let Some(ecr) = &env.ecr {
        let repo = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$";
        if !re(repo).is_match(&ecr.repository) {
            add(
                p,
                &["ecr", "repository"],
                format!(
                    "environment {name:?}: ecr.repository {:?} is not a valid repository name",
                    ecr.repository
                ),
                "use lowercase letters, digits and . _ - /, e.g. `team/web`",
            );
        }
        if let Some(why) = ecr.registry.as_deref().and_then(registry_problem) {
            add(
                p,
                &["ecr", "registry"],
                format!("environment {name:?}: ecr.registry {why}"),
                "write host[:port], https://host[:port] or http://host:port, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            );
        }
    }
    if let Some(asg) = &env.asg {
        bluegreen::check(p, name, asg);
        if asg.min_healthy_percentage > 100 {
            add(
                p,
                &["asg", "min_healthy_percentage"],
                format!(
                    "environment {name:?}: asg.min_healthy_percentage {} is over 100",
                    asg.min_healthy_percentage
                ),
                "use 0 to 100",
            );
        }
        let (min, max) = (asg.min_healthy_percentage as u16, asg.max_healthy_percentage);
        if !(100..=200).contains(&max) || max < min || max - min > 100 {
            add(
                p,
                &["asg", "max_healthy_percentage"],
                format!(
                    "environment {name:?}: asg.max_healthy_percentage {max} does not fit min_healthy_percentage {min}"
                ),
                "use 100 to 200, at least min_healthy_percentage and at most 100 above it",
            );
        }
        check_canary(p, name, asg);
    }
    check_health(p, name, env);
    if let Some(ecs) = &env.ecs {
        check_ecs(p, name, ecs);
        check_ecs_bake(p, name, ecs, env);
    }
    if let Some(cd) = &env.codedeploy {
        check_server_deploy(p, name, cd);
    }
    if let Some(url) = &env.url {
        if url::Url::parse(url).is_err() {
            add(
                p,
                &["url"],
                format!("environment {name:?}: url {url:?} is not a URL"),
                "write a full URL such as https://stage.example.com",
            );
        }
    }
}

/// `asg.canary` and `asg.canary_bake`: a surge's canary, at least one instance, baked at most 48h.
fn check_canary(p: &mut Problems, name: &str, asg: &super::Asg) {
    let canary = ["environments", name, "asg", "canary"];
    let canary_bake = ["environments", name, "asg", "canary_bake"];
    if asg.canary.is_some() && asg.strategy != super::Strategy::Surge {
        p.add(
            &canary,
            format!("environment {name:?}: asg.canary is set but asg.strategy is not surge"),
            "use asg.canary with strategy surge (an instance refresh has its own checkpoints), or remove it",
        );
    }
    if asg.canary == Some(0) {
        p.add(
            &canary,
            format!("environment {name:?}: asg.canary is 0"),
            "use 1 or more instances (fewer than the group's desired capacity), or remove asg.canary",
        );
    }
    match asg.canary_bake {
        Some(bake) if asg.canary.is_none() => p.add(
            &canary_bake,
            format!("environment {name:?}: asg.canary_bake {bake} is set without asg.canary"),
            "set asg.canary (how many instances go first), or remove asg.canary_bake",
        ),
        Some(bake) if bake.std() > MAX_BAKE => p.add(
            &canary_bake,
            format!("environment {name:?}: asg.canary_bake {bake} is longer than 48h"),
            "use 0 to 48h",
        ),
        _ => {}
    }
}

/// The longest bake: what an instance refresh's BakeTime accepts (172800 seconds).
pub const MAX_BAKE: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// The longest CloudWatch alarm name.
pub const MAX_ALARM_NAME: usize = 255;

fn check_alarms(p: &mut Problems, name: &str, env: &Environment) {
    let field = ["environments", name, "health", "alarms"];
    let mut seen = std::collections::BTreeSet::new();
    for alarm in &env.health.alarms {
        if alarm.trim().is_empty() || alarm.chars().count() > MAX_ALARM_NAME {
            p.add(
                &field,
                format!(
                    "environment {name:?}: health.alarms has a name of {} characters",
                    alarm.chars().count()
                ),
                format!("CloudWatch alarm names have 1 to {MAX_ALARM_NAME} characters; write the alarm's name"),
            );
        } else if !seen.insert(alarm.as_str()) {
            p.add(
                &field,
                format!("environment {name:?}: health.alarms lists {alarm:?} twice"),
                "list each alarm once",
            );
        }
    }
    if env.health.bake.std() > MAX_BAKE {
        p.add(
            &["environments", name, "health", "bake"],
            format!(
                "environment {name:?}: health.bake {} is longer than 48h",
                env.health.bake
            ),
            "use 0 (no bake) to 48h, the longest bake an instance refresh accepts",
        );
    }
}

fn check_health(p: &mut Problems, name: &str, env: &Environment) {
    check_alarms(p, name, env);
    check_urls(p, name, "urls", &env.health.urls);
    check_urls(p, name, "test_urls", &env.health.test_urls);
    for arn in &env.health.target_groups {
        if !re(r"^arn:aws(-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$")
            .is_match(arn)
        {
            p.add(
                &["environments", name, "health", "target_groups"],
                format!("environment {name:?}: {arn:?} is not a target group ARN"),
                "write arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
            );
        }
    }
}

/// The HTTP checks under `health.<key>` (`urls` or `test_urls`).
fn check_urls(p: &mut Problems, name: &str, key: &str, checks: &[crate::config::HttpCheck]) {
    for (i, check) in checks.iter().enumerate() {
        let index = i.to_string();
        let base = ["environments", name, "health", key, index.as_str()];
        let field = |f: &'static str| -> Vec<&str> {
            let mut v = base.to_vec();
            v.push(f);
            v
        };
        match url::Url::parse(&check.url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => p.add(
                &field("url"),
                format!(
                    "environment {name:?}: health url {:?} has scheme {:?}",
                    crate::wait::redact::url(&check.url),
                    u.scheme()
                ),
                "use an http:// or https:// URL",
            ),
            Err(e) => p.add(
                &field("url"),
                format!(
                    "environment {name:?}: health url {:?} does not parse: {e}",
                    crate::wait::redact::url(&check.url)
                ),
                "write a full URL such as https://stage.example.com/healthz",
            ),
        }
        if check.status.is_empty() || check.status.iter().any(|s| !(100..=599).contains(s)) {
            p.add(
                &field("status"),
                format!(
                    "environment {name:?}: health status codes {:?} must be 100..599",
                    check.status
                ),
                "list the codes that count as healthy, e.g. [200, 204]",
            );
        }
        if let Some(pattern) = check.body_regex.as_ref().filter(|p| p.len() > MAX_REGEX_LEN) {
            p.add(
                &field("body_regex"),
                format!(
                    "environment {name:?}: body_regex is {} characters long, more than the {MAX_REGEX_LEN} slipway reads",
                    pattern.len()
                ),
                "write a shorter expression; body_contains or json match fixed text",
            );
        } else if let Some(pattern) = &check.body_regex {
            if let Err(e) = Regex::new(pattern) {
                p.add(
                    &field("body_regex"),
                    format!("environment {name:?}: body_regex {pattern:?} does not compile: {e}"),
                    "fix the regular expression (Rust regex syntax)",
                );
            }
        }
        if let Some(json) = &check.json {
            if !json.pointer.is_empty() && !json.pointer.starts_with('/') {
                p.add(
                    &field("json"),
                    format!(
                        "environment {name:?}: JSON pointer {:?} must start with /",
                        json.pointer
                    ),
                    "write an RFC 6901 pointer such as /build/commit",
                );
            }
        }
        if check.consecutive == 0 {
            p.add(
                &field("consecutive"),
                format!("environment {name:?}: consecutive is 0"),
                "use 1 or more",
            );
        }
    }
}

/// ECS strategy settings: each block belongs to its strategy, percentages and bakes in
/// the ranges ECS accepts (bakes in whole minutes).
fn check_ecs(p: &mut Problems, name: &str, ecs: &crate::config::Ecs) {
    use crate::config::EcsStrategy;
    let path = |f: &'static str| -> [&str; 4] { ["environments", name, "ecs", f] };
    let wrong = |p: &mut Problems, key: &'static str, needs: EcsStrategy| {
        p.add(
            &path(key),
            format!(
                "environment {name:?}: ecs.{key} is set but ecs.strategy is {}",
                ecs.strategy.as_str()
            ),
            format!("set `strategy: {}` or remove ecs.{key}", needs.as_str()),
        )
    };
    match (&ecs.canary, ecs.strategy) {
        (None, EcsStrategy::Canary) => p.add(
            &path("strategy"),
            format!("environment {name:?}: ecs.strategy is canary but ecs.canary is missing"),
            "add `canary: {percent: 10, bake: 5m}`",
        ),
        (Some(_), s) if s != EcsStrategy::Canary => wrong(p, "canary", EcsStrategy::Canary),
        _ => {}
    }
    match (&ecs.linear, ecs.strategy) {
        (None, EcsStrategy::Linear) => p.add(
            &path("strategy"),
            format!("environment {name:?}: ecs.strategy is linear but ecs.linear is missing"),
            "add `linear: {step_percent: 25, step_bake: 5m}`",
        ),
        (Some(_), s) if s != EcsStrategy::Linear => wrong(p, "linear", EcsStrategy::Linear),
        _ => {}
    }
    let minutes = |p: &mut Problems, key: &'static str, field: &str, d: &crate::config::Duration| {
        let secs = d.std().as_secs();
        if !secs.is_multiple_of(60) || secs > 1440 * 60 {
            p.add(
                &path(key),
                format!("environment {name:?}: ecs.{key}.{field} {d} is not a whole number of minutes up to 24h"),
                "ECS counts bake time in whole minutes (0 to 1440), e.g. 5m",
            );
        }
    };
    if let Some(c) = &ecs.canary {
        if !(0.1..=100.0).contains(&c.percent) || !tenths(c.percent) {
            p.add(
                &path("canary"),
                format!(
                    "environment {name:?}: ecs.canary.percent {} is not a multiple of 0.1 from 0.1 to 100",
                    c.percent
                ),
                "use a share of production traffic from 0.1 to 100 in steps of 0.1 (ECS's rule), e.g. 10 or 2.5",
            );
        }
        minutes(p, "canary", "bake", &c.bake);
    }
    if let Some(l) = &ecs.linear {
        if !(3.0..=100.0).contains(&l.step_percent) || !tenths(l.step_percent) {
            p.add(
                &path("linear"),
                format!(
                    "environment {name:?}: ecs.linear.step_percent {} is not a multiple of 0.1 from 3 to 100",
                    l.step_percent
                ),
                "use a step from 3 to 100 percent in steps of 0.1 (ECS's rule), e.g. 25 or 12.5",
            );
        }
        minutes(p, "linear", "step_bake", &l.step_bake);
    }
    if ecs.keep_revisions == Some(0) {
        p.add(
            &path("keep_revisions"),
            format!("environment {name:?}: ecs.keep_revisions is 0"),
            "keep at least 1 (the service's own revision is never deregistered), or remove the key to keep all",
        );
    }
    if let Some(cd) = &ecs.codedeploy {
        for (key, value) in [
            ("application", &cd.application),
            ("deployment_group", &cd.deployment_group),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty() || v.len() > 100) {
                p.add(
                    &["environments", name, "ecs", "codedeploy", key],
                    format!("environment {name:?}: ecs.codedeploy.{key} {value:?} is empty or over 100 characters"),
                    "name the CodeDeploy application and deployment group (1 to 100 characters), or remove the key for the console's default",
                );
            }
        }
    }
}

/// The longest bake ECS takes in a native deployment's bakeTimeInMinutes. AWS's model
/// (ecs 2014-11-13, DeploymentConfiguration.bakeTimeInMinutes) states no range; the
/// canary and linear bakes beside it are "0 to 1440 minutes (24 hours)" there, and the
/// Terraform AWS provider documents and checks the same 0-1440 for this one.
pub const MAX_ECS_BAKE_MINUTES: u64 = 1440;

/// A native ECS deployment bakes inside ECS, which takes at most a day.
fn check_ecs_bake(p: &mut Problems, name: &str, ecs: &crate::config::Ecs, env: &Environment) {
    let native = ecs.strategy != crate::config::EcsStrategy::Rolling && ecs.codedeploy.is_none();
    if native && env.health.bake.std().as_secs().div_ceil(60) > MAX_ECS_BAKE_MINUTES {
        p.add(
            &["environments", name, "health", "bake"],
            format!(
                "environment {name:?}: health.bake {} is longer than ECS's bakeTimeInMinutes takes ({MAX_ECS_BAKE_MINUTES} minutes)",
                env.health.bake
            ),
            "use 0 to 24h for an ECS blue_green, canary or linear deployment",
        );
    }
}

/// A share of traffic ECS takes: a multiple of 0.1 ("Valid values are multiples of 0.1
/// from 0.1 to 100.0", ecs 2014-11-13 model, CanaryConfiguration.canaryPercent; "from
/// 3.0 to 100.0" for LinearConfiguration.stepPercent).
fn tenths(percent: f64) -> bool {
    let scaled = percent * 10.0;
    (scaled - scaled.round()).abs() < 1e-6
}

/// `codedeploy:` (EC2/Auto Scaling groups): names CodeDeploy and S3 accept.
fn check_server_deploy(p: &mut Problems, name: &str, cd: &crate::config::ServerDeploy) {
    let at = |f: &'static str| -> [&str; 4] { ["environments", name, "codedeploy", f] };
    for (key, value) in [
        ("application", &cd.application),
        ("deployment_group", &cd.deployment_group),
        ("config", &cd.config),
    ] {
        if value.trim().is_empty() || value.len() > 100 {
            p.add(
                &at(key),
                format!("environment {name:?}: codedeploy.{key} {value:?} is empty or over 100 characters"),
                "name it as CodeDeploy shows it (1 to 100 characters)",
            );
        }
    }
    if cd.bundle.trim().is_empty() {
        p.add(
            &at("bundle"),
            format!("environment {name:?}: codedeploy.bundle is empty"),
            "name the application directory that holds appspec.yml, e.g. `bundle: deploy`",
        );
    }
    if !re(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").is_match(&cd.bucket) || cd.bucket.contains("..") {
        p.add(
            &at("bucket"),
            format!(
                "environment {name:?}: codedeploy.bucket {:?} is not an S3 bucket name",
                cd.bucket
            ),
            "use the bucket's name (3 to 63 lowercase letters, digits, dots and hyphens), not an ARN or URL",
        );
    }
    let prefix = &cd.prefix;
    if prefix.is_empty() || prefix.starts_with('/') || prefix.ends_with('/') || prefix.len() > 512 {
        p.add(
            &at("prefix"),
            format!("environment {name:?}: codedeploy.prefix {prefix:?} is empty or starts or ends with /"),
            "use a key prefix such as `slipway` or `bundles/web` (no leading or trailing slash)",
        );
    }
}

fn check_triggers(p: &mut Problems, rules: &[crate::trigger::TriggerRule]) {
    let environments = &p.loaded.config.environments;
    let known = some_names(environments.keys());
    for (i, rule) in rules.iter().enumerate() {
        let index = i.to_string();
        let at = |f: &'static str| ["triggers", index.as_str(), f];
        let n = i + 1;
        if let Err(e) = CompiledRule::new(rule) {
            let path = ["triggers", index.as_str(), e.field];
            p.add(
                &path,
                format!(
                    "trigger rule {n}: {} pattern {} is not a valid glob: {}",
                    e.field,
                    super::limits::excerpt(&e.pattern),
                    e.reason
                ),
                "use GitHub's filter syntax: * ** ? [abc] and a leading ! to exclude",
            );
        }
        if let Some(env) = &rule.environment {
            if !environments.contains_key(env) {
                p.add(
                    &at("environment"),
                    format!("trigger rule {n} deploys to {env:?}, which is not under environments"),
                    format!("use one of: {known}"),
                );
            }
        }
        if rule.input.is_some() && rule.event != EventName::WorkflowDispatch {
            p.add(
                &at("input"),
                format!(
                    "trigger rule {n}: `input` only applies to workflow_dispatch, not {}",
                    rule.event.as_str()
                ),
                "remove `input` or change the event",
            );
        }
        if !rule.tags.is_empty() && rule.event != EventName::Push {
            p.add(
                &at("tags"),
                format!("trigger rule {n}: tag patterns only apply to push events"),
                "remove `tags` or change the event to push",
            );
        }
        let branch_events = [EventName::Push, EventName::PullRequest, EventName::PullRequestTarget];
        if !rule.branches.is_empty() && !branch_events.contains(&rule.event) {
            p.add(
                &at("branches"),
                format!("trigger rule {n}: branch patterns only apply to push and pull_request events"),
                "remove `branches` or change the event",
            );
        }
    }
}

/// Why an `ecr.registry` value is not a registry host (None when it is one).
fn registry_problem(value: &str) -> Option<String> {
    crate::image::registry::parse_host(value)
        .err()
        .map(|_| format!("{value:?} is not a registry host"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn problems(ecs: &str) -> String {
        let text = format!(
            "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: eu-west-1\n    ecs:\n      cluster: c\n      service: s\n      container: app\n{ecs}"
        );
        match crate::config::parse(Path::new("slipway.yml"), text) {
            Ok(_) => String::new(),
            Err(e) => e.render(),
        }
    }

    #[test]
    fn codedeploy_names_a_bucket_and_a_bundle() {
        let config = |cd: &str| {
            format!(
                "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: eu-west-1\n    codedeploy:\n{cd}"
            )
        };
        let ok = config("      application: web\n      deployment_group: web-prod\n      bundle: deploy\n      bucket: web-bundles\n");
        let loaded = crate::config::parse(std::path::Path::new("slipway.yml"), ok).expect("valid");
        let cd = loaded.config.environments["prod"]
            .codedeploy
            .clone()
            .expect("codedeploy");
        assert_eq!(cd.config, "CodeDeployDefault.OneAtATime");
        assert_eq!(cd.prefix, "slipway");
        let bad = config("      application: web\n      deployment_group: \"\"\n      bundle: deploy\n      bucket: s3://Web_Bundles\n      prefix: /x/\n");
        let Err(e) = crate::config::parse(std::path::Path::new("slipway.yml"), bad) else {
            panic!("refused");
        };
        let e = e.render();
        assert!(e.contains("codedeploy.deployment_group \"\" is empty"), "{e}");
        assert!(
            e.contains("codedeploy.bucket \"s3://Web_Bundles\" is not an S3 bucket name"),
            "{e}"
        );
        assert!(e.contains("codedeploy.prefix \"/x/\""), "{e}");
    }

    #[test]
    fn each_ecs_strategy_block_belongs_to_its_strategy() {
        assert_eq!(problems("      strategy: blue_green\n"), "");
        assert_eq!(
            problems("      strategy: canary\n      canary: {percent: 10, bake: 5m}\n"),
            ""
        );
        let missing = problems("      strategy: canary\n");
        assert!(
            missing.contains("ecs.strategy is canary but ecs.canary is missing"),
            "{missing}"
        );
        assert!(missing.contains("line 11"), "{missing}");
        let stray = problems("      linear: {step_percent: 25, step_bake: 5m}\n");
        assert!(
            stray.contains("ecs.linear is set but ecs.strategy is rolling") && stray.contains("set `strategy: linear`"),
            "{stray}"
        );
    }

    #[test]
    fn percentages_and_bakes_are_in_the_ranges_ecs_takes() {
        let e = problems("      strategy: canary\n      canary: {percent: 0, bake: 90s}\n");
        assert!(
            e.contains("ecs.canary.percent 0 is not a multiple of 0.1 from 0.1 to 100"),
            "{e}"
        );
        assert!(
            e.contains("ecs.canary.bake 1m30s is not a whole number of minutes"),
            "{e}"
        );
        let e = problems("      strategy: linear\n      linear: {step_percent: 2, step_bake: 25h}\n");
        assert!(
            e.contains("step_percent 2 is not a multiple of 0.1 from 3 to 100"),
            "{e}"
        );
        assert!(e.contains("step_bake 25h"), "{e}");
        // ECS takes shares in tenths of a percent (the ecs model's canaryPercent, stepPercent).
        let e = problems("      strategy: canary\n      canary: {percent: 2.55, bake: 5m}\n");
        assert!(e.contains("ecs.canary.percent 2.55 is not a multiple of 0.1"), "{e}");
        let e = problems("      strategy: linear\n      linear: {step_percent: 12.34, step_bake: 5m}\n");
        assert!(
            e.contains("ecs.linear.step_percent 12.34 is not a multiple of 0.1"),
            "{e}"
        );
        assert_eq!(
            problems("      strategy: canary\n      canary: {percent: 2.5, bake: 5m}\n"),
            ""
        );
        assert_eq!(
            problems("      strategy: linear\n      linear: {step_percent: 33.3, step_bake: 5m}\n"),
            ""
        );
        let e = problems("      strategy: blue_green\n    health:\n      bake: 25h\n");
        assert!(
            e.contains("health.bake 25h is longer than ECS's bakeTimeInMinutes takes (1440 minutes)"),
            "{e}"
        );
        assert_eq!(
            problems("      strategy: blue_green\n    health:\n      bake: 24h\n"),
            ""
        );
        assert_eq!(
            problems("    health:\n      bake: 25h\n"),
            "",
            "a rolling service: slipway bakes"
        );
        let e = problems("      keep_revisions: 0\n");
        assert!(e.contains("ecs.keep_revisions is 0"), "{e}");
        let e = problems("      codedeploy: {application: \"\"}\n");
        assert!(e.contains("ecs.codedeploy.application"), "{e}");
    }

    #[test]
    fn a_registry_that_is_no_host_is_refused_naming_the_field_and_region() {
        let text = "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecr:\n      repository: web\n      registry: ftp://x\n    regions:\n      - region: us-east-1\n      - region: eu-west-1\n        ecr: { registry: \"a host/with a path\" }\n";
        let e = crate::config::parse(Path::new("slipway.yml"), text.to_string()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = e.render();
        assert!(e.contains("ecr.registry \"ftp://x\" is not a registry host"), "{e}");
        assert!(
            e.contains("region eu-west-1: ecr.registry \"a host/with a path\""),
            "{e}"
        );
    }

    #[test]
    fn test_urls_are_checked_like_urls() {
        let text = "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n    health:\n      test_urls:\n        - url: ftp://x\n";
        let e = crate::config::parse(Path::new("slipway.yml"), text.to_string())
            .unwrap_err()
            .render();
        assert!(e.contains("health url \"ftp://x\" has scheme \"ftp\""), "{e}");
        assert!(e.contains("line 8"), "{e}");
    }
}
