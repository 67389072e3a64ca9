//! The deploy context: the GitHub event (from the runner, or from flags on a terminal),
//! the environment it resolves to, and that environment's settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::commit;
use crate::config::{self, Environment, Loaded};
use crate::error::{Error, Result};
use crate::trigger::{self, Event, Resolution};

/// Where the event comes from: flags on a terminal, the runner's variables in Actions.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EventArgs {
    /// GitHub event name: push, workflow_dispatch, pull_request, ...
    #[arg(long, env = "GITHUB_EVENT_NAME", value_name = "NAME")]
    pub event: Option<String>,
    /// The git ref: refs/heads/BRANCH, refs/tags/TAG, or a short name (see --ref-type).
    #[arg(long = "ref", env = "GITHUB_REF", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Whether a short --ref names a branch or a tag.
    #[arg(long, env = "GITHUB_REF_TYPE", value_name = "branch|tag")]
    pub ref_type: Option<String>,
    /// The commit; default: the checkout's HEAD.
    #[arg(long, env = "GITHUB_SHA")]
    pub sha: Option<String>,
    /// Pull requests: the base branch.
    #[arg(long, env = "GITHUB_BASE_REF", value_name = "BRANCH")]
    pub base_ref: Option<String>,
    /// The event payload (JSON); workflow_dispatch inputs are read from it.
    #[arg(long, env = "GITHUB_EVENT_PATH", value_name = "FILE")]
    pub event_path: Option<PathBuf>,
    /// A workflow_dispatch input, KEY=VALUE (repeatable); overrides the payload's.
    #[arg(long = "input", value_name = "KEY=VALUE")]
    pub inputs: Vec<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl EventArgs {
    /// Builds the event, reading the payload file and, when no sha is given, the checkout's HEAD.
    pub fn to_event(&self) -> Result<Event> {
        let name = given(&self.event).ok_or_else(|| {
            Error::input(
                "no GitHub event: GITHUB_EVENT_NAME is not set and --event was not given",
                "on a terminal pass --event push|workflow_dispatch|pull_request and --ref",
            )
        })?;
        let git_ref = self.full_ref()?.ok_or_else(|| {
            Error::input(
                "no git ref: GITHUB_REF is not set and --ref was not given",
                "pass --ref refs/heads/BRANCH or --ref refs/tags/TAG",
            )
        })?;
        let sha = self.commit()?;
        let mut event = Event {
            name: name.to_string(),
            git_ref,
            base_ref: given(&self.base_ref).map(str::to_string),
            sha,
            inputs: BTreeMap::new(),
            deleted: false,
        };
        if let Some(path) = &self.event_path {
            read_payload(path, &mut event)?;
        }
        for pair in &self.inputs {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::input(
                    format!("--input {pair:?} has no `=`"),
                    "write it as KEY=VALUE, e.g. --input environment=qa",
                )
            })?;
            event.inputs.insert(key.trim().to_string(), value.to_string());
        }
        Ok(event)
    }

    /// The full ref: `--ref` as given when it starts with `refs/`, else a branch or tag by `--ref-type`.
    pub fn full_ref(&self) -> Result<Option<String>> {
        let Some(raw_ref) = given(&self.git_ref) else {
            return Ok(None);
        };
        if raw_ref.starts_with("refs/") {
            return Ok(Some(raw_ref.to_string()));
        }
        match given(&self.ref_type) {
            None | Some("branch") => Ok(Some(format!("refs/heads/{raw_ref}"))),
            Some("tag") => Ok(Some(format!("refs/tags/{raw_ref}"))),
            Some(other) => Err(Error::input(
                format!("--ref-type {other:?} is neither branch nor tag"),
                "pass --ref-type branch or --ref-type tag, or a full ref such as refs/tags/v1.2.0",
            )),
        }
    }

    /// The commit, checked: `--sha` (GITHUB_SHA), else the checkout's HEAD.
    pub fn commit(&self) -> Result<String> {
        match self.given_commit()? {
            Some(sha) => Ok(sha),
            None => commit::check(&head_commit()?, "the checkout's HEAD"),
        }
    }

    /// The commit when `--sha` (GITHUB_SHA) is given, checked; None when it is not.
    pub fn given_commit(&self) -> Result<Option<String>> {
        given(&self.sha)
            .map(|sha| commit::check(sha, "--sha (GITHUB_SHA)"))
            .transpose()
    }
}

fn head_commit() -> Result<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output();
    match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => Err(Error::input(
            "no commit: GITHUB_SHA is not set, --sha was not given, and this is not a git checkout",
            "pass --sha COMMIT",
        )),
    }
}

/// Reads workflow_dispatch inputs, the pull request's base branch and whether a push
/// deleted its ref from the payload.
fn read_payload(path: &Path, event: &mut Event) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(
            format!(
                "cannot read the event payload {} (GITHUB_EVENT_PATH): {e}",
                path.display()
            ),
            "point GITHUB_EVENT_PATH or --event-path at the event's JSON payload",
        )
    })?;
    let payload: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(
            format!(
                "the event payload {} (GITHUB_EVENT_PATH) is not JSON: {e}",
                path.display()
            ),
            "point GITHUB_EVENT_PATH or --event-path at the event's JSON payload",
        )
    })?;
    if let Some(inputs) = payload.get("inputs").and_then(|i| i.as_object()) {
        for (key, value) in inputs {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            event.inputs.insert(key.clone(), text);
        }
    }
    // A push that deletes a branch or tag says so; GITHUB_SHA is then another commit.
    event.deleted = payload.get("deleted").and_then(|d| d.as_bool()).unwrap_or(false);
    if event.base_ref.is_none() {
        event.base_ref = payload
            .pointer("/pull_request/base/ref")
            .and_then(|r| r.as_str())
            .map(str::to_string);
    }
    Ok(())
}

/// The resolved deploy: the event, what it deploys to, and that environment's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Deploy {
    pub app: String,
    pub event: Event,
    #[serde(flatten)]
    pub resolution: Resolution,
    /// The environment's settings, when it deploys.
    pub settings: Option<Environment>,
}

/// Resolves the event against the config's trigger rules (or the default table).
pub fn resolve(loaded: &Loaded, event: Event) -> Result<Deploy> {
    let config = &loaded.config;
    let defaults;
    let rules = match &config.triggers {
        Some(rules) => rules,
        None => {
            defaults = trigger::default_rules();
            &defaults
        }
    };
    let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
    let resolution = trigger::resolve(rules, &event, &known).map_err(|e| {
        let location = config.triggers.as_ref().and_then(|_| loaded.locate(&["triggers"]));
        e.at(location)
    })?;
    let settings = resolution
        .environment
        .as_deref()
        .map(|name| loaded.environment(name).cloned())
        .transpose()?;
    Ok(Deploy {
        app: config.app.clone(),
        event,
        resolution,
        settings,
    })
}

/// Loads the config named by --config (default slipway.yml).
pub fn load_config(path: &Path) -> Result<Loaded> {
    config::load(path)
}

/// The flags every deploying job shares: the config, the event, and overrides of what
/// the trigger rules would pick.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// The config file.
    #[arg(long, short, env = "SLIPWAY_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Deploy to this environment instead of the one the trigger rules pick.
    #[arg(long, short, env = "SLIPWAY_ENVIRONMENT")]
    pub environment: Option<String>,
    /// The version to deploy; default: the tag for tag refs, the short commit otherwise.
    #[arg(long = "app-version", env = "SLIPWAY_VERSION", value_name = "VERSION")]
    pub app_version: Option<String>,
    /// The region to deploy when the environment lists several (`regions:`): its settings
    /// with that region's overrides (one job per region, e.g. from slipway-env's `waves`
    /// output; slipway-roll without it rolls every region, wave after wave, slipway-build
    /// builds once and puts the image in every region, and slipway-bake bakes once and
    /// copies the AMI to every region). Without an environment: the AWS region of probes
    /// given by flags (default: AWS_REGION).
    #[arg(long, env = "SLIPWAY_REGION", value_name = "REGION")]
    pub region: Option<String>,
    #[command(flatten)]
    pub event: EventArgs,
}

/// An environment's settings in `region` (required when it lists several regions; its
/// only one when it lists one; its own settings when it lists none).
pub fn settings_in(settings: &Environment, environment: &str, region: Option<&str>) -> Result<Environment> {
    match region {
        Some(region) => settings.in_region(region).map_err(|why| {
            Error::input(
                format!("--region {region}: environment {environment:?} cannot deploy there: {why}"),
                format!(
                    "pass one of its regions ({}), or list the region under the environment's `regions:`",
                    settings.region_names().join(", ")
                ),
            )
        }),
        None => match settings.regions.as_slice() {
            [] => Ok(settings.clone()),
            [only] => settings.in_region(&only.region).map_err(|why| {
                Error::input(
                    format!("environment {environment:?}: region {}: {why}", only.region),
                    "fix that region's overrides in slipway.yml",
                )
            }),
            _ => {
                let waves: Vec<String> = settings.waves().iter().map(|w| w.join(", ")).collect();
                Err(Error::input(
                    format!(
                        "environment {environment:?} deploys to {} regions in waves ({}): say which one this job is for",
                        settings.regions.len(),
                        waves.join("; ")
                    ),
                    "pass --region REGION (or SLIPWAY_REGION): one job per region (slipway-env's `waves` output lists \
                     them; see workflows-templates/multi-region.yml); slipway-roll without it rolls every region, \
                     wave after wave, slipway-build puts one image in every region, and slipway-bake \
                     bakes once and copies the AMI to every region",
                ))
            }
        },
    }
}

/// A job's resolved context: which app, environment and version, from which commit.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub app: String,
    pub environment: String,
    pub version: String,
    /// The full commit.
    pub sha: String,
    pub settings: Environment,
    #[serde(skip)]
    pub config: Loaded,
}

impl Job {
    /// `sha-0123456`, the tag every build of this commit carries.
    pub fn sha_tag(&self) -> String {
        format!("sha-{}", commit::short(&self.sha))
    }
}

impl JobArgs {
    /// Loads the config and decides the environment: `--environment` when given, otherwise
    /// the trigger rules (an event that does not deploy is bad input for a deploying job).
    pub fn resolve(&self) -> Result<Job> {
        let (loaded, environment, version, sha) = self.pick()?;
        let version = given(&self.app_version).map(str::to_string).unwrap_or(version);
        let settings = settings_in(loaded.environment(&environment)?, &environment, given(&self.region))?;
        Ok(Job {
            app: loaded.config.app.clone(),
            environment,
            version,
            sha,
            settings,
            config: loaded,
        })
    }

    /// The config, the environment this job deploys to, the version and the commit.
    fn pick(&self) -> Result<(Loaded, String, String, String)> {
        let loaded = load_config(&self.config)?;
        let (environment, version, sha) = match given(&self.environment) {
            Some(name) => {
                loaded.environment(name)?;
                let sha = self.event.commit()?;
                (name.to_string(), self.version(&sha)?, sha)
            }
            None => {
                let deploy = resolve(&loaded, self.event.to_event()?)?;
                let name = deploy.resolution.environment.clone().ok_or_else(|| {
                    Error::input(
                        format!("{}: nothing to deploy", deploy.resolution.reason),
                        "pass --environment NAME to pick one, or run on an event that deploys",
                    )
                })?;
                (name, deploy.resolution.version, deploy.event.sha)
            }
        };
        Ok((loaded, environment, version, sha))
    }

    /// The waves of regions when the job deploys to an environment that lists several and
    /// says no `--region` (None otherwise: one region).
    pub fn waves(&self) -> Result<Option<Waves>> {
        if given(&self.region).is_some() {
            return Ok(None);
        }
        let (loaded, environment, _, _) = self.pick()?;
        let env = loaded.environment(&environment)?;
        Ok((env.regions.len() > 1).then(|| Waves {
            app: loaded.config.app.clone(),
            waves: env.waves(),
            on_failure: env.waves_on_failure,
            environment,
        }))
    }

    /// The version of a deploy of `sha`: `--app-version` (SLIPWAY_VERSION), else the tag of
    /// `--ref`, else the short commit.
    pub fn version(&self, sha: &str) -> Result<String> {
        Ok(match given(&self.app_version) {
            Some(v) => v.to_string(),
            None => commit::version(self.event.full_ref()?.as_deref(), sha),
        })
    }

    /// AWS credentials for the job's environment (OIDC in Actions, the standard chain elsewhere).
    pub async fn connect(job: &Job, runner: &crate::github::Runner) -> Result<crate::aws::Session> {
        let target = crate::aws::Target::from_config(&job.app, &job.environment, &job.settings);
        crate::aws::connect(&target, runner).await
    }
}

/// An environment's regions in waves, for a job given no `--region`.
#[derive(Debug, Clone)]
pub struct Waves {
    pub app: String,
    pub environment: String,
    /// The regions of each wave, in order.
    pub waves: Vec<Vec<String>>,
    /// What a failed wave does to the waves that had succeeded.
    pub on_failure: crate::config::WavesOnFailure,
}
