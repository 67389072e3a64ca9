//! The universe the integration tests run in: the testbed's real programs started on
//! free ports, a small HTTP server for endpoints the tests play (GitHub's OIDC issuer),
//! and the binaries run as a user would run them.

pub mod act;
pub mod action;
pub mod cbor;
pub mod containers;
pub mod http;
pub mod moto;
pub mod moto_iam;
pub mod proxy;
pub mod stalled_engine;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A slipway binary with a clean environment: no GitHub, AWS or runner variables leak
/// in from the machine running the tests.
pub fn bin(name: &str) -> Command {
    // Cargo builds every binary before an integration test; they sit beside deps/.
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .join(name);
    assert!(path.exists(), "binary {name} not found at {}", path.display());
    let mut cmd = Command::new(path);
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_")
            || key.starts_with("AWS_")
            || key.starts_with("ACTIONS_")
            || key.starts_with("SLIPWAY_")
            || key == "RUNNER_TEMP"
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_COLOR", "1");
    cmd
}

/// What a finished binary said.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let Output { status, stdout, stderr } = cmd.output().expect("the binary runs");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked at"),
        "the binary panicked:\n{}",
        run.stderr
    );
    run
}

/// A temporary directory holding the files one test writes.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The testbed directory scripts/testbed.sh installs into.
pub fn testbed() -> PathBuf {
    std::env::var_os("SLIPWAY_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/testbed"))
}

/// A program the testbed provides, or a failure that names the install command.
pub fn require(program: &Path) -> PathBuf {
    assert!(
        program.exists(),
        "{} is missing: run scripts/testbed.sh (it installs the testbed: moto, podman, docker-registry, packer)",
        program.display()
    );
    program.to_path_buf()
}

/// A rolling request for the simulated ECS service (`EcsSettings::default()`: service
/// web in web-cluster, container app) onto `image`, setting VERSION=2.
pub fn sim_ecs_request(image: &str) -> slipway::roll::ecs::EcsRequest {
    slipway::roll::ecs::EcsRequest {
        cluster: "web-cluster".into(),
        service: "web".into(),
        container: "app".into(),
        image: image.into(),
        environment: vec![("VERSION".into(), "2".into())],
        wait_for_idle: false,
        register_only: false,
        deployment: None,
        test_urls: 0,
        keep_revisions: None,
        wait_until: slipway::roll::WaitUntil::Completed,
        resume: None,
    }
}
