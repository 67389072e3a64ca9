//! Several regions (and accounts) for one environment: `regions:` lists per-region
//! overrides of the environment's sections (anything not overridden is inherited), and
//! `waves:` orders them: the regions of a wave deploy together, a wave after the one
//! before it succeeded and baked.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Environment};

/// One region an environment deploys to, with what differs there.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionOverride {
    /// The AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Overrides of `aws` (role_arn, allowed_account_ids, session_duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<serde_json::Value>,
    /// Overrides of `ecr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr: Option<serde_json::Value>,
    /// Overrides of `ecs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<serde_json::Value>,
    /// Overrides of `asg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg: Option<serde_json::Value>,
    /// Overrides of `codedeploy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codedeploy: Option<serde_json::Value>,
    /// Overrides of `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    /// The environment's URL in this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Regions that deploy together.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// The regions of the wave (each one of `regions`).
    pub regions: Vec<String>,
    /// How long the wave is watched (alarms, health) after it deployed, before the next
    /// one: each of its regions bakes this long (or `health.bake`, when longer).
    #[serde(default)]
    pub bake: Duration,
}

/// What a failed wave does to the waves that had succeeded before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WavesOnFailure {
    /// Leave them on the new version (the error names them).
    #[default]
    Stop,
    /// Roll each of them back onto what it ran before, the latest wave first.
    RollbackAll,
}

impl WavesOnFailure {
    pub fn is_stop(&self) -> bool {
        *self == WavesOnFailure::Stop
    }
}

/// AWS's regions (commercial, GovCloud and China).
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// One region of an environment, resolved: its wave (1-based) and its settings.
#[derive(Debug, Clone)]
pub struct Regional {
    pub region: String,
    pub wave: usize,
    pub settings: Environment,
}

/// Merges `over` into `base`: mappings key by key, anything else replaced.
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

impl Environment {
    /// The regions it deploys to, in wave order: those of `regions` (its own region
    /// alone when it lists none).
    pub fn region_names(&self) -> Vec<String> {
        match self.regions.is_empty() {
            true => self.aws.region.iter().cloned().collect(),
            false => self.waves().into_iter().flatten().collect(),
        }
    }

    /// The waves: as configured, else one wave per region in the listed order.
    pub fn waves(&self) -> Vec<Vec<String>> {
        if self.waves.is_empty() {
            return self.regions.iter().map(|r| vec![r.region.clone()]).collect();
        }
        self.waves.iter().map(|w| w.regions.clone()).collect()
    }

    /// The settings in `region`: the environment's with the region's overrides, its
    /// `aws.region` set; a message naming the section when an override does not fit.
    pub fn in_region(&self, region: &str) -> std::result::Result<Environment, String> {
        if self.regions.is_empty() {
            return match &self.aws.region {
                Some(own) if own != region => Err(format!("it deploys to {own} only (it has no regions list)")),
                _ => {
                    let mut env = self.clone();
                    env.aws.region = Some(region.to_string());
                    Ok(env)
                }
            };
        }
        let Some(o) = self.regions.iter().find(|r| r.region == region) else {
            let names: Vec<&str> = self.regions.iter().map(|r| r.region.as_str()).collect();
            return Err(format!("{region} is not one of its regions ({})", names.join(", ")));
        };
        let mut base = self.clone();
        base.regions.clear();
        base.waves.clear();
        base.waves_on_failure = WavesOnFailure::Stop;
        let mut value = serde_json::to_value(&base).map_err(|e| e.to_string())?;
        for (key, over) in [
            ("aws", &o.aws),
            ("ecr", &o.ecr),
            ("ecs", &o.ecs),
            ("asg", &o.asg),
            ("codedeploy", &o.codedeploy),
            ("health", &o.health),
        ] {
            if let Some(over) = over {
                merge(
                    value
                        .as_object_mut()
                        .expect("an environment is a mapping")
                        .entry(key)
                        .or_insert(serde_json::Value::Null),
                    over,
                );
            }
        }
        value["aws"]["region"] = region.into();
        // The wave's bake is each of its regions' bake.
        if let Some(wave) = self.waves.iter().find(|w| w.regions.iter().any(|r| r == region)) {
            let bake = value["health"]["bake"].clone();
            let own: Duration = serde_json::from_value(bake).unwrap_or_default();
            if wave.bake.std() > own.std() {
                value["health"]["bake"] = serde_json::to_value(wave.bake).map_err(|e| e.to_string())?;
            }
        }
        if let Some(url) = &o.url {
            value["url"] = url.clone().into();
        }
        serde_json::from_value(value).map_err(|e| format!("its overrides do not fit: {e}"))
    }

    /// Every region resolved, in wave order.
    pub fn regional(&self) -> std::result::Result<Vec<Regional>, String> {
        let mut out = Vec::new();
        for (n, wave) in self.waves().iter().enumerate() {
            for region in wave {
                out.push(Regional {
                    region: region.clone(),
                    wave: n + 1,
                    settings: self.in_region(region).map_err(|e| format!("region {region}: {e}"))?,
                });
            }
        }
        Ok(out)
    }
}
