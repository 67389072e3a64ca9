//! A small runner for action.yml's own composite steps, as GitHub's runner runs them:
//! each step's `env:` values are evaluated from the inputs and earlier steps' outputs,
//! then its `run:` script goes to `bash -e -o pipefail` with that environment and a
//! fresh GITHUB_OUTPUT. Only the expressions action.yml uses are understood, and a
//! `run:` that holds an expression is refused: inputs may reach scripts only via env.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{root, run, Run};

pub struct StepResult {
    pub id: String,
    pub run: Run,
    pub outputs: BTreeMap<String, String>,
}

pub struct ActionRun {
    pub steps: Vec<StepResult>,
    /// The action's outputs, evaluated like GitHub does after the steps ran.
    pub outputs: BTreeMap<String, String>,
}

impl ActionRun {
    pub fn step(&self, id: &str) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.id == id)
    }
}

pub fn action() -> serde_yaml::Value {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    serde_yaml::from_str(&text).expect("action.yml is YAML")
}

/// Runs the composite steps with `inputs` (defaults from action.yml fill the rest),
/// `context` (github.action_ref and friends) and `env` (the job's environment).
pub fn run_action(inputs: &[(&str, &str)], context: &[(&str, &str)], env: &[(&str, &str)], work: &Path) -> ActionRun {
    let action = action();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, spec) in action["inputs"].as_mapping().expect("inputs") {
        let default = spec["default"].as_str().unwrap_or_default();
        values.insert(format!("inputs.{}", name.as_str().unwrap()), default.to_string());
    }
    for (k, v) in inputs {
        values.insert(format!("inputs.{k}"), v.to_string());
    }
    for (k, v) in context {
        values.insert(k.to_string(), v.to_string());
    }
    let mut steps = Vec::new();
    for (i, step) in action["runs"]["steps"].as_sequence().expect("steps").iter().enumerate() {
        let id = step["id"].as_str().map(str::to_string).unwrap_or(format!("step{i}"));
        let script = step["run"].as_str().expect("a run step");
        assert!(
            !script.contains("${{"),
            "step {id} puts an expression into its script: {script}"
        );
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {id} runs in bash");
        let output = work.join(format!("output-{id}"));
        std::fs::write(&output, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script])
            .current_dir(work)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_OUTPUT", &output);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(map) = step["env"].as_mapping() {
            for (k, v) in map {
                cmd.env(k.as_str().unwrap(), evaluate(v.as_str().unwrap_or_default(), &values));
            }
        }
        let result = run(&mut cmd);
        let outputs = parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default());
        for (k, v) in &outputs {
            values.insert(format!("steps.{id}.outputs.{k}"), v.clone());
        }
        let failed = result.code != 0;
        steps.push(StepResult {
            id,
            run: result,
            outputs,
        });
        if failed {
            break;
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, spec) in action["outputs"].as_mapping().expect("outputs") {
        let value = evaluate(spec["value"].as_str().expect("an output value"), &values);
        outputs.insert(name.as_str().unwrap().to_string(), value);
    }
    ActionRun { steps, outputs }
}

/// `${{ a.b.c }}` as a whole value; anything else is taken literally.
fn evaluate(text: &str, values: &BTreeMap<String, String>) -> String {
    let trimmed = text.trim();
    match trimmed.strip_prefix("${{").and_then(|t| t.strip_suffix("}}")) {
        Some(expr) => {
            let expr = expr.trim();
            assert!(
                expr.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "unsupported expression {expr}"
            );
            values.get(expr).cloned().unwrap_or_default()
        }
        None => {
            assert!(!text.contains("${{"), "unsupported expression in {text}");
            text.to_string()
        }
    }
}

/// GITHUB_OUTPUT: `key=value` lines and `key<<DELIM` blocks.
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(key.to_string(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            out.insert(key.to_string(), value.to_string());
        }
    }
    out
}

/// A fake release of `version` for Linux x86_64 under `dir`: an archive of small
/// stand-in binaries that record their arguments, and a sha256sums file.
pub fn fake_release(dir: &Path, version: &str) -> PathBuf {
    let release = dir.join(version);
    let stage = dir.join("stage");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    // One program, as releases ship it: the command names are links to it.
    let program = stage.join("slipway");
    std::fs::write(
        &program,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$SLIPWAY_TEST_ARGV\"\n\
         env | grep '^SLIPWAY_' | sort > \"$SLIPWAY_TEST_ARGV.env\"\n\
         echo \"ran=$(basename \"$0\")\" >> \"$GITHUB_OUTPUT\"\n",
    )
    .unwrap();
    let status = Command::new("chmod").arg("+x").arg(&program).status().unwrap();
    assert!(status.success());
    let names = [
        "slipway-env",
        "slipway-build",
        "slipway-bake",
        "slipway-roll",
        "slipway-wait",
    ];
    for name in names {
        std::os::unix::fs::symlink("slipway", stage.join(name)).unwrap();
    }
    let archive = format!("slipway-{version}-x86_64-unknown-linux-musl.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(release.join(&archive))
        .arg("-C")
        .arg(&stage)
        .arg("slipway")
        .args(names)
        .status()
        .unwrap();
    assert!(status.success());
    let sums = Command::new("sha256sum")
        .arg(&archive)
        .current_dir(&release)
        .output()
        .unwrap();
    assert!(sums.status.success());
    std::fs::write(release.join(format!("slipway-{version}-sha256sums.txt")), sums.stdout).unwrap();
    release.join(archive)
}
