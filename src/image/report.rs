//! What slipway-build did: the outcome as JSON (serde), terminal text, step outputs and
//! the step summary's markdown.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::context::Job;
use crate::report::escape_md;

/// Whether the image was built, or an existing build was re-tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Built,
    Promoted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Built => "built",
            Action::Promoted => "promoted",
        }
    }
}

/// How the image got into a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Built or promoted there (the home region).
    Home,
    /// Copied from the home region (blobs the region lacked, then the manifest).
    Copied,
    /// ECR's replication brought it; slipway waited for it.
    Replicated,
    /// It was there already, under every tag: nothing copied.
    Present,
}

impl How {
    /// In a plan: a copy, or a wait for replication.
    pub fn for_plan(replicated: bool) -> How {
        match replicated {
            true => How::Replicated,
            false => How::Copied,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            How::Home => "home",
            How::Copied => "copied",
            How::Replicated => "replicated",
            How::Present => "present",
        }
    }
}

/// The image in one region of an environment that lists several.
#[derive(Debug, Clone, Serialize)]
pub struct RegionImage {
    pub region: String,
    pub repository: String,
    /// `host/repository@sha256:...` there (None in a dry run that would build).
    pub image_uri: Option<String>,
    pub how: How,
    /// Blobs copied (in a dry run: that would be copied).
    pub blobs: usize,
    pub bytes: u64,
    /// Tags put there (in a dry run: that would be put).
    pub tags: usize,
    pub seconds: f64,
    /// The repository was (or would be) created there.
    pub created_repository: bool,
}

/// The result of a build or promotion (or, with `dry_run`, what would happen).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub app: String,
    pub environment: String,
    pub version: String,
    pub commit: String,
    pub repository: String,
    /// `host/repository`.
    pub repository_uri: String,
    /// `host/repository@sha256:...`: what a roll deploys. None in a dry run that would build.
    pub image_uri: Option<String>,
    pub digest: Option<String>,
    /// Every tag the image carries, the commit's first.
    pub tags: Vec<String>,
    pub action: Action,
    /// The repository was (or, in a dry run, would be) created.
    pub created_repository: bool,
    pub dry_run: bool,
    /// The labels set on a new build.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// How long each phase took.
    pub seconds: Seconds,
    /// Every region of an environment that lists several, the home region first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionImage>,
    /// The job's region (for the `images` output of a one-region build).
    #[serde(skip)]
    pub region: Option<String>,
}

/// Wall-clock seconds per phase (absent: the phase did not run).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seconds {
    pub build: Option<f64>,
    pub push: Option<f64>,
    /// Adding tags to the manifest (the whole of a promotion).
    pub tag: Option<f64>,
}

impl Outcome {
    pub fn new(job: &Job, repository: &str, host: &str, tags: Vec<String>, dry_run: bool) -> Self {
        Outcome {
            app: job.app.clone(),
            environment: job.environment.clone(),
            version: job.version.clone(),
            commit: job.sha.clone(),
            repository: repository.to_string(),
            repository_uri: format!("{host}/{repository}"),
            image_uri: None,
            digest: None,
            tags,
            action: Action::Built,
            created_repository: false,
            dry_run,
            labels: BTreeMap::new(),
            seconds: Seconds::default(),
            regions: Vec::new(),
            region: job.settings.aws.region.clone(),
        }
    }

    /// `{region: image URI}` of every region the image is in (or, in a dry run, would be).
    pub fn images(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        match (self.regions.is_empty(), &self.region, &self.image_uri) {
            (true, Some(region), Some(uri)) => {
                out.insert(region.clone(), uri.clone().into());
            }
            (true, _, _) => {}
            (false, _, _) => {
                for r in &self.regions {
                    if let Some(uri) = &r.image_uri {
                        out.insert(r.region.clone(), uri.clone().into());
                    }
                }
            }
        }
        out
    }

    pub fn set_digest(&mut self, digest: &str) {
        self.digest = Some(digest.to_string());
        self.image_uri = Some(format!("{}@{digest}", self.repository_uri));
    }

    /// Step outputs: image-uri, digest, tags (comma-separated), action (built or promoted), dry-run.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("image-uri", self.image_uri.clone().unwrap_or_default()),
            ("digest", self.digest.clone().unwrap_or_default()),
            ("tags", self.tags.join(",")),
            ("action", self.action.as_str().to_string()),
            ("dry-run", self.dry_run.to_string()),
            ("images", serde_json::Value::Object(self.images()).to_string()),
        ]
    }

    /// Readable lines for a terminal.
    pub fn text(&self) -> String {
        let verb = match (self.dry_run, self.action) {
            (false, Action::Built) => "built and pushed",
            (false, Action::Promoted) => "promoted (no build)",
            (true, Action::Built) => "dry run: would build and push",
            (true, Action::Promoted) => "dry run: would promote (no build)",
        };
        let mut out = format!(
            "{verb} {} for {}, version {}\n  image    {}\n  tags     {}\n",
            self.app,
            self.environment,
            self.version,
            self.image_uri.as_deref().unwrap_or(&self.repository_uri),
            self.tags.join(", ")
        );
        if self.created_repository {
            let created = if self.dry_run { "would be created" } else { "created" };
            out.push_str(&format!("  repo     {} ({created})\n", self.repository));
        }
        for r in &self.regions {
            out.push_str(&format!(
                "  {:<14} {:<10} {} blobs, {} bytes, {} tags, {:.1}s{}\n",
                r.region,
                self.region_how(r),
                r.blobs,
                r.bytes,
                r.tags,
                r.seconds,
                if r.created_repository {
                    ", repository created"
                } else {
                    ""
                }
            ));
        }
        out
    }

    /// `copied`, or in a dry run `would copy` / `would wait for replication`.
    fn region_how(&self, r: &RegionImage) -> String {
        match (self.dry_run, r.how) {
            (true, How::Copied) => "would copy".into(),
            (true, How::Replicated) => "would wait for replication".into(),
            (_, how) => how.as_str().into(),
        }
    }

    /// A markdown table for GITHUB_STEP_SUMMARY.
    pub fn markdown(&self) -> String {
        let action = if self.dry_run {
            format!("{} (dry run)", self.action.as_str())
        } else {
            self.action.as_str().to_string()
        };
        let mut out = format!(
            "**slipway-build**: `{}` for **{}**, version `{}`\n\n| | |\n|---|---|\n",
            escape_md(&self.app),
            escape_md(&self.environment),
            escape_md(&self.version)
        );
        let rows = [
            ("action", action),
            (
                "image",
                format!(
                    "`{}`",
                    escape_md(self.image_uri.as_deref().unwrap_or(&self.repository_uri))
                ),
            ),
            (
                "tags",
                self.tags
                    .iter()
                    .map(|t| format!("`{}`", escape_md(t)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("commit", format!("`{}`", escape_md(&self.commit))),
        ];
        for (k, v) in rows {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        if !self.regions.is_empty() {
            out.push_str(
                "\n| region | image | how | blobs | bytes | tags | duration |\n|---|---|---|---|---|---|---|\n",
            );
            for r in &self.regions {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | {} | {:.0}s |\n",
                    escape_md(&r.region),
                    escape_md(r.image_uri.as_deref().unwrap_or(&r.repository)),
                    self.region_how(r),
                    r.blobs,
                    r.bytes,
                    r.tags,
                    r.seconds
                ));
            }
        }
        out
    }
}
