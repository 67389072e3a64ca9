//! slipway.yml: the types, their defaults, loading with line and column in every
//! error, and the cross-field checks that run after parsing.

pub mod duration;
pub mod limits;
mod regions;
mod server_deploy;
mod validate;
pub mod yaml_pos;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use regions::{RegionOverride, Regional, Wave, WavesOnFailure, AWS_REGIONS};
pub use server_deploy::{ServerDeploy, DEFAULT_BUNDLE_PREFIX, DEFAULT_SERVER_CONFIG};
pub use validate::{role_account, MAX_ALARM_NAME, MAX_BAKE, MAX_ECS_BAKE_MINUTES};

use crate::error::{Error, Location, Result};
use crate::trigger::TriggerRule;

/// The default config file name, looked up in the working directory.
pub const DEFAULT_PATH: &str = "slipway.yml";

/// slipway.yml: how one application is shipped to each of its environments.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The application's name: used in STS session names, image tags and summaries.
    pub app: String,
    /// The environments (dev, stage, prod, or any names), each with its own account and resources.
    pub environments: BTreeMap<String, Environment>,
    /// Which GitHub events deploy to which environment, first match wins. When absent:
    /// tag v*-* (a pre-release) -> stage, tag v* -> prod, push to main -> stage, workflow_dispatch -> dev (or the dispatch
    /// input `environment`), any other push and pull_request -> test and plan only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Vec<TriggerRule>>,
    /// Where deploy notifications go, for every environment without its own `notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
}

/// Where a deploy's notifications go (slipway-roll: its start, progress and end). A
/// notification that fails is a warning; it never changes the deploy's exit code.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Slack through a bot token: one message per deploy, posted at the start and updated
    /// in place (chat.update) as it goes and when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackBot>,
    /// A Slack incoming webhook: a message at the start and one at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_webhook: Option<SlackWebhook>,
    /// A webhook receiving JSON events (started, progress, finished), signed with
    /// HMAC-SHA256 when a secret is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// Slack's Web API with a bot token (scope chat:write).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackBot {
    /// The environment variable holding the bot token (xoxb-...), e.g. from a secret.
    #[serde(default = "default_slack_token_env")]
    pub token_env: String,
    /// The channel id (C0123...) or name (#deploys) the bot posts in.
    pub channel: String,
}

fn default_slack_token_env() -> String {
    "SLACK_BOT_TOKEN".into()
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackWebhook {
    /// The environment variable holding the webhook URL (https://hooks.slack.com/...).
    pub webhook_env: String,
}

/// A generic webhook.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The environment variable holding the URL the events are POSTed to.
    pub url_env: String,
    /// The environment variable holding the secret the events are signed with
    /// (header `X-Slipway-Signature-256: sha256=HEX`, HMAC-SHA256 of the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// One environment: where it lives in AWS and what runs there.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The AWS account, role and region this environment deploys to.
    pub aws: Aws,
    /// The public URL of the environment, shown in GitHub deployments and summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The ECR repository images are pushed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr: Option<Ecr>,
    /// The ECS service rolled onto new images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Ecs>,
    /// The Auto Scaling group rolled onto new AMIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg: Option<Asg>,
    /// A CodeDeploy deployment group of EC2 instances or Auto Scaling groups, deployed a
    /// bundle zipped from a directory and stored in S3 by commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codedeploy: Option<ServerDeploy>,
    /// What "healthy" means after a deploy.
    #[serde(default)]
    pub health: Health,
    /// Where this environment's deploy notifications go (replaces the top-level `notify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// The regions (and accounts) it deploys to, each with what differs there (anything
    /// not overridden is inherited). Empty: `aws.region` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionOverride>,
    /// The order the regions deploy in: each wave's regions together, the next wave once
    /// it succeeded and baked. Default: one region at a time, as listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<Wave>,
    /// What a failure in a wave does to the waves before it, which had succeeded: `stop`
    /// (the default) leaves them on the new version and says so; `rollback_all` rolls each
    /// of them back onto what it ran before (its previous launch template version, image or
    /// CodeDeploy revision).
    #[serde(default, skip_serializing_if = "WavesOnFailure::is_stop")]
    pub waves_on_failure: WavesOnFailure,
}

/// AWS account access for one environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    /// The IAM role assumed with GitHub's OIDC token, e.g. `arn:aws:iam::123456789012:role/deploy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The AWS region, e.g. `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Accounts this environment may deploy to; slipway stops before any call when the
    /// credentials belong to another account. Default: the account in `role_arn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_account_ids: Vec<String>,
    /// How long assumed-role credentials last (15m to 12h, within the role's maximum).
    #[serde(default = "default_session_duration")]
    pub session_duration: Duration,
}

fn default_session_duration() -> Duration {
    Duration::from_secs(3600)
}

/// The ECR repository of an environment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ecr {
    /// Repository name, e.g. `web` or `team/web`.
    pub repository: String,
    /// The registry host images are pushed to and read from, `host[:port]` or
    /// `https://host[:port]` (`http://` for a plain-HTTP one), instead of the one ECR's
    /// login names: a private endpoint, or a test registry. Set it per region under
    /// `regions:` like every `ecr` key; `--registry` still wins for the home region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// The ECS service of an environment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ecs {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// The container in the task definition whose image is replaced.
    pub container: String,
    /// How traffic moves to the new revision: `rolling` (new tasks replace old ones, all
    /// traffic at once), or ECS's own `blue_green`, `canary` and `linear` (a green target
    /// group, traffic shifted by the load balancer, bake time, rollback to blue). A service
    /// whose deployment controller is CODE_DEPLOY is deployed through CodeDeploy instead,
    /// whatever this says (see `codedeploy`).
    #[serde(default)]
    pub strategy: EcsStrategy,
    /// `canary`: the share of production traffic the new revision takes first, and how
    /// long it serves that share before the rest moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// `linear`: the share of production traffic moved at each step, and how long each
    /// step serves before the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<Linear>,
    /// Services whose deployment controller is CODE_DEPLOY: the CodeDeploy application,
    /// deployment group, deployment config and lifecycle hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codedeploy: Option<CodeDeploy>,
    /// After a success, deregister inactive revisions of the task definition family beyond
    /// the newest N (never one a service uses). Absent: keep every revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_revisions: Option<u32>,
}

/// How an ECS service is moved onto a new revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EcsStrategy {
    /// ECS rolling update: new tasks replace old ones; traffic moves as they register.
    #[default]
    Rolling,
    /// ECS blue/green: the new revision starts beside the old one behind the alternate
    /// target group, takes test traffic, then all production traffic at once.
    BlueGreen,
    /// ECS canary: `canary.percent` of production traffic first, the rest after `canary.bake`.
    Canary,
    /// ECS linear: production traffic moves in steps of `linear.step_percent`, each
    /// serving for `linear.step_bake`.
    Linear,
}

impl EcsStrategy {
    /// As written in slipway.yml.
    pub fn as_str(self) -> &'static str {
        match self {
            EcsStrategy::Rolling => "rolling",
            EcsStrategy::BlueGreen => "blue_green",
            EcsStrategy::Canary => "canary",
            EcsStrategy::Linear => "linear",
        }
    }
}

/// An ECS canary deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Share of production traffic on the new revision during the canary, 0.1 to 100.
    pub percent: f64,
    /// How long the canary serves before the rest of the traffic moves (whole minutes).
    pub bake: Duration,
}

/// An ECS linear deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Share of production traffic moved at each step, 3 to 100.
    pub step_percent: f64,
    /// How long each step serves before the next (whole minutes).
    pub step_bake: Duration,
}

/// A CodeDeploy blue/green deployment of an ECS service (deployment controller CODE_DEPLOY).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeDeploy {
    /// The CodeDeploy application. Default: `AppECS-{cluster}-{service}`, as the ECS console names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The deployment group. Default: `DgpECS-{cluster}-{service}`, as the ECS console names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<String>,
    /// The deployment config, e.g. `CodeDeployDefault.ECSCanary10Percent5Minutes`.
    /// Default: the deployment group's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Lambda functions (names or ARNs) run at the AppSpec's lifecycle hooks.
    #[serde(default)]
    pub hooks: CodeDeployHooks,
}

/// The lifecycle hooks of an ECS AppSpec, each a Lambda function name or ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeDeployHooks {
    /// Before the replacement task set is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_install: Option<String>,
    /// After the replacement task set is created, before any traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_install: Option<String>,
    /// After the test listener routes to the replacement task set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_allow_test_traffic: Option<String>,
    /// Before production traffic moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_allow_traffic: Option<String>,
    /// After production traffic moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_allow_traffic: Option<String>,
}

impl CodeDeployHooks {
    /// (AppSpec hook name, function), in lifecycle order.
    pub fn list(&self) -> Vec<(&'static str, &str)> {
        [
            ("BeforeInstall", &self.before_install),
            ("AfterInstall", &self.after_install),
            ("AfterAllowTestTraffic", &self.after_allow_test_traffic),
            ("BeforeAllowTraffic", &self.before_allow_traffic),
            ("AfterAllowTraffic", &self.after_allow_traffic),
        ]
        .into_iter()
        .filter_map(|(hook, f)| f.as_deref().map(|f| (hook, f)))
        .collect()
    }
}

/// How an Auto Scaling group is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Double the group, wait for the new half to be healthy, then remove the old half.
    #[default]
    Surge,
    /// An EC2 Auto Scaling instance refresh, rolled back on failure.
    Refresh,
    /// Two groups (`asg.groups`) behind one listener or rule whose forward action
    /// weighs their target groups: the idle group gets the new version and the live
    /// group's capacity, then traffic moves over in `asg.steps`.
    BlueGreen,
}

/// The Auto Scaling group of an environment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asg {
    /// Auto Scaling group name (surge and refresh; blue_green names `groups` instead).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Launch template name or id (`lt-...`) that new AMIs are put into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template: Option<String>,
    /// `surge` (double, then shrink) or `refresh` (instance refresh).
    #[serde(default)]
    pub strategy: Strategy,
    /// Refresh: the share of capacity that must stay healthy (0-100).
    #[serde(default = "default_min_healthy")]
    pub min_healthy_percentage: u8,
    /// Refresh: how far capacity may grow during the refresh (100-200).
    #[serde(default = "default_max_healthy")]
    pub max_healthy_percentage: u16,
    /// Time a new instance gets before its health counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_warmup: Option<Duration>,
    /// Surge: whether slipway may raise the group's max size to double it.
    #[serde(default = "yes")]
    pub allow_raise_max: bool,
    /// Surge: launch this many new instances first and gate them (target health, health
    /// URLs, alarms) for `canary_bake` before the rest of the surge; a failure removes just
    /// the canary. Fewer than the group's desired capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u32>,
    /// Surge with `canary`: how long the canary serves beside the old instances, watched,
    /// before the rest follow (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_bake: Option<Duration>,
    /// Blue/green: the two groups (same launch template, each attached to its own
    /// target group of the listener's forward action); the one taking the traffic is live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Blue/green: the ARN of the listener whose default forward action weighs the
    /// two groups' target groups (or give `listener_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Blue/green: the ARN of the listener rule whose forward action weighs the two
    /// groups' target groups (or give `listener`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_rule: Option<String>,
    /// Blue/green: the new group's share of the traffic at each step, in percent,
    /// ascending and ending at 100 (`[100]`: all at once; `[10, 50, 100]`: a canary).
    #[serde(default = "default_steps")]
    pub steps: Vec<u8>,
    /// Blue/green: time each step below 100% is watched (alarms, health probes, target
    /// health) before the next one.
    #[serde(default = "default_step_bake")]
    pub step_bake: Duration,
    /// Blue/green: leave the old group running this long (for an instant rollback by
    /// weights) instead of scaling it to zero at once; a scheduled action scales it to
    /// zero then, and a roll before then deletes that action and scales it down first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_old: Option<Duration>,
}

fn default_steps() -> Vec<u8> {
    vec![100]
}
fn default_step_bake() -> Duration {
    Duration::from_secs(120)
}

/// A surge canary's bake when `asg.canary_bake` is not set.
pub const DEFAULT_CANARY_BAKE: std::time::Duration = std::time::Duration::from_secs(300);

fn default_min_healthy() -> u8 {
    100
}
fn default_max_healthy() -> u16 {
    200
}
fn yes() -> bool {
    true
}

/// What healthy means for an environment, used by slipway-wait and the rolls.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// How long to wait for everything to be healthy.
    #[serde(default = "default_health_timeout")]
    pub timeout: Duration,
    /// Time between polls of the HTTP endpoints.
    #[serde(default = "default_http_interval")]
    pub interval: Duration,
    /// Time between polls of AWS (target groups, Auto Scaling groups, ECS services);
    /// 5s keeps each resource at 12 describe calls a minute.
    #[serde(default = "default_aws_interval")]
    pub aws_interval: Duration,
    /// HTTP(S) endpoints that must answer as expected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<HttpCheck>,
    /// HTTP(S) endpoints of the test listener, checked while the new version takes only
    /// test traffic (blue/green through ECS or CodeDeploy): production traffic moves only
    /// when they pass. Same syntax as `urls`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_urls: Vec<HttpCheck>,
    /// Target group ARNs whose registered targets must all be healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_groups: Vec<String>,
    /// Healthy targets each target group needs at least.
    #[serde(default = "default_min_targets")]
    pub min_healthy_targets: u32,
    /// A target unhealthy for this long fails the wait at once instead of at the timeout.
    #[serde(default = "default_unhealthy_grace")]
    pub unhealthy_grace: Duration,
    /// CloudWatch alarms (metric or composite, by name) watched from a roll's first
    /// change until the end of its bake: one in ALARM fails the roll, which rolls back.
    /// Names that do not exist, or an alarm already in ALARM, refuse the roll before any
    /// change. slipway-wait watches them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// What an alarm in INSUFFICIENT_DATA means: `ignore` (the default) or `fail`.
    #[serde(default)]
    pub alarms_missing_data: MissingData,
    /// After the new version takes all traffic, keep watching the alarms and the health
    /// URLs this long before the roll counts as done (a failure then still rolls back);
    /// 0 (the default) means no bake. At most 48h.
    #[serde(default)]
    pub bake: Duration,
}

/// What an alarm without enough data means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingData {
    /// INSUFFICIENT_DATA is not a failure.
    #[default]
    Ignore,
    /// INSUFFICIENT_DATA fails like ALARM.
    Fail,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            timeout: default_health_timeout(),
            interval: default_http_interval(),
            aws_interval: default_aws_interval(),
            urls: Vec::new(),
            test_urls: Vec::new(),
            target_groups: Vec::new(),
            min_healthy_targets: default_min_targets(),
            unhealthy_grace: default_unhealthy_grace(),
            alarms: Vec::new(),
            alarms_missing_data: MissingData::default(),
            bake: Duration::default(),
        }
    }
}

fn default_http_interval() -> Duration {
    Duration::from_millis(500)
}
fn default_aws_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_min_targets() -> u32 {
    1
}
fn default_unhealthy_grace() -> Duration {
    Duration::from_secs(300)
}

fn default_health_timeout() -> Duration {
    Duration::from_secs(600)
}

/// One HTTP(S) health endpoint and what its answer must look like.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// The URL, e.g. `https://stage.example.com/healthz`.
    pub url: String,
    /// Status codes that count as healthy.
    #[serde(default = "default_status")]
    pub status: Vec<u16>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// A JSON pointer into the body (e.g. `/version`) and the value it must equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpectation>,
    /// A version string the body must contain, proving the new build serves. `{version}`
    /// and `{sha}` are replaced by the deploy's version and commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Successes in a row before the endpoint counts as healthy.
    #[serde(default = "default_consecutive")]
    pub consecutive: u32,
    /// Slower answers count as failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<Duration>,
}

/// A JSON pointer and the value found there.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonExpectation {
    /// RFC 6901 pointer, e.g. `/build/commit`.
    pub pointer: String,
    /// The expected value; strings may use `{version}` and `{sha}`.
    pub equals: serde_json::Value,
}

fn default_status() -> Vec<u16> {
    vec![200]
}
fn default_consecutive() -> u32 {
    2
}

/// A parsed and checked config, with the text it came from for line lookups.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    pub text: String,
}

impl Loaded {
    /// The location of the value at `path` (keys, or sequence indices as numbers).
    pub fn locate(&self, path: &[&str]) -> Option<Location> {
        yaml_pos::line_of(&self.text, path).map(|line| Location {
            file: self.path.clone(),
            line,
            column: None,
        })
    }

    /// The named environment, or an input error listing the known ones.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.config.environments.get(name).ok_or_else(|| {
            Error::input(
                format!("no environment named {name:?} in {}", self.path.display()),
                format!(
                    "use one of: {}",
                    self.config.environments.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// Reads, parses and checks a config file.
pub fn load(path: &Path) -> Result<Loaded> {
    use std::io::Read;
    let cannot_read = |e: std::io::Error| {
        let help = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "create {} (see examples/slipway.yml) or pass --config PATH",
                path.display()
            )
        } else {
            "check the path and its permissions".to_string()
        };
        Error::input(format!("cannot read config {}: {e}", path.display()), help)
    };
    // Read one byte past the limit, never the whole of a huge file: the limit check then refuses it.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limits::MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    limits::check_size(path, bytes.len())?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::input(
            format!("config {} is not UTF-8 text: {e}", path.display()),
            "save slipway.yml as UTF-8",
        )
    })?;
    parse(path, text)
}

/// Parses and checks config text; `path` is used in messages only.
pub fn parse(path: &Path, text: String) -> Result<Loaded> {
    limits::check_text(path, &text)?;
    let config: Config = serde_yaml::from_str(&text).map_err(|e| yaml_error(path, &e))?;
    let loaded = Loaded {
        config,
        path: path.to_path_buf(),
        text,
    };
    validate::check(&loaded)?;
    Ok(loaded)
}

fn yaml_error(path: &Path, err: &serde_yaml::Error) -> Error {
    // serde_yaml writes " at line L column C" into the message; the location is reported on its own.
    let message = regex::Regex::new(r" at line \d+ column \d+")
        .expect("a valid pattern")
        .replace_all(&err.to_string(), "")
        .into_owned();
    let help = if message.contains("unknown field") {
        "remove the key or fix its spelling; slipway.schema.json lists every key"
    } else if message.contains("missing field") {
        "add the field; slipway.schema.json lists every key"
    } else if message.contains("repetition limit") || message.contains("recursion limit") {
        "an alias (*name) is expanded too often or nests too deep; write the values out"
    } else {
        "fix the YAML at that position; examples/slipway.yml is a complete example"
    };
    let location = err.location().map(|l| Location {
        file: path.to_path_buf(),
        line: l.line(),
        column: Some(l.column()),
    });
    Error::input(format!("invalid config: {message}"), help).at(location)
}

/// The JSON schema of slipway.yml, as committed in slipway.schema.json.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Config);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}
