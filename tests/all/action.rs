//! action.yml's own steps, run as the runner runs them: the install step against a
//! fake release directory (a good checksum installs, a tampered archive is refused,
//! a ref without a release builds from source), and the run step, which gets the
//! inputs only through its environment.

use std::path::Path;

use crate::support::action::{action, fake_release, run_action, ActionRun};
use crate::support::{root, Dir};

const VERSION: &str = "v9.9.9";

struct Bed {
    dir: Dir,
}

impl Bed {
    fn new() -> Bed {
        let dir = Dir::new();
        for sub in ["releases", "cache", "tmp", "work"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Bed { dir }
    }
    fn path(&self, sub: &str) -> std::path::PathBuf {
        self.dir.path().join(sub)
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RUNNER_OS".into(), "Linux".into()),
            ("RUNNER_ARCH".into(), "X64".into()),
            ("RUNNER_TOOL_CACHE".into(), self.path("cache").display().to_string()),
            ("RUNNER_TEMP".into(), self.path("tmp").display().to_string()),
            ("GITHUB_PATH".into(), self.path("github-path").display().to_string()),
            (
                "SLIPWAY_RELEASE_URL".into(),
                format!("file://{}", self.path("releases").display()),
            ),
            ("SLIPWAY_TEST_ARGV".into(), self.path("argv").display().to_string()),
            ("PATH".into(), std::env::var("PATH").unwrap()),
        ]
    }
    fn run(&self, inputs: &[(&str, &str)], action_ref: &str, extra_env: &[(&str, &str)]) -> ActionRun {
        let mut env = self.env();
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_action(
            inputs,
            &[
                ("github.action_ref", action_ref),
                ("github.action_repository", "slipway-dev/slipway"),
            ],
            &env,
            &self.path("work"),
        )
    }
}

#[test]
fn action_installs_a_release_whose_checksum_matches_then_uses_the_tool_cache() {
    let bed = Bed::new();
    fake_release(&bed.path("releases"), VERSION);
    let first = bed.run(&[("command", "env")], VERSION, &[]);
    let install = first.step("install").expect("the install step ran");
    assert_eq!(install.run.code, 0, "{}", install.run.stderr);
    assert_eq!(install.outputs["source"], "release");
    assert!(install
        .run
        .stderr
        .contains("sha256 of slipway-v9.9.9-x86_64-unknown-linux-musl.tar.gz verified"));
    let bin_dir = bed.path("cache").join("slipway/9.9.9/x86_64-unknown-linux-musl/bin");
    assert_eq!(install.outputs["bin-dir"], bin_dir.display().to_string());
    assert!(bin_dir.join("slipway-roll").exists());
    assert!(bed
        .path("cache")
        .join("slipway/9.9.9/x86_64-unknown-linux-musl.complete")
        .exists());
    assert_eq!(
        std::fs::read_to_string(bed.path("github-path")).unwrap().trim(),
        bin_dir.display().to_string()
    );
    // The run step ran the installed binary, and its outputs became the action's.
    let run = first.step("run").expect("the run step ran");
    assert_eq!(run.run.code, 0, "{}", run.run.stderr);
    assert_eq!(run.outputs["ran"], "slipway-env");
    assert_eq!(first.outputs["bin-dir"], bin_dir.display().to_string());

    // Second time: from the tool cache, even with the release gone.
    std::fs::remove_dir_all(bed.path("releases").join(VERSION)).unwrap();
    let second = bed.run(&[("command", "wait")], VERSION, &[]);
    let install = second.step("install").unwrap();
    assert_eq!(install.run.code, 0, "{}", install.run.stderr);
    assert_eq!(install.outputs["source"], "cache");
    assert_eq!(second.step("run").unwrap().outputs["ran"], "slipway-wait");
}

#[test]
fn action_refuses_a_tampered_archive() {
    let bed = Bed::new();
    let archive = fake_release(&bed.path("releases"), VERSION);
    // Same name, other bytes: the checksums file still holds the original's sha256.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let result = bed.run(&[("command", "env")], VERSION, &[]);
    let install = result.step("install").unwrap();
    assert_eq!(install.run.code, 1, "{}", install.run.stderr);
    assert!(
        install.run.stderr.contains("refusing to install"),
        "{}",
        install.run.stderr
    );
    assert!(install.run.stderr.contains("::error"), "{}", install.run.stderr);
    assert!(result.step("run").is_none(), "the run step must not run");
    assert!(!bed
        .path("cache")
        .join("slipway/9.9.9/x86_64-unknown-linux-musl/bin")
        .exists());
    assert!(!bed.path("github-path").exists());
}

#[test]
fn action_refuses_an_archive_it_cannot_check() {
    let bed = Bed::new();
    fake_release(&bed.path("releases"), VERSION);
    let sums = bed.path("releases").join(VERSION).join("slipway-v9.9.9-sha256sums.txt");
    // A checksums file that does not list this archive.
    std::fs::write(&sums, format!("{}  slipway-v9.9.9-other.tar.gz\n", "0".repeat(64))).unwrap();
    let result = bed.run(&[("command", "env")], VERSION, &[]);
    let install = result.step("install").unwrap();
    assert_eq!(install.run.code, 1);
    assert!(
        install.run.stderr.contains("has no single sha256"),
        "{}",
        install.run.stderr
    );
    assert!(result.step("run").is_none());

    // An archive without any checksums file next to it is not installed either: it
    // counts as no release, and a source build is tried instead (which fails here,
    // as there is no cargo on PATH).
    std::fs::remove_file(&sums).unwrap();
    let result = bed.run(&[("command", "env")], VERSION, &[("PATH", "/usr/bin:/bin")]);
    let install = result.step("install").unwrap();
    assert_ne!(install.run.code, 0);
    assert!(
        install.run.stderr.contains("cargo is not installed"),
        "{}",
        install.run.stderr
    );
    assert!(!bed
        .path("cache")
        .join("slipway/9.9.9/x86_64-unknown-linux-musl.complete")
        .exists());
}

fn fake_cargo(dir: &Path) -> String {
    let bin = dir.join("fake-cargo");
    std::fs::create_dir_all(&bin).unwrap();
    // Records its arguments and "installs" a slipway-env into --root.
    std::fs::write(
        bin.join("cargo"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$SLIPWAY_TEST_ARGV.cargo\"\n\
         while [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
         mkdir -p \"$root/bin\" && printf '#!/bin/sh\\necho ran=source >> \"$GITHUB_OUTPUT\"\\n' > \"$root/bin/slipway-env\" && chmod +x \"$root/bin/slipway-env\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(bin.join("cargo"))
        .status()
        .unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

#[test]
fn action_installs_the_release_slipway_release_names_when_the_input_is_empty() {
    // A workflow pinned by commit (no release at that ref) sets SLIPWAY_RELEASE once in
    // its env: every step installs that release instead of building from source. (Not
    // SLIPWAY_VERSION: that is the application version the binaries read.)
    let bed = Bed::new();
    fake_release(&bed.path("releases"), VERSION);
    let commit = "0".repeat(40);
    // (A stand-in cargo: a source build, which is what the variable prevents, is quick.)
    let path = fake_cargo(bed.dir.path());
    let result = bed.run(
        &[("command", "env")],
        &commit,
        &[("SLIPWAY_RELEASE", VERSION), ("PATH", &path)],
    );
    let install = result.step("install").unwrap();
    assert_eq!(install.run.code, 0, "{}", install.run.stderr);
    assert_eq!(install.outputs["source"], "release");
    assert_eq!(install.outputs["version"], VERSION);
    // The input still wins over the variable.
    let result = bed.run(
        &[("command", "env"), ("version", "source")],
        &commit,
        &[("SLIPWAY_RELEASE", VERSION), ("PATH", &path)],
    );
    assert_eq!(result.step("install").unwrap().outputs["source"], "build");
}

#[test]
fn action_builds_from_source_when_the_ref_has_no_release() {
    let bed = Bed::new();
    let path = fake_cargo(bed.dir.path());
    for (action_ref, version) in [("main", ""), ("v9.9.9", "")] {
        // main is a branch; v9.9.9 is a tag whose release does not exist.
        let result = bed.run(
            &[("command", "env"), ("version", version)],
            action_ref,
            &[("PATH", &path)],
        );
        let install = result.step("install").unwrap();
        assert_eq!(install.run.code, 0, "{action_ref}: {}", install.run.stderr);
        assert_eq!(install.outputs["source"], "build");
        let cargo_args = std::fs::read_to_string(bed.path("argv.cargo")).unwrap();
        assert!(cargo_args.starts_with("install\n--locked\n"), "{cargo_args}");
        assert!(
            cargo_args.contains(&format!("--path\n{}\n", root().display())),
            "{cargo_args}"
        );
        assert_eq!(result.step("run").unwrap().outputs["ran"], "source");
    }
}

#[test]
fn action_inputs_reach_the_run_step_only_as_data() {
    let bed = Bed::new();
    fake_release(&bed.path("releases"), VERSION);
    let marker = |n: &str| bed.path(&format!("pwned-{n}"));
    let (m1, m2, m3, m4) = (marker("1"), marker("2"), marker("3"), marker("4"));
    let keep = bed.path("keep");
    std::fs::create_dir_all(&keep).unwrap();
    let args = format!(
        "--ref $(touch {}) `touch {}` \"; rm -rf {} ; touch {} #",
        m1.display(),
        m2.display(),
        keep.display(),
        m3.display()
    );
    let environment = format!("\"; touch {} #", m4.display());
    let config = format!("$(touch {})", m4.display());
    let result = bed.run(
        &[
            ("command", "build"),
            ("args", &args),
            ("environment", &environment),
            ("config", &config),
            ("dry-run", "true"),
        ],
        VERSION,
        &[],
    );
    let run = result.step("run").expect("the run step ran");
    assert_eq!(run.run.code, 0, "{}", run.run.stderr);
    for m in [&m1, &m2, &m3, &m4] {
        assert!(!m.exists(), "{} was created: an input was executed", m.display());
    }
    assert!(keep.exists(), "rm -rf in an input ran");
    // The binary got the words of `args` verbatim, as separate arguments.
    let argv = std::fs::read_to_string(bed.path("argv")).unwrap();
    let words: Vec<&str> = argv.lines().collect();
    let expected: Vec<String> = std::iter::once("--dry-run".to_string())
        .chain(args.split_whitespace().map(str::to_string))
        .collect();
    assert_eq!(words, expected);
    // environment and config arrived untouched, through the environment.
    let env = std::fs::read_to_string(bed.path("argv.env")).unwrap();
    assert!(env.contains(&format!("SLIPWAY_ENVIRONMENT={environment}\n")), "{env}");
    assert!(env.contains(&format!("SLIPWAY_CONFIG={config}\n")), "{env}");
}

#[test]
fn action_refuses_an_unknown_command_or_dry_run_value() {
    let bed = Bed::new();
    fake_release(&bed.path("releases"), VERSION);
    let m = bed.path("pwned-cmd");
    let command = format!("env; touch {}", m.display());
    let result = bed.run(&[("command", &command)], VERSION, &[]);
    let run = result.step("run").unwrap();
    assert_eq!(run.run.code, 2, "{}", run.run.stderr);
    assert!(run.run.stderr.contains("input command must be one of"));
    assert!(!m.exists());
    let result = bed.run(&[("command", "roll"), ("dry-run", "yes")], VERSION, &[]);
    assert_eq!(result.step("run").unwrap().run.code, 2);
}

#[test]
fn action_runs_the_real_slipway_env_from_the_tool_cache() {
    let bed = Bed::new();
    // A cached install whose binaries are the ones cargo built for these tests.
    let cached = bed.path("cache").join("slipway/9.9.9/x86_64-unknown-linux-musl");
    std::fs::create_dir_all(cached.join("bin")).unwrap();
    let built = crate::support::bin("slipway-env").get_program().to_owned();
    std::os::unix::fs::symlink(&built, cached.join("bin/slipway-env")).unwrap();
    std::fs::write(cached.with_extension("complete"), "").unwrap();
    let config = root().join("examples/slipway.yml");
    let result = bed.run(
        &[
            ("command", "env"),
            ("config", &config.display().to_string()),
            (
                "args",
                "--event push --ref refs/tags/v1.2.0 --sha 0123456789abcdef0123456789abcdef01234567",
            ),
        ],
        VERSION,
        &[],
    );
    assert_eq!(result.step("install").unwrap().outputs["source"], "cache");
    let run = result.step("run").unwrap();
    assert_eq!(run.run.code, 0, "{}", run.run.stderr);
    assert_eq!(result.outputs["environment"], "prod");
    assert_eq!(result.outputs["deploy"], "true");
    assert_eq!(result.outputs["version"], "v1.2.0");
    assert_eq!(
        result.outputs["role-arn"],
        "arn:aws:iam::333333333333:role/slipway-deploy-prod"
    );
}

#[test]
fn every_action_output_comes_from_a_step_and_is_documented() {
    let action = action();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (name, spec) in action["outputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let value = spec["value"].as_str().unwrap();
        assert!(
            value == format!("${{{{ steps.run.outputs.{name} }}}}")
                || value == format!("${{{{ steps.install.outputs.{name} }}}}"),
            "output {name} maps to {value}"
        );
        assert!(spec["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README documents no output {name}"
        );
    }
    for (name, _) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README documents no input {name}"
        );
    }
}
