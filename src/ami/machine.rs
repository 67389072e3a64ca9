//! Packer's `-machine-readable` output: one line per event, `timestamp,target,type,data...`,
//! with commas inside data written `%!(PACKER_COMMA)` and newlines written `\n`. This
//! module turns lines into events, UI messages into readable text, and the artifact
//! lines into AMIs per build and region.

use std::collections::BTreeMap;

use serde::Serialize;

/// One line of machine-readable output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub timestamp: u64,
    /// The build the line is about (`amazon-ebs.web`), empty for global lines.
    pub target: String,
    /// `ui`, `artifact`, `artifact-count`, `error`, `error-count`, `version`, ...
    pub kind: String,
    /// The data fields, unescaped.
    pub data: Vec<String>,
}

/// Undoes Packer's escaping of a data field.
pub fn unescape(field: &str) -> String {
    field
        .replace("%!(PACKER_COMMA)", ",")
        .replace("\\r", "\r")
        .replace("\\n", "\n")
}

impl Line {
    /// Parses one line; None for anything that is not machine-readable (a plugin's raw
    /// output, a crash message), which callers show as it is.
    pub fn parse(text: &str) -> Option<Line> {
        let text = text.trim_end_matches(['\r', '\n']);
        let mut fields = text.split(',');
        let timestamp = fields.next()?.parse().ok()?;
        let target = fields.next()?.to_string();
        let kind = fields.next()?.to_string();
        if kind.is_empty() {
            return None;
        }
        let data = fields.map(unescape).collect();
        Some(Line {
            timestamp,
            target,
            kind,
            data,
        })
    }

    /// A UI message: its level (`say`, `message`, `error`) and text.
    pub fn ui(&self) -> Option<(UiLevel, &str)> {
        if self.kind != "ui" {
            return None;
        }
        let level = match self.data.first()?.as_str() {
            "error" => UiLevel::Error,
            "say" => UiLevel::Say,
            _ => UiLevel::Message,
        };
        Some((level, self.data.get(1).map(String::as_str).unwrap_or_default()))
    }
}

/// How Packer's UI labelled a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiLevel {
    /// A step heading (`==> amazon-ebs.web: Creating AMI ...`).
    Say,
    /// Detail under a step.
    Message,
    /// Something went wrong.
    Error,
}

/// An AMI one build produced in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// The build (`amazon-ebs.web`).
    pub build: String,
    /// Packer's builder id, e.g. `mitchellh.amazonebs`.
    pub builder_id: String,
    pub region: String,
    pub ami_id: String,
}

/// What a whole run said, gathered line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub artifacts: Vec<Artifact>,
    /// The final error of each failed build (`target,error,message`), as `build: message`.
    pub build_errors: Vec<String>,
    /// UI error lines worth an annotation, in order (see [`is_recap`]).
    pub ui_errors: Vec<String>,
    /// Artifacts being assembled: (build, index) -> (builder id, id).
    partial: BTreeMap<(String, String), (String, String)>,
}

/// Packer's closing recap repeats errors already shown (`==> Some builds didn't
/// complete...`, `--> amazon-ebs.web: ...`); those are not annotated twice.
pub fn is_recap(text: &str) -> bool {
    let text = text.trim();
    text.is_empty() || text.starts_with("==> Some builds didn't complete") || text.starts_with("--> ")
}

impl Summary {
    /// Takes in one line.
    pub fn add(&mut self, line: &Line) {
        match line.kind.as_str() {
            "artifact" => self.add_artifact(line),
            "error" => {
                let message = line.data.join(",");
                self.build_errors.push(if line.target.is_empty() {
                    message
                } else {
                    format!("{}: {message}", line.target)
                });
            }
            "ui" => {
                if let Some((UiLevel::Error, text)) = line.ui() {
                    if !is_recap(text) {
                        self.ui_errors.push(text.trim().to_string());
                    }
                }
            }
            _ => {}
        }
    }

    fn add_artifact(&mut self, line: &Line) {
        let (Some(index), Some(field)) = (line.data.first(), line.data.get(1)) else {
            return;
        };
        let key = (line.target.clone(), index.clone());
        let value = line.data.get(2..).map(|v| v.join(",")).unwrap_or_default();
        match field.as_str() {
            "builder-id" => self.partial.entry(key).or_default().0 = value,
            "id" => self.partial.entry(key).or_default().1 = value,
            "end" => {
                if let Some((builder_id, id)) = self.partial.remove(&key) {
                    self.artifacts.extend(amis(&line.target, &builder_id, &id));
                }
            }
            _ => {}
        }
    }

    /// What went wrong, in Packer's words: each failed build's error, or when there is
    /// none (validate, a missing template) the UI's error lines.
    pub fn messages(&self) -> Vec<String> {
        if self.build_errors.is_empty() {
            self.ui_errors.clone()
        } else {
            self.build_errors.clone()
        }
    }
}

/// `us-east-1:ami-1,us-west-2:ami-2` -> one artifact per region; other artifacts
/// (files, manifests, non-AMI builders) give none.
fn amis(build: &str, builder_id: &str, id: &str) -> Vec<Artifact> {
    id.split(',')
        .filter_map(|pair| {
            let (region, ami) = pair.trim().split_once(':')?;
            ami.starts_with("ami-").then(|| Artifact {
                build: build.to_string(),
                builder_id: builder_id.to_string(),
                region: region.to_string(),
                ami_id: ami.to_string(),
            })
        })
        .collect()
}

/// Parses a whole captured output.
pub fn summarize(text: &str) -> Summary {
    let mut summary = Summary::default();
    for line in text.lines().filter_map(Line::parse) {
        summary.add(&line);
    }
    summary
}

/// A UI line as a person reads it: Packer's own text, one log line per text line.
pub fn readable(text: &str) -> impl Iterator<Item = &str> {
    text.trim_start_matches('\n').trim_end().lines()
}

/// `packer version -machine-readable` -> (major, minor, patch).
pub fn version(text: &str) -> Option<(u64, u64, u64)> {
    let from_lines = text
        .lines()
        .filter_map(Line::parse)
        .find(|l| l.kind == "version")
        .and_then(|l| l.data.first().cloned());
    // Plain `packer version` prints `Packer v1.6.6`; newer ones print `Packer v1.11.2` too.
    let raw = from_lines.or_else(|| {
        text.split_whitespace()
            .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
            .map(|w| w[1..].to_string())
    })?;
    let mut parts = raw.split(['.', '-']).map(|p| p.parse::<u64>());
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next().and_then(Result::ok).unwrap_or(0),
    ))
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
