//! slipway-bake end to end: real Packer building against moto's EC2, the AMI's tags and
//! the launch template versions read back from moto, reruns, failures and interrupts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData};
use slipway::github::files::parse_outputs;

use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::{bin, require, run, Dir, Run};

/// Packer from the testbed (Debian's `packer`), or a failure naming scripts/testbed.sh.
pub(crate) fn packer() -> PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("packer")).find(|p| p.exists()));
    require(&found.unwrap_or_else(|| PathBuf::from("packer (on PATH)")))
}

/// A template like TESTBED.md's, with the commit in the AMI name and `extra` in the build.
pub(crate) fn template(extra: &str) -> String {
    format!(
        r#"variable "commit" {{
  type = string
}}
variable "suffix" {{
  type    = string
  default = ""
}}
variable "endpoint" {{
  type    = string
  default = "{endpoint}"
}}
source "amazon-ebs" "web" {{
  region                      = "us-east-1"
  source_ami                  = "ami-03cf127a"
  instance_type               = "t3.micro"
  ami_name                    = "web-${{var.commit}}-{{{{timestamp}}}}${{var.suffix}}"
  communicator                = "none"
  custom_endpoint_ec2         = var.endpoint
  skip_metadata_api_check     = true
  skip_credential_validation  = true
  skip_region_validation      = true
}}
build {{
  sources = ["source.amazon-ebs.web"]
{extra}
}}
"#,
        endpoint = moto().endpoint
    )
}

const CONFIG: &str = "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: web-dev\n      launch_template: LT\n";

/// A test's world: a directory with the config and template, its own commit and
/// launch template (moto is shared by all tests of the binary).
pub(crate) struct Bake {
    pub(crate) dir: Dir,
    /// GitHub's OIDC token endpoint (any request gets a token; moto does not check it).
    github: Server,
    pub(crate) sha: String,
    pub(crate) lt: String,
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// EC2 in moto (directly, not through a proxy) in `region`.
pub(crate) fn ec2_in(region: &str) -> aws_sdk_ec2::Client {
    let creds = aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_ec2::config::Builder::new()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(region.to_string()))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(creds)
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

impl Bake {
    pub(crate) fn new(name: &str, extra: &str) -> Self {
        let dir = Dir::new();
        let sha = format!(
            "{:0<40}",
            format!(
                "{:x}",
                name.bytes()
                    .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            )
        );
        let lt = format!("web-{name}");
        dir.write("slipway.yml", &CONFIG.replace("LT", &lt));
        dir.write("ami.pkr.hcl", &template(extra));
        create_template("us-east-1", &lt);
        let github = Server::start(|_| Response::new(200, r#"{"value":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#));
        Bake { dir, github, sha, lt }
    }

    pub(crate) fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut cmd = bin("slipway-bake");
        if !extra.contains(&"--template") {
            cmd.args(["--template", "ami.pkr.hcl"]);
        }
        cmd.current_dir(self.dir.path())
            .args(["--environment", "dev", "--sha", &self.sha])
            .args(extra)
            .env("SLIPWAY_PACKER", packer())
            .env("AWS_ENDPOINT_URL", &moto().endpoint)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "octo/web")
            .env("GITHUB_RUN_ID", "777")
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{}/token?api-version=2.0", self.github.url),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
            .env("GITHUB_OUTPUT", self.dir.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.dir.path().join("summary"));
        cmd
    }

    pub(crate) fn run(&self, extra: &[&str]) -> Run {
        run(&mut self.command(extra))
    }

    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        parse_outputs(&self.dir.read("output")).into_iter().collect()
    }

    /// AMIs in moto tagged with this test's commit: id -> tags.
    pub(crate) fn amis(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        amis_in("us-east-1", &self.sha)
    }

    /// (default, latest, image of each version) of the launch template, from moto.
    pub(crate) fn template_state(&self) -> (i64, i64, Vec<String>) {
        template_in("us-east-1", &self.lt)
    }
}

/// AMIs in moto in `region` tagged with `sha`: id -> tags.
pub(crate) fn amis_in(region: &str, sha: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    runtime().block_on(async {
        let out = ec2_in(region)
            .describe_images()
            .owners("self")
            .filters(Filter::builder().name("tag:slipway:commit").values(sha).build())
            .send()
            .await
            .unwrap();
        out.images()
            .iter()
            .map(|i| {
                let tags = i
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                    .collect();
                (i.image_id().unwrap().to_string(), tags)
            })
            .collect()
    })
}

/// (default, latest, image of each version) of the launch template `lt` in `region`, from moto.
pub(crate) fn template_in(region: &str, lt: &str) -> (i64, i64, Vec<String>) {
    runtime().block_on(async {
        let c = ec2_in(region);
        let t = c
            .describe_launch_templates()
            .launch_template_names(lt)
            .send()
            .await
            .unwrap();
        let t = &t.launch_templates()[0];
        let versions = c
            .describe_launch_template_versions()
            .launch_template_name(lt)
            .send()
            .await
            .unwrap();
        let mut images: Vec<(i64, String)> = versions
            .launch_template_versions()
            .iter()
            .map(|v| {
                (
                    v.version_number().unwrap(),
                    v.launch_template_data()
                        .and_then(|d| d.image_id())
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        images.sort();
        (
            t.default_version_number().unwrap(),
            t.latest_version_number().unwrap(),
            images.into_iter().map(|(_, i)| i).collect(),
        )
    })
}

/// Creates the launch template `lt` in `region` in moto (version 1: the stock AMI).
pub(crate) fn create_template(region: &str, lt: &str) {
    runtime().block_on(async {
        ec2_in(region)
            .create_launch_template()
            .launch_template_name(lt)
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id("ami-03cf127a")
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await
            .expect("create a launch template in moto");
    });
}

#[test]
fn bake_tags_the_ami_and_puts_it_into_a_new_launch_template_version() {
    let b = Bake::new("happy", "");
    let r = b.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Packer's UI as readable lines inside a group, not the raw CSV.
    assert!(r.stderr.contains("::group::packer build ami.pkr.hcl"), "{}", r.stderr);
    assert!(
        r.stderr.contains("==> amazon-ebs.web: Creating AMI web-"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(",ui,say,"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let out = b.outputs();
    let ami = out["ami-id"].clone();
    assert!(ami.starts_with("ami-"), "{out:?}");
    assert_eq!(out["result"], "baked");
    assert_eq!(out["skipped"], "false");
    assert!(!out.contains_key("ami-id-us-east-1"), "no output per region: {out:?}");
    assert_eq!(out["ami-ids"], format!(r#"{{"us-east-1":"{ami}"}}"#));
    assert!(out["launch-template-id"].starts_with("lt-"), "{out:?}");
    assert_eq!(out["launch-template-version"], "2");

    // The AMI exists in moto with slipway's tags.
    let amis = b.amis();
    assert_eq!(amis.len(), 1, "{amis:?}");
    let tags = &amis[&ami];
    assert_eq!(tags["slipway:commit"], b.sha);
    assert_eq!(tags["slipway:version"], &b.sha[..7]);
    assert_eq!(tags["slipway:environment"], "dev");
    assert_eq!(tags["slipway:build"], "amazon-ebs.web");
    assert_eq!(tags["slipway:run-url"], "https://github.com/octo/web/actions/runs/777");

    // Version 2 is version 1 with the new image; the default is untouched.
    assert_eq!(b.template_state(), (1, 2, vec!["ami-03cf127a".into(), ami.clone()]));
    let summary = b.dir.read("summary");
    assert!(summary.contains(&format!("`{ami}`")), "{summary}");
    assert!(summary.contains("version **2** created (from version 1)"), "{summary}");

    // A rerun for the same commit bakes nothing and reuses version 2; --set-default
    // makes it the default.
    std::fs::remove_file(b.dir.path().join("output")).unwrap();
    let r = b.run(&["--set-default", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("::group::packer build"), "{}", r.stderr);
    assert!(r.stderr.contains("already has an AMI"), "{}", r.stderr);
    let out = b.outputs();
    assert_eq!(out["result"], "skipped");
    assert_eq!(out["skipped"], "true");
    assert_eq!(out["ami-id"], ami);
    assert_eq!(out["launch-template-version"], "2");
    assert_eq!(b.amis().len(), 1);
    assert_eq!(b.template_state(), (2, 2, vec!["ami-03cf127a".into(), ami.clone()]));
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "skipped");
    assert_eq!(json["launch_template"]["version"], 2);
    assert_eq!(json["launch_template"]["created"], false);
    assert_eq!(json["launch_template"]["default"], true);
}

#[test]
fn rebake_builds_again_from_an_explicit_source_version() {
    let b = Bake::new("rebake", "");
    assert_eq!(b.run(&[]).code, 0);
    let r = b.run(&["--rebake", "--source-version", "1", "--var", "suffix=-again"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(b.amis().len(), 2);
    let (default, latest, images) = b.template_state();
    assert_eq!((default, latest), (1, 3));
    assert_ne!(images[1], images[2]);
    assert_eq!(b.outputs()["launch-template-version"], "3");
}

#[test]
fn dry_run_validates_and_builds_nothing() {
    let b = Bake::new("dry", "");
    let r = b.run(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("dry run: would bake web"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("template {} (lt-", b.lt))
            && r.stderr.contains("would get a new version from version 1"),
        "{}",
        r.stderr
    );
    assert!(b.amis().is_empty());
    assert_eq!(b.template_state().1, 1);
    assert_eq!(b.outputs()["result"], "dry-run");
}

#[test]
fn a_template_with_an_error_is_bad_input_in_packers_words() {
    let b = Bake::new("syntax", "  bogus_attribute = 1");
    let r = b.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("packer validate refused ami.pkr.hcl"), "{}", r.stderr);
    assert!(r.stderr.contains("Unsupported argument"), "{}", r.stderr);
    assert_eq!(b.template_state().1, 1);
    assert!(b.amis().is_empty());
}

#[test]
fn a_build_that_fails_midway_exits_1_with_packers_message() {
    let extra = r#"  provisioner "shell-local" {
    inline = ["echo disk full >&2", "exit 3"]
  }"#;
    let b = Bake::new("fails", extra);
    let r = b.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("Script exited with non-zero exit status: 3"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("::error title=packer::==> amazon-ebs.web: disk full"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("::endgroup::"), "{}", r.stderr);
    assert_eq!(b.template_state().1, 1, "no launch template version");
    assert!(b.amis().is_empty());
}

#[test]
fn a_missing_template_path_is_bad_input_in_packers_words() {
    let b = Bake::new("missing", "");
    let r = b.run(&["--template", "nowhere.pkr.hcl"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("packer validate refused nowhere.pkr.hcl"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no such file or directory"), "{}", r.stderr);
    assert_eq!(b.template_state().1, 1);
}

#[test]
fn a_missing_packer_says_how_to_install_one() {
    let b = Bake::new("nopacker", "");
    let r = b.run(&["--packer", "/nonexistent/packer"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("packer is not installed"), "{}", r.stderr);
    assert!(r.stderr.contains("hashicorp/setup-packer"), "{}", r.stderr);
}

#[test]
fn a_missing_launch_template_stops_before_building() {
    let b = Bake::new("nolt", "");
    let r = b.run(&["--launch-template", "no-such-template"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("launch template \"no-such-template\" does not exist"),
        "{}",
        r.stderr
    );
    assert!(b.amis().is_empty());
}

#[test]
fn an_interrupt_stops_packer_which_cleans_up_then_exits_130() {
    let extra = r#"  provisioner "shell-local" {
    inline = ["echo provisioning", "sleep 300"]
  }"#;
    let b = Bake::new("interrupt", extra);
    let mut child = b
        .command(&[])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Interrupt once the provisioner runs (a line Packer prints, not a sleep).
    while !seen.iter().any(|l: &String| l.contains("provisioning")) {
        let line = rx
            .recv_timeout(deadline - Instant::now())
            .expect("packer reaches the provisioner");
        seen.push(line);
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    seen.extend(rx.try_iter());
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(line);
    }
    let text = seen.join("\n");
    // Packer's own words say it stopped the 300s sleep and cleaned up (no clock needed).
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(text.contains("Terminating the source AWS instance"), "{text}");
    assert!(
        text.contains("Cleanly cancelled builds after being interrupted"),
        "{text}"
    );
    assert!(text.contains("interrupted: packer stopped"), "{text}");
    assert_eq!(b.template_state().1, 1);
    assert!(b.amis().is_empty());
}
