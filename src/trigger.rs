//! GitHub event (push, tag, workflow_dispatch, pull_request) -> environment and version,
//! by the trigger rules of slipway.yml or the default table.

use std::collections::BTreeMap;

use globset::GlobBuilder;
use regex::bytes::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// GitHub event names a trigger rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Push,
    PullRequest,
    PullRequestTarget,
    WorkflowDispatch,
    Schedule,
    Release,
    MergeGroup,
    WorkflowRun,
    RepositoryDispatch,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Push => "push",
            EventName::PullRequest => "pull_request",
            EventName::PullRequestTarget => "pull_request_target",
            EventName::WorkflowDispatch => "workflow_dispatch",
            EventName::Schedule => "schedule",
            EventName::Release => "release",
            EventName::MergeGroup => "merge_group",
            EventName::WorkflowRun => "workflow_run",
            EventName::RepositoryDispatch => "repository_dispatch",
        }
    }
}

/// One trigger rule. Rules are tried in order; the first that matches decides.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRule {
    /// The GitHub event name.
    pub event: EventName,
    /// Branch globs in GitHub's filter syntax (`*` stops at `/`, `**` does not, `!` excludes).
    /// The rule then matches only branch refs (for pull requests: the base branch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    /// Tag globs, same syntax; the rule then matches only tag refs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The environment this event deploys to. Absent: no deploy (test and plan only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// workflow_dispatch only: the dispatch input that may name another environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// The rules used when slipway.yml has no `triggers`.
pub fn default_rules() -> Vec<TriggerRule> {
    let rule = |event, branches: &[&str], tags: &[&str], env: Option<&str>, input: Option<&str>| TriggerRule {
        event,
        branches: branches.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        environment: env.map(str::to_string),
        input: input.map(str::to_string),
    };
    vec![
        // A pre-release (semver's `-`: v1.2.3-rc1) is a release candidate: stage, not prod.
        rule(EventName::Push, &[], &["v*-*"], Some("stage"), None),
        rule(EventName::Push, &[], &["v*"], Some("prod"), None),
        rule(EventName::Push, &["main"], &[], Some("stage"), None),
        rule(EventName::WorkflowDispatch, &[], &[], Some("dev"), Some("environment")),
        rule(EventName::Push, &["**"], &[], None, None),
        rule(EventName::PullRequest, &[], &[], None, None),
    ]
}

/// What triggered this run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event {
    /// GitHub event name, e.g. `push`.
    pub name: String,
    /// The full ref, e.g. `refs/heads/main`, `refs/tags/v1.2.0`, `refs/pull/7/merge`.
    pub git_ref: String,
    /// For pull requests: the base branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// The commit.
    pub sha: String,
    /// workflow_dispatch inputs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// The push deleted the ref (the payload's `"deleted": true`): there is nothing to deploy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// The kind of ref an event points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Other(&'a str),
}

impl Event {
    pub fn ref_kind(&self) -> RefKind<'_> {
        if let Some(b) = self.git_ref.strip_prefix("refs/heads/") {
            RefKind::Branch(b)
        } else if let Some(t) = self.git_ref.strip_prefix("refs/tags/") {
            RefKind::Tag(t)
        } else {
            RefKind::Other(&self.git_ref)
        }
    }

    /// The tag for tag refs; the short commit otherwise.
    pub fn version(&self) -> String {
        crate::commit::version(Some(&self.git_ref), &self.sha)
    }

    /// `push of tag v1.2.0`, `pull_request into main`, `workflow_dispatch on branch dev`.
    pub fn describe(&self) -> String {
        let target = match self.ref_kind() {
            RefKind::Branch(b) => format!("branch {b}"),
            RefKind::Tag(t) => format!("tag {t}"),
            RefKind::Other(r) => r.to_string(),
        };
        match (&self.base_ref, self.name.as_str()) {
            (Some(base), "pull_request" | "pull_request_target") => {
                format!("{} into {base}", self.name)
            }
            (_, "push") => format!("push of {target}"),
            _ => format!("{} on {target}", self.name),
        }
    }
}

/// The environment (if any) an event deploys to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// Whether this event deploys.
    pub deploy: bool,
    /// The environment, when it deploys.
    pub environment: Option<String>,
    /// The tag for tag refs, otherwise the short commit.
    pub version: String,
    /// Why, in words: the event and the rule that decided.
    pub reason: String,
    /// 0-based index of the rule that matched.
    pub rule: Option<usize>,
}

/// A trigger rule with its globs compiled.
pub struct CompiledRule<'a> {
    rule: &'a TriggerRule,
    branches: Patterns,
    tags: Patterns,
}

#[derive(Default)]
struct Patterns {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Patterns {
    fn compile(globs: &[String]) -> std::result::Result<Self, (usize, String)> {
        let mut p = Patterns::default();
        for (i, glob) in globs.iter().enumerate() {
            let (negated, pattern) = match glob.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, glob.as_str()),
            };
            let matcher = compile_glob(pattern).map_err(|e| (i, e))?;
            if negated {
                p.exclude.push(matcher);
            } else {
                p.include.push(matcher);
            }
        }
        Ok(p)
    }

    fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.is_match(name.as_bytes())))
            && !self.exclude.iter().any(|g| g.is_match(name.as_bytes()))
    }
}

/// The longest glob read: git refs are short, and a huge pattern only costs time.
pub const MAX_GLOB_LEN: usize = 1024;

/// Compiles one glob in GitHub's filter syntax. The matcher is built here rather than by
/// globset, which panics on a pattern too large to compile.
pub fn compile_glob(pattern: &str) -> std::result::Result<Regex, String> {
    if pattern.is_empty() {
        return Err("an empty pattern matches nothing".into());
    }
    if pattern.len() > MAX_GLOB_LEN {
        return Err(format!(
            "it is {} characters long, more than the {MAX_GLOB_LEN} slipway reads",
            pattern.len()
        ));
    }
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.kind().to_string())?;
    RegexBuilder::new(glob.regex())
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("it does not compile: {e}"))
}

/// A glob that does not compile, with where it was in the rule.
#[derive(Debug)]
pub struct GlobError {
    pub field: &'static str,
    pub index: usize,
    pub pattern: String,
    pub reason: String,
}

impl<'a> CompiledRule<'a> {
    pub fn new(rule: &'a TriggerRule) -> std::result::Result<Self, GlobError> {
        let compile = |field: &'static str, globs: &[String]| {
            Patterns::compile(globs).map_err(|(index, reason)| GlobError {
                field,
                index,
                pattern: globs[index].clone(),
                reason,
            })
        };
        Ok(CompiledRule {
            rule,
            branches: compile("branches", &rule.branches)?,
            tags: compile("tags", &rule.tags)?,
        })
    }

    fn matches(&self, event: &Event) -> bool {
        if self.rule.event.as_str() != event.name {
            return false;
        }
        if self.branches.is_empty() && self.tags.is_empty() {
            return true;
        }
        let pull = matches!(self.rule.event, EventName::PullRequest | EventName::PullRequestTarget);
        match event.ref_kind() {
            _ if pull => event
                .base_ref
                .as_deref()
                .is_some_and(|base| !self.branches.is_empty() && self.branches.matches(base)),
            RefKind::Branch(b) => !self.branches.is_empty() && self.branches.matches(b),
            RefKind::Tag(t) => !self.tags.is_empty() && self.tags.matches(t),
            RefKind::Other(_) => false,
        }
    }

    fn describe(&self) -> String {
        let mut out = self.rule.event.as_str().to_string();
        if !self.rule.branches.is_empty() {
            out.push_str(&format!(" branches {}", self.rule.branches.join(",")));
        }
        if !self.rule.tags.is_empty() {
            out.push_str(&format!(" tags {}", self.rule.tags.join(",")));
        }
        out
    }
}

/// Decides what an event deploys to. `known` lists the configured environments, for
/// checking an environment named in a dispatch input.
pub fn resolve(rules: &[TriggerRule], event: &Event, known: &[&str]) -> Result<Resolution> {
    let version = event.version();
    if event.deleted {
        // Whatever the rules say: a deleted branch or tag has no commit of its own to ship.
        return Ok(Resolution {
            deploy: false,
            environment: None,
            version,
            reason: format!("{} deletes the ref: no deploy", event.describe()),
            rule: None,
        });
    }
    for (index, rule) in rules.iter().enumerate() {
        let compiled = CompiledRule::new(rule).map_err(|e| {
            Error::input(
                format!(
                    "trigger rule {}: {} pattern {:?}: {}",
                    index + 1,
                    e.field,
                    e.pattern,
                    e.reason
                ),
                "fix the glob",
            )
        })?;
        if !compiled.matches(event) {
            continue;
        }
        let rule_text = format!("rule {} ({})", index + 1, compiled.describe());
        let mut environment = rule.environment.clone();
        let mut reason = format!("{} matches {rule_text}", event.describe());
        if let Some(input) = &rule.input {
            if let Some(chosen) = event.inputs.get(input).filter(|v| !v.trim().is_empty()) {
                let chosen = chosen.trim();
                if !known.contains(&chosen) {
                    return Err(Error::input(
                        format!(
                            "the {} input {input}={chosen:?} names no environment in the config",
                            event.name
                        ),
                        format!("dispatch the workflow with one of: {}", known.join(", ")),
                    ));
                }
                environment = Some(chosen.to_string());
                reason.push_str(&format!(", input {input}={chosen}"));
            }
        }
        if let Some(env) = environment.as_deref().filter(|e| !known.contains(e)) {
            return Err(Error::input(
                format!(
                    "{} deploys to {env:?} by trigger {rule_text}, but the config has no environment {env:?}",
                    event.describe()
                ),
                format!(
                    "add environment {env:?}, or write `triggers:` for environments {}",
                    known.join(", ")
                ),
            ));
        }
        let deploy = environment.is_some();
        if !deploy {
            reason.push_str(": no deploy, test and plan only");
        }
        return Ok(Resolution {
            deploy,
            environment,
            version,
            reason,
            rule: Some(index),
        });
    }
    Ok(Resolution {
        deploy: false,
        environment: None,
        version,
        reason: format!(
            "{} matches no trigger rule: no deploy, test and plan only",
            event.describe()
        ),
        rule: None,
    })
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
