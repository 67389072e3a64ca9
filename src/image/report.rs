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
        }
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
        out
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
        out
    }
}
