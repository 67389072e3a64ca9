//! slipway-wait's job: what to probe (from flags and from an environment's `health`
//! section), building the probes, running the gate, and rendering the report.

use std::time::Duration;

use regex::Regex;
use tokio_util::sync::CancellationToken;

use super::alarms::AlarmProbe;
use super::asg::AsgProbe;
use super::ecs::EcsProbe;
use super::http::{Expect, HttpProbe};
use super::target_group::{target_group_name, TargetGroupProbe};
use super::{gate, GateReport, Outcome, Probe, ProbeState, Progress};
use crate::cloud::Ports;
use crate::config::{Environment, HttpCheck};
use crate::error::{Error, Result};
use crate::report::escape_md;

/// One URL and what its answer must look like.
#[derive(Debug, Clone)]
pub struct UrlSpec {
    pub url: String,
    pub expect: Expect,
}

/// Everything one slipway-wait run probes, and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub urls: Vec<UrlSpec>,
    pub target_groups: Vec<String>,
    pub min_healthy_targets: usize,
    pub unhealthy_grace: Duration,
    /// Group name and the launch template version every instance must run.
    pub asg: Option<(String, Option<String>)>,
    /// Cluster, service and the task definition that must end up serving.
    pub ecs: Option<(String, String, Option<String>)>,
    pub timeout: Duration,
    pub http_interval: Duration,
    pub aws_interval: Duration,
    /// An extra PEM root certificate for HTTPS probes.
    pub ca_cert: Option<Vec<u8>>,
    /// CloudWatch alarms watched until the gate ends (one in ALARM fails it).
    pub alarms: Vec<String>,
    pub alarms_missing_data: crate::config::MissingData,
}

impl Default for Request {
    fn default() -> Self {
        let health = crate::config::Health::default();
        Request {
            urls: Vec::new(),
            target_groups: Vec::new(),
            min_healthy_targets: health.min_healthy_targets as usize,
            unhealthy_grace: health.unhealthy_grace.std(),
            asg: None,
            ecs: None,
            timeout: health.timeout.std(),
            http_interval: health.interval.std(),
            aws_interval: health.aws_interval.std(),
            ca_cert: None,
            alarms: Vec::new(),
            alarms_missing_data: health.alarms_missing_data,
        }
    }
}

/// Replaces `{version}` and `{sha}` in an expectation.
pub fn fill(text: &str, version: &str, sha: &str) -> String {
    text.replace("{version}", version).replace("{sha}", sha)
}

/// Compiles a body regex, as bad input when it does not compile.
pub fn compile_regex(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| {
        Error::input(
            format!("body regex {pattern:?} does not compile: {e}"),
            "fix the regular expression (Rust regex syntax)",
        )
    })
}

fn expect_from(check: &HttpCheck, version: &str, sha: &str) -> Result<Expect> {
    let json = match &check.json {
        Some(j) => {
            let equals = match &j.equals {
                serde_json::Value::String(s) => serde_json::Value::String(fill(s, version, sha)),
                other => other.clone(),
            };
            Some((j.pointer.clone(), equals))
        }
        None => None,
    };
    Ok(Expect {
        status: check.status.clone(),
        body_contains: check.body_contains.as_deref().map(|t| fill(t, version, sha)),
        body_regex: check.body_regex.as_deref().map(compile_regex).transpose()?,
        json,
        version: check.version.as_deref().map(|t| fill(t, version, sha)),
        consecutive: check.consecutive,
        max_latency: check.max_latency.map(|d| d.std()),
    })
}

/// Probes of health URLs (an environment's health.urls or health.test_urls) with
/// `{version}` and `{sha}` filled in: what a roll checks to prove the new build serves.
pub fn url_probes(
    checks: &[crate::config::HttpCheck],
    interval: std::time::Duration,
    version: &str,
    sha: &str,
) -> Result<Vec<Box<dyn Probe>>> {
    let mut probes: Vec<Box<dyn Probe>> = Vec::new();
    for check in checks {
        let expect = expect_from(check, version, sha)?;
        probes.push(Box::new(HttpProbe::new(&check.url, expect, interval, None)?));
    }
    Ok(probes)
}

impl Request {
    /// Adds what an environment's config says healthy means: its health URLs and target
    /// groups, its Auto Scaling group and its ECS service.
    pub fn add_environment(&mut self, env: &Environment, version: &str, sha: &str) -> Result<()> {
        let health = &env.health;
        self.timeout = health.timeout.std();
        self.http_interval = health.interval.std();
        self.aws_interval = health.aws_interval.std();
        self.min_healthy_targets = health.min_healthy_targets as usize;
        self.unhealthy_grace = health.unhealthy_grace.std();
        for check in &health.urls {
            self.urls.push(UrlSpec {
                url: check.url.clone(),
                expect: expect_from(check, version, sha)?,
            });
        }
        self.target_groups.extend(health.target_groups.iter().cloned());
        self.alarms.extend(health.alarms.iter().cloned());
        self.alarms_missing_data = health.alarms_missing_data;
        // A blue/green environment names two groups and no single one (which serves
        // depends on the listener's weights): its target groups and URLs say healthy.
        if let (Some(asg), None) = (&env.asg, &self.asg) {
            if !asg.name.is_empty() {
                self.asg = Some((asg.name.clone(), None));
            }
        }
        if let (Some(ecs), None) = (&env.ecs, &self.ecs) {
            self.ecs = Some((ecs.cluster.clone(), ecs.service.clone(), None));
        }
        Ok(())
    }

    /// Whether any probe talks to AWS.
    pub fn needs_aws(&self) -> bool {
        !self.target_groups.is_empty() || self.asg.is_some() || self.ecs.is_some() || !self.alarms.is_empty()
    }

    /// Checks every input without any network call: URLs, regexes (compiled already),
    /// target group ARNs, and that there is something to wait for.
    pub fn validate(&self) -> Result<()> {
        for spec in &self.urls {
            HttpProbe::new(
                &spec.url,
                spec.expect.clone(),
                self.http_interval,
                self.ca_cert.as_deref(),
            )?;
        }
        for arn in &self.target_groups {
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                return Err(Error::input(
                    format!("{arn:?} is not a target group ARN"),
                    "write arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
                ));
            }
        }
        if self.urls.is_empty() && !self.needs_aws() {
            return Err(Error::input(
                "nothing to wait for",
                "pass --url, --target-group, --asg, --ecs-service or --alarm, or --environment with a `health` section",
            ));
        }
        for name in &self.alarms {
            if name.trim().is_empty() || name.chars().count() > crate::config::MAX_ALARM_NAME {
                return Err(Error::input(
                    format!("--alarm {name:?} is not an alarm name"),
                    format!(
                        "CloudWatch alarm names have 1 to {} characters",
                        crate::config::MAX_ALARM_NAME
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Builds the probes; `ports` is required when `needs_aws()`.
    pub fn probes(&self, ports: Option<&Ports>) -> Result<Vec<Box<dyn Probe>>> {
        self.validate()?;
        let mut probes: Vec<Box<dyn Probe>> = Vec::new();
        for spec in &self.urls {
            let probe = HttpProbe::new(
                &spec.url,
                spec.expect.clone(),
                self.http_interval,
                self.ca_cert.as_deref(),
            )?;
            probes.push(Box::new(probe));
        }
        if self.needs_aws() {
            let ports = ports.ok_or_else(|| Error::failed("AWS probes need AWS clients"))?;
            for arn in &self.target_groups {
                probes.push(Box::new(TargetGroupProbe::new(
                    ports.elb.clone(),
                    arn,
                    self.min_healthy_targets,
                    self.unhealthy_grace,
                    self.aws_interval,
                )));
            }
            if let Some((name, version)) = &self.asg {
                probes.push(Box::new(AsgProbe::new(
                    ports.asg.clone(),
                    name,
                    version.clone(),
                    self.aws_interval,
                )));
            }
            if let Some((cluster, service, expected)) = &self.ecs {
                probes.push(Box::new(EcsProbe::new(
                    ports.ecs.clone(),
                    cluster,
                    service,
                    expected.clone(),
                    self.aws_interval,
                )));
            }
            if !self.alarms.is_empty() {
                let names = crate::roll::watch::dedup(self.alarms.iter().cloned());
                probes.push(Box::new(AlarmProbe::new(
                    ports.alarms.clone(),
                    names,
                    self.alarms_missing_data,
                    self.aws_interval,
                )));
            }
        }
        Ok(probes)
    }

    /// What a dry run shows: every probe with what it expects, none polled.
    pub fn plan(&self) -> GateReport {
        let mut probes = Vec::new();
        let mut add = |kind: &'static str, name: String, detail: String| {
            probes.push(super::ProbeReport {
                kind,
                name,
                state: ProbeState::Waiting,
                detail,
                time_to_healthy: None,
                polls: 0,
                diagnosis: Vec::new(),
            })
        };
        for spec in &self.urls {
            let e = &spec.expect;
            let mut want = vec![format!(
                "status {}",
                e.status.iter().map(u16::to_string).collect::<Vec<_>>().join("/")
            )];
            if let Some(t) = &e.body_contains {
                want.push(format!("body contains {t:?}"));
            }
            if let Some(re) = &e.body_regex {
                want.push(format!("body matches /{}/", re.as_str()));
            }
            if let Some((pointer, value)) = &e.json {
                want.push(format!("{pointer} = {value}"));
            }
            if let Some(v) = &e.version {
                want.push(format!("version {v:?}"));
            }
            if let Some(m) = e.max_latency {
                want.push(format!("within {}", super::human(m)));
            }
            want.push(format!(
                "{} in a row, every {}",
                e.consecutive.max(1),
                super::human(self.http_interval)
            ));
            add("http", super::redact::url(&spec.url), want.join(", "));
        }
        for arn in &self.target_groups {
            add(
                "target-group",
                target_group_name(arn).to_string(),
                format!(
                    "every target healthy, at least {}; fail when one stays unhealthy {}; every {}",
                    self.min_healthy_targets,
                    super::human(self.unhealthy_grace),
                    super::human(self.aws_interval)
                ),
            );
        }
        if let Some((name, version)) = &self.asg {
            let on = version
                .as_ref()
                .map(|v| format!(", all on version {v}"))
                .unwrap_or_default();
            add(
                "asg",
                name.clone(),
                format!("every instance InService and Healthy, as many as desired{on}"),
            );
        }
        if let Some((cluster, service, expected)) = &self.ecs {
            let td = expected.as_ref().map(|t| format!(", serving {t}")).unwrap_or_default();
            add(
                "ecs",
                format!("{cluster}/{service}"),
                format!("one deployment, COMPLETED, running == desired{td}"),
            );
        }
        if !self.alarms.is_empty() {
            let missing = match self.alarms_missing_data {
                crate::config::MissingData::Ignore => "INSUFFICIENT_DATA ignored",
                crate::config::MissingData::Fail => "INSUFFICIENT_DATA fails too",
            };
            add(
                "alarm",
                crate::roll::watch::dedup(self.alarms.iter().cloned()).join(", "),
                format!(
                    "none in ALARM, watched until the end ({missing}); every {}",
                    super::human(self.aws_interval)
                ),
            );
        }
        GateReport {
            outcome: Outcome::Planned,
            elapsed: Duration::ZERO,
            cause: None,
            probes,
        }
    }

    /// Runs the gate over every probe.
    pub async fn run(
        &self,
        ports: Option<&Ports>,
        cancel: &CancellationToken,
        progress: &mut Progress,
    ) -> Result<GateReport> {
        let probes = self.probes(ports)?;
        gate(probes, self.timeout, cancel, progress).await
    }
}

fn mark(outcome: Outcome, state: ProbeState) -> &'static str {
    match state {
        ProbeState::Healthy => "ok",
        ProbeState::Waiting if outcome == Outcome::Planned => "would wait",
        ProbeState::Waiting => "not healthy",
        ProbeState::Failed => "FAILED",
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Healthy => "healthy",
        Outcome::Planned => "planned",
        Outcome::Failed => "failed",
        Outcome::TimedOut => "timed out",
        Outcome::Interrupted => "interrupted",
    }
}

/// The report as terminal text.
pub fn text(report: &GateReport) -> String {
    let mut out = if report.outcome == Outcome::Planned {
        "slipway-wait: dry run, nothing was polled; it would wait for:\n".to_string()
    } else {
        format!(
            "slipway-wait: {} after {}\n",
            outcome_word(report.outcome),
            super::human(report.elapsed)
        )
    };
    for p in &report.probes {
        let when = p
            .time_to_healthy
            .map(|t| format!(" in {}", super::human(t)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<11} {} {}{when}: {}\n",
            mark(report.outcome, p.state),
            p.kind,
            p.name,
            p.detail
        ));
        for line in &p.diagnosis {
            out.push_str(&format!("      {line}\n"));
        }
    }
    if let Some(cause) = &report.cause {
        out.push_str(&format!("cause: {cause}\n"));
    }
    out
}

/// The report as a markdown table for GITHUB_STEP_SUMMARY.
pub fn markdown(report: &GateReport) -> String {
    let mut out = format!(
        "### slipway-wait: {} after {}\n\n| probe | state | time to healthy | detail |\n|---|---|---|---|\n",
        outcome_word(report.outcome),
        super::human(report.elapsed)
    );
    for p in &report.probes {
        let name = if p.kind == "target-group" {
            target_group_name(&p.name).to_string()
        } else {
            p.name.clone()
        };
        let mut detail = escape_md(&p.detail);
        for line in &p.diagnosis {
            detail.push_str(&format!("<br>{}", escape_md(line)));
        }
        out.push_str(&format!(
            "| {} `{}` | {} | {} | {} |\n",
            p.kind,
            escape_md(&name),
            mark(report.outcome, p.state),
            p.time_to_healthy.map(super::human).unwrap_or_else(|| "-".into()),
            detail
        ));
    }
    if let Some(cause) = &report.cause {
        out.push_str(&format!("\n**cause:** {}\n", escape_md(cause)));
    }
    out
}
