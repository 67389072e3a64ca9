//! Every output slipway-env, slipway-build, slipway-bake, slipway-roll (both targets, on
//! the simulator) and slipway-wait write to GITHUB_OUTPUT is declared in action.yml (so a workflow can read it through the action)
//! and is kebab-case. Each command runs for real, in a simulated Actions job: OIDC from a
//! local stand-in, STS and ECR and EC2 from moto, Packer, and a stand-in GitHub API.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::action::{action, parse_outputs};
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::{bin, require, run, Dir};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const CONFIG: &str = "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecr:\n      repository: outputs-check\n";
const TEMPLATE: &str = r#"source "amazon-ebs" "web" {
  region                      = "us-east-1"
  source_ami                  = "ami-03cf127a"
  instance_type               = "t3.micro"
  ami_name                    = "web-outputs-{{timestamp}}"
  communicator                = "none"
  custom_endpoint_ec2         = "ENDPOINT"
  skip_metadata_api_check     = true
  skip_credential_validation  = true
  skip_region_validation      = true
}
build {
  sources = ["source.amazon-ebs.web"]
}
"#;

/// GitHub as the commands see it: the OIDC token endpoint and the deployments API.
fn github() -> Server {
    Server::start(|req| {
        if req.target.starts_with("/token") {
            Response::new(200, r#"{"value":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#)
        } else if req.target.ends_with("/statuses") {
            Response::new(201, r#"{"id": 1, "state": "in_progress"}"#)
        } else {
            Response::new(201, r#"{"id": 7, "sha": "x"}"#)
        }
    })
}

/// `program` as a step of a GitHub Actions job in `dir`.
fn step(program: &str, dir: &Dir, github: &Server) -> Command {
    let mut cmd = bin(program);
    cmd.current_dir(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_REPOSITORY", "octo/web")
        .env("GITHUB_RUN_ID", "42")
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_TOKEN", "t0ken")
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", github.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("SLIPWAY_CONFIG", dir.path().join("slipway.yml"))
        .env("GITHUB_OUTPUT", dir.path().join(format!("{program}.output")))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"));
    cmd
}

fn packer() -> std::path::PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("packer")).find(|p| p.exists()));
    require(&found.unwrap_or_else(|| "packer (on PATH)".into()))
}

#[test]
fn every_output_a_command_writes_is_declared_in_action_yml() {
    let dir = Dir::new();
    let github = github();
    dir.write("slipway.yml", CONFIG);
    dir.write("Dockerfile", "FROM scratch\n");
    dir.write("ami.pkr.hcl", &TEMPLATE.replace("ENDPOINT", &moto().endpoint));
    let health = Server::start(|_| Response::new(200, "ok"));
    let roll_config = dir.write(
        "roll.yml",
        "app: web\nenvironments:\n  dev:\n    aws: { role_arn: arn:aws:iam::123456789012:role/deploy, region: us-east-1 }\n    \
         asg: { name: web-asg }\n    ecs: { cluster: web, service: web, container: app }\n",
    );
    let roll = |target: &str, output: &str| {
        let mut c = step("slipway-roll", &dir, &github);
        c.env("SLIPWAY_CONFIG", &roll_config)
            .env("GITHUB_OUTPUT", dir.path().join(output))
            .args(["--simulate", "--target", target]);
        if target == "ecs" {
            c.args(["--image", "registry.example/web:2"]);
        }
        c
    };
    let runs: Vec<(&str, Command)> = vec![
        ("slipway-roll", roll("asg", "slipway-roll.output")),
        ("slipway-roll-ecs", roll("ecs", "slipway-roll-ecs.output")),
        ("slipway-env", {
            let mut c = step("slipway-env", &dir, &github);
            c.args(["--check-credentials", "--deployment"]);
            c
        }),
        ("slipway-build", {
            let mut c = step("slipway-build", &dir, &github);
            c.args(["--create-repository", "--dry-run"])
                .env("DOCKER_HOST", "unix:///nonexistent/slipway-test/podman.sock");
            c
        }),
        ("slipway-bake", {
            let mut c = step("slipway-bake", &dir, &github);
            c.args(["--template", "ami.pkr.hcl", "--dry-run"])
                .env("SLIPWAY_PACKER", packer());
            c
        }),
        ("slipway-wait", {
            let mut c = step("slipway-wait", &dir, &github);
            let url = format!("{}/healthz", health.url);
            c.args([
                "--url",
                &url,
                "--consecutive",
                "1",
                "--interval",
                "100ms",
                "--timeout",
                "1m",
            ]);
            c
        }),
    ];
    let declared: BTreeSet<String> = action()["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for (program, mut cmd) in runs {
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{program}: {}", r.stderr);
        let written = parse_outputs(&dir.read(&format!("{program}.output")));
        assert!(written.len() >= 3, "{program} wrote too few outputs: {written:?}");
        for name in written.keys() {
            assert!(
                declared.contains(name),
                "{program} writes the output {name:?}, which action.yml does not declare"
            );
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{program} writes {name:?}: outputs are kebab-case"
            );
        }
        if program == "slipway-env" {
            // Every output slipway-env can write, with both flags.
            for name in [
                "environment",
                "deploy",
                "reason",
                "version",
                "role-arn",
                "region",
                "account",
                "deployment-id",
            ] {
                assert!(
                    written.contains_key(name),
                    "slipway-env did not write {name}: {written:?}"
                );
            }
        }
    }
}
