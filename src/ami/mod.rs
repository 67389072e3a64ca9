//! Baking an AMI: Packer validates and builds the template, the AMIs are tagged with the
//! commit, and the launch template gets a new version that differs from its source only
//! in the image. A rerun for a commit already baked reuses that AMI. An environment in
//! several regions bakes once, in its home region, and gets that AMI into every other
//! region (`regions`) before any launch template changes.

pub mod command;
pub mod machine;
pub mod packer;
pub mod regions;
pub mod report;
pub mod share;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::{Ec2, Image, LaunchTemplate, NewVersion};
use crate::error::{Error, Result};
pub use crate::signal::Interrupt;
pub use machine::Artifact;
pub use packer::Packer;
pub use regions::{Destination, How, RegionResult};
pub use share::Share;

/// Tags slipway puts on every AMI it bakes (those the template did not set already).
pub mod tags {
    pub const APP: &str = "slipway:app";
    pub const ENVIRONMENT: &str = "slipway:environment";
    pub const COMMIT: &str = "slipway:commit";
    pub const VERSION: &str = "slipway:version";
    pub const RUN_URL: &str = "slipway:run-url";
    pub const BUILD: &str = "slipway:build";
    /// On a copy: the AMI it was copied from, and that AMI's region.
    pub const SOURCE_AMI: &str = "slipway:source-ami";
    pub const SOURCE_REGION: &str = "slipway:source-region";
}

/// What to bake and where it goes.
#[derive(Debug, Clone)]
pub struct Request {
    pub app: String,
    pub environment: String,
    pub version: String,
    /// The full commit.
    pub commit: String,
    /// The environment's (home) region: where Packer bakes and the launch template lives.
    pub region: String,
    /// The workflow run, when known.
    pub run_url: Option<String>,
    pub packer: Packer,
    /// Name or id of the launch template that gets the new image; None: bake only.
    pub launch_template: Option<String>,
    /// The version the new one is copied from; default: the template's default version.
    pub source_version: Option<i64>,
    /// Make the new version the template's default.
    pub set_default: bool,
    /// Which build's AMI goes into the launch template when the template has several.
    pub build: Option<String>,
    /// Bake even when an AMI of this commit exists.
    pub rebake: bool,
    /// Validate and plan only.
    pub dry_run: bool,
}

/// What happened to the AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Packer built a new AMI.
    Baked,
    /// An AMI of this commit existed and was reused.
    Skipped,
    /// Nothing was built or changed.
    DryRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Baked => "baked",
            Status::Skipped => "skipped",
            Status::DryRun => "dry-run",
        }
    }
}

/// The launch template change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateChange {
    pub id: String,
    pub name: String,
    /// The version copied.
    pub source_version: i64,
    /// The version that carries the AMI (None in a dry run).
    pub version: Option<i64>,
    /// Whether slipway created `version` (false when an earlier run already had).
    pub created: bool,
    /// Whether `version` is now the template's default.
    pub default: bool,
}

/// The outcome of a bake, for text, JSON, outputs and the step summary.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub result: Status,
    pub app: String,
    pub environment: String,
    pub version: String,
    pub commit: String,
    pub region: String,
    pub packer_version: String,
    pub template: String,
    /// Every AMI of the bake (or the reused ones), per build and region.
    pub amis: Vec<Artifact>,
    /// The AMI in the environment's region (the one the launch template gets).
    pub ami_id: Option<String>,
    pub launch_template: Option<TemplateChange>,
    /// Every region of the environment, the home region first: its AMI, how it got
    /// there, and its launch template change.
    pub regions: Vec<RegionResult>,
    /// The home AMI shared with the accounts of other regions (none in one account).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<Share>,
}

impl Outcome {
    /// region -> AMI for the chosen build.
    pub fn ami_ids(&self) -> BTreeMap<String, String> {
        let build = self
            .amis
            .iter()
            .find(|a| Some(&a.ami_id) == self.ami_id.as_ref())
            .map(|a| a.build.clone());
        self.amis
            .iter()
            .filter(|a| build.is_none() || Some(&a.build) == build.as_ref())
            .map(|a| (a.region.clone(), a.ami_id.clone()))
            .collect()
    }
}

/// EC2 in the environment's region, and in any other region a build copies AMIs to.
pub struct Clouds<'a> {
    pub ec2: &'a dyn Ec2,
    pub in_region: &'a (dyn Fn(&str) -> Box<dyn Ec2> + Send + Sync),
    /// The environment's other regions (empty for one region): each gets the AMI and a
    /// version of its own launch template.
    pub destinations: &'a [Destination],
}

/// Runs the bake: validate, find an earlier AMI of the commit, build, tag, get the AMI
/// into every other region, then a new version of every region's launch template.
pub async fn bake(req: &Request, clouds: &Clouds<'_>, interrupt: &Interrupt) -> Result<Outcome> {
    let started = tokio::time::Instant::now();
    // Packer's checks and the cloud lookups are independent: run them together, then
    // report in order (a too-old Packer explains a refused template).
    eprintln!("packer: validating {}", req.packer.template.display());
    let lookups = async {
        let template = match &req.launch_template {
            Some(name) => Some(find_template(req, clouds.ec2, name, &req.region).await?),
            None => None,
        };
        let existing = if req.rebake {
            Vec::new()
        } else {
            earlier_amis(req, clouds.ec2).await?
        };
        // Every region's launch template exists before anything is built.
        let others =
            futures_util::future::try_join_all(clouds.destinations.iter().map(|d| regions::find_template(req, d)))
                .await?;
        Ok::<_, Error>((template, existing, others))
    };
    let lookups = interrupt.race("the look at the launch templates and earlier AMIs", lookups);
    let (version, validated, looked_up) = tokio::join!(req.packer.check_version(), req.packer.validate(), lookups);
    let packer_version = version?;
    validated?;
    let (template, existing, others) = looked_up?;
    interrupt.check()?;
    let mut outcome = Outcome {
        result: Status::DryRun,
        app: req.app.clone(),
        environment: req.environment.clone(),
        version: req.version.clone(),
        commit: req.commit.clone(),
        region: req.region.clone(),
        packer_version,
        template: req.packer.template.display().to_string(),
        amis: existing.clone(),
        ami_id: None,
        launch_template: planned(&template),
        regions: Vec::new(),
        shares: Vec::new(),
    };
    let accounts = share::accounts(clouds.destinations);
    if req.dry_run {
        let home = pick(req, &existing).ok();
        outcome.ami_id = home.map(|a| a.ami_id.clone());
        outcome.regions.push(RegionResult {
            region: req.region.clone(),
            ami_id: outcome.ami_id.clone(),
            how: if home.is_some() { How::Reused } else { How::WouldBake },
            seconds: 0.0,
            launch_template: outcome.launch_template.clone(),
        });
        outcome.shares = share::plan(clouds.ec2, outcome.ami_id.as_deref(), &accounts).await?;
        outcome
            .regions
            .extend(regions::plan(req, clouds.destinations, &others, home).await?);
        return Ok(outcome);
    }
    interrupt.check()?;

    if existing.is_empty() {
        let group = format!("packer build {}", req.packer.template.display());
        eprintln!(
            "{}",
            if req.packer.actions {
                crate::github::commands::group(&group)
            } else {
                group
            }
        );
        let built = req.packer.build(interrupt).await;
        if req.packer.actions {
            eprintln!("{}", crate::github::commands::endgroup());
        }
        let summary = built?;
        if summary.artifacts.is_empty() {
            return Err(Error::failed_with_help(
                "packer build succeeded but produced no AMI",
                "the template needs an amazon-ebs (or other AMI) source",
            ));
        }
        outcome.result = Status::Baked;
        outcome.amis = summary.artifacts;
        interrupt
            .race("tagging the AMI", tag_amis(req, clouds, &outcome.amis))
            .await?;
    } else {
        outcome.result = Status::Skipped;
        eprintln!(
            "commit {} already has an AMI ({}): reusing it (--rebake bakes a new one)",
            crate::commit::short(&req.commit),
            existing
                .iter()
                .map(|a| a.ami_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let home = pick(req, &outcome.amis)?.clone();
    let ami = home.ami_id.clone();
    outcome.ami_id = Some(ami.clone());
    outcome.regions.push(RegionResult {
        region: req.region.clone(),
        ami_id: Some(ami.clone()),
        how: if outcome.result == Status::Baked {
            How::Baked
        } else {
            How::Reused
        },
        seconds: started.elapsed().as_secs_f64(),
        launch_template: None,
    });

    // Every region gets its AMI first; only then does any launch template change, so a
    // failed copy leaves every template as it was.
    if !clouds.destinations.is_empty() {
        let source = clouds.ec2.image(&ami).await?.ok_or_else(|| {
            Error::failed(format!(
                "the AMI {ami} in {} vanished before it could be copied",
                req.region
            ))
        })?;
        // Regions in other accounts can copy only what is shared with them: shared (or
        // refused) before any copy starts.
        outcome.shares = share::share(clouds.ec2, &ami, &accounts).await?;
        interrupt.check()?;
        let made = outcome.amis.clone();
        let work = clouds
            .destinations
            .iter()
            .map(|dest| {
                let copy = regions::ensure(req, dest, &source, &home.build, &made, interrupt);
                (dest.region.clone(), copy)
            })
            .collect();
        let copied = regions::each(work)
            .await
            .map_err(|e| e.with_suffix("no launch template was changed in any region"))?;
        outcome.regions.extend(copied);
    }
    interrupt.check()?;

    if let Some((template, source)) = &template {
        let put = put_in_template(req, clouds.ec2, template, *source, &ami);
        outcome.launch_template = Some(interrupt.race("the new launch template version", put).await?);
        outcome.regions[0].launch_template = outcome.launch_template.clone();
    }
    let changes = regions::put_everywhere(req, clouds.destinations, &others, &outcome.regions[1..]).await?;
    for (row, change) in outcome.regions.iter_mut().skip(1).zip(changes) {
        row.launch_template = change;
    }
    Ok(outcome)
}

/// The change a dry run shows for a launch template: a new version from `source`.
fn planned(template: &Option<(LaunchTemplate, i64)>) -> Option<TemplateChange> {
    template.as_ref().map(|(t, source)| TemplateChange {
        id: t.id.clone(),
        name: t.name.clone(),
        source_version: *source,
        version: None,
        created: false,
        default: false,
    })
}

/// The tags that identify this commit's AMI for this app and environment.
fn identity(req: &Request) -> Vec<(String, String)> {
    let mut out = vec![
        (tags::APP.to_string(), req.app.clone()),
        (tags::ENVIRONMENT.to_string(), req.environment.clone()),
        (tags::COMMIT.to_string(), req.commit.clone()),
    ];
    if let Some(build) = &req.build {
        out.push((tags::BUILD.to_string(), build.clone()));
    }
    out
}

async fn earlier_amis(req: &Request, ec2: &dyn Ec2) -> Result<Vec<Artifact>> {
    let images = ec2.images_by_tags(&identity(req)).await?;
    let usable = |i: &Image| !matches!(i.state.as_deref(), Some("failed" | "deregistered" | "error"));
    // Newest image per build.
    let mut by_build: BTreeMap<String, Artifact> = BTreeMap::new();
    for image in images.iter().filter(|i| usable(i)) {
        let build = image.tags.get(tags::BUILD).cloned().unwrap_or_default();
        by_build.entry(build.clone()).or_insert_with(|| Artifact {
            build,
            builder_id: String::new(),
            region: req.region.clone(),
            ami_id: image.id.clone(),
        });
    }
    Ok(by_build.into_values().collect())
}

/// The AMI in the environment's region, of the requested build or the only one.
fn pick<'a>(req: &Request, amis: &'a [Artifact]) -> Result<&'a Artifact> {
    let here: Vec<&Artifact> = amis
        .iter()
        .filter(|a| a.region == req.region)
        .filter(|a| req.build.as_ref().is_none_or(|b| &a.build == b))
        .collect();
    match here.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::failed_with_help(
            format!(
                "no AMI{} in {}, the environment's region (Packer made: {})",
                req.build
                    .as_deref()
                    .map(|b| format!(" of build {b}"))
                    .unwrap_or_default(),
                req.region,
                amis.iter()
                    .map(|a| format!("{} {} {}", a.build, a.region, a.ami_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "build in the environment's region (the template's region or ami_regions), or fix --build",
        )),
        several => Err(Error::input(
            format!(
                "several builds made AMIs in {}: {}",
                req.region,
                several.iter().map(|a| a.build.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "pass --build NAME to say which one goes into the launch template",
        )),
    }
}

async fn find_template(req: &Request, ec2: &dyn Ec2, name: &str, region: &str) -> Result<(LaunchTemplate, i64)> {
    let template = ec2.launch_template(name).await?.ok_or_else(|| {
        Error::input(
            format!("launch template {name:?} does not exist in {region}"),
            "create it first, or fix asg.launch_template in slipway.yml or --launch-template",
        )
    })?;
    let source = req.source_version.unwrap_or(template.default_version);
    if ec2.template_version(&template.id, &source.to_string()).await?.is_none() {
        return Err(Error::input(
            format!(
                "launch template {} has no version {source} (default {}, latest {})",
                template.name, template.default_version, template.latest_version
            ),
            "pass --source-version with an existing version, or leave it out to copy the default",
        ));
    }
    Ok((template, source))
}

/// Adds slipway's tags the template did not set, in every region that has an AMI.
async fn tag_amis(req: &Request, clouds: &Clouds<'_>, amis: &[Artifact]) -> Result<()> {
    let mut wanted = identity(req);
    wanted.push((tags::BUILD.to_string(), String::new()));
    wanted.push((tags::VERSION.to_string(), req.version.clone()));
    if let Some(url) = &req.run_url {
        wanted.push((tags::RUN_URL.to_string(), url.clone()));
    }
    for ami in amis {
        let other;
        let ec2: &dyn Ec2 = if ami.region == req.region {
            clouds.ec2
        } else {
            other = (clouds.in_region)(&ami.region);
            other.as_ref()
        };
        let have = ec2.image(&ami.ami_id).await?.map(|i| i.tags).unwrap_or_default();
        let missing: Vec<(String, String)> = wanted
            .iter()
            .map(|(k, v)| match k.as_str() {
                tags::BUILD => (k.clone(), ami.build.clone()),
                _ => (k.clone(), v.clone()),
            })
            .filter(|(k, _)| !have.contains_key(k))
            .collect();
        if !missing.is_empty() {
            ec2.create_tags(std::slice::from_ref(&ami.ami_id), &missing).await?;
        }
    }
    Ok(())
}

/// Finds or creates the version that carries `ami`, and makes it the default when asked.
async fn put_in_template(
    req: &Request,
    ec2: &dyn Ec2,
    template: &LaunchTemplate,
    source: i64,
    ami: &str,
) -> Result<TemplateChange> {
    let mut change = TemplateChange {
        id: template.id.clone(),
        name: template.name.clone(),
        source_version: source,
        version: None,
        created: false,
        default: false,
    };
    // A rerun finds the version an earlier run made: the source (when it was made the
    // default) or the latest one.
    for number in [source, template.latest_version] {
        let found = ec2.template_version(&template.id, &number.to_string()).await?;
        if found.and_then(|v| v.image_id).as_deref() == Some(ami) {
            change.version = Some(number);
            break;
        }
    }
    let number = match change.version {
        Some(n) => n,
        None => {
            let n = ec2
                .create_launch_template_version(&NewVersion {
                    template_id: template.id.clone(),
                    source_version: source,
                    image_id: ami.to_string(),
                    description: Some(format!(
                        "slipway: {} {} ({}) from version {source}",
                        req.app,
                        req.version,
                        crate::commit::short(&req.commit)
                    )),
                })
                .await?;
            change.created = true;
            change.version = Some(n);
            n
        }
    };
    change.default = template.default_version == number;
    if req.set_default && !change.default {
        ec2.set_default_version(&template.id, number).await?;
        change.default = true;
    }
    Ok(change)
}
