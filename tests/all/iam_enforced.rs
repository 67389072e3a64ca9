//! The policy `slipway-env iam-policy` generates, tested for real: each job runs against
//! moto enforcing IAM with the keys of a role that holds exactly that policy, and gets past
//! every call it makes; the same job with one action taken out of the policy fails with
//! AWS's denial. moto matches actions, not resource ARNs, so Resource is widened to "*"
//! (and conditions dropped); the ARNs' shapes are checked by src/iam.rs's unit tests.
//! moto cannot check AWS's implicit checks (ec2:RunInstances, ec2:CreateTags and
//! iam:PassRole on UpdateAutoScalingGroup with a launch template, iam:PassRole on
//! RegisterTaskDefinition), and has no instance refresh. Blue/green rolls two groups behind
//! a listener with the generated policy, and is denied without ModifyListener.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use serde_json::{json, Value};

use crate::support::moto_iam::{iam_moto, Keys, ACCOUNT};
use crate::support::{bin, run, Dir, Run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn yaml(body: &str) -> String {
    format!(
        "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::{ACCOUNT}:role/deploy\n      region: us-east-1\n{body}"
    )
}

/// The generated permissions policy of `dev`, with Resource "*" and no conditions.
fn generated(config: &Path) -> Value {
    generated_for(config, "dev", &[])
}

/// The generated permissions policy of `environment` (with `more` flags, e.g. `--region`).
fn generated_for(config: &Path, environment: &str, more: &[&str]) -> Value {
    let r = run(bin("slipway-env")
        .arg("iam-policy")
        .arg("--config")
        .arg(config)
        .args(["--environment", environment, "--repository", "octo/web"])
        .args(more));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut policy: Value = serde_json::from_str::<Value>(&r.stdout).unwrap()["permissions_policy"].clone();
    for s in policy["Statement"].as_array_mut().unwrap() {
        s["Resource"] = json!("*");
        s.as_object_mut().unwrap().remove("Condition");
    }
    policy
}

/// `policy` without `action` (which it must hold).
fn without(policy: &Value, action: &str) -> Value {
    let mut p = policy.clone();
    let mut found = false;
    for s in p["Statement"].as_array_mut().unwrap() {
        let actions = s["Action"].as_array_mut().unwrap();
        let before = actions.len();
        actions.retain(|a| a != action);
        found |= actions.len() < before;
    }
    assert!(found, "the generated policy has no {action}");
    p["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| !s["Action"].as_array().unwrap().is_empty());
    p
}

/// A slipway job on a terminal, against the IAM-enforcing moto with `keys`.
fn job(program: &str, dir: &Dir, keys: &Keys) -> Command {
    let mut cmd = bin(program);
    cmd.current_dir(dir.path())
        .env("SLIPWAY_CONFIG", dir.path().join("slipway.yml"))
        .env("AWS_ENDPOINT_URL", &iam_moto().endpoint)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .args(["--sha", SHA]);
    keys.apply(&mut cmd);
    cmd
}

fn denial(r: &Run) -> bool {
    r.stderr.contains("AccessDenied") || r.stderr.contains("not authorized")
}

/// Runs `make` with a role holding the generated policy (it must pass: `ok`), then with
/// one holding the policy without `essential` (it must fail with a denial).
fn full_then_without(name: &str, dir: &Dir, essential: &str, make: impl Fn(&Keys) -> Command, ok: impl Fn(&Run)) {
    let policy = generated(&dir.path().join("slipway.yml"));
    with_and_without(name, policy, essential, make, ok)
}

/// Runs `make` with a role holding `policy` (it must pass: `ok`), then with one holding
/// it without `essential` (it must fail with a denial).
fn with_and_without(name: &str, policy: Value, essential: &str, make: impl Fn(&Keys) -> Command, ok: impl Fn(&Run)) {
    let full = iam_moto().role(&format!("{name}-full"), &policy);
    let r = run(&mut make(&full));
    assert!(
        !denial(&r),
        "{name} with the generated policy was denied a call:\n{}",
        r.stderr
    );
    ok(&r);
    let short = iam_moto().role(&format!("{name}-without"), &without(&policy, essential));
    let r = run(&mut make(&short));
    assert_ne!(r.code, 0, "{name} without {essential} passed:\n{}", r.stderr);
    assert!(
        denial(&r),
        "{name} without {essential} failed, but not on a denial:\n{}",
        r.stderr
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn env_check_credentials_needs_no_permission_beyond_the_role() {
    let dir = Dir::new();
    dir.write("slipway.yml", &yaml("    ecr: { repository: iam-env }\n"));
    let keys = iam_moto().role("iam-env", &generated(&dir.path().join("slipway.yml")));
    let r = run(job("slipway-env", &dir, &keys).args([
        "--check-credentials",
        "--event",
        "workflow_dispatch",
        "--ref",
        "main",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("credentials: arn:aws:sts::{ACCOUNT}:assumed-role/iam-env/")),
        "{}",
        r.stderr
    );
}

#[test]
fn build_promotes_with_the_generated_policy_and_not_without_put_image() {
    let dir = Dir::new();
    dir.write("slipway.yml", &yaml("    ecr: { repository: iam-build }\n"));
    dir.write("Dockerfile", "FROM scratch\n");
    runtime().block_on(async {
        let ecr = aws_sdk_ecr::Client::new(&iam_moto().admin_sdk().await);
        ecr.create_repository()
            .repository_name("iam-build")
            .send()
            .await
            .unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": format!("sha256:{}", "4".repeat(64))
            },
            "layers": []
        });
        // Tagged as a build tags it: the short and the full commit (promotion checks the full one).
        for tag in ["sha-0123456", "sha-0123456789abcdef0123456789abcdef01234567"] {
            ecr.put_image()
                .repository_name("iam-build")
                .image_manifest(manifest.to_string())
                .image_tag(tag)
                .send()
                .await
                .unwrap();
        }
    });
    full_then_without(
        "iam-build",
        &dir,
        "ecr:PutImage",
        |keys| {
            let mut c = job("slipway-build", &dir, keys);
            c.args(["--environment", "dev"])
                .env("DOCKER_HOST", "unix:///nonexistent/slipway-test/podman.sock");
            c
        },
        |r| {
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(r.stderr.contains("promoting it, no build"), "{}", r.stderr);
        },
    );
}

fn packer() -> PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("packer")).find(|p| p.exists()));
    crate::support::require(&found.unwrap_or_else(|| "packer (on PATH)".into()))
}

async fn launch_template(name: &str, versions: usize) {
    let ec2 = aws_sdk_ec2::Client::new(&iam_moto().admin_sdk().await);
    let data = || {
        RequestLaunchTemplateData::builder()
            .image_id("ami-03cf127a")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .build()
    };
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data())
        .send()
        .await
        .unwrap();
    for _ in 1..versions {
        ec2.create_launch_template_version()
            .launch_template_name(name)
            .launch_template_data(data())
            .send()
            .await
            .unwrap();
    }
}

#[test]
fn bake_runs_packer_and_makes_a_version_with_the_generated_policy() {
    let dir = Dir::new();
    dir.write(
        "slipway.yml",
        &yaml("    asg: { name: iam-bake, launch_template: iam-bake }\n"),
    );
    dir.write(
        "ami.pkr.hcl",
        &format!(
            "source \"amazon-ebs\" \"web\" {{\n  region = \"us-east-1\"\n  source_ami = \"ami-03cf127a\"\n  \
             instance_type = \"t3.micro\"\n  ami_name = \"iam-bake-{{{{timestamp}}}}\"\n  communicator = \"none\"\n  \
             custom_endpoint_ec2 = \"{}\"\n  skip_metadata_api_check = true\n  skip_credential_validation = true\n  \
             skip_region_validation = true\n}}\nbuild {{\n  sources = [\"source.amazon-ebs.web\"]\n}}\n",
            iam_moto().endpoint
        ),
    );
    runtime().block_on(launch_template("iam-bake", 1));
    // moto fails to verify the signature of a form body with spaces and parentheses (the
    // version's description), which AWS accepts: CreateLaunchTemplateVersion then ends in
    // AuthFailure, not a denial. Every call before it (Packer's and slipway's) is checked.
    // Without the launch template reads slipway stops before Packer runs.
    full_then_without(
        "iam-bake",
        &dir,
        "ec2:DescribeLaunchTemplates",
        |keys| {
            let mut c = job("slipway-bake", &dir, keys);
            c.args(["--environment", "dev", "--template", "ami.pkr.hcl", "--rebake"])
                .env("SLIPWAY_PACKER", packer())
                .env("AWS_EC2_METADATA_DISABLED", "true");
            c
        },
        |r| {
            assert!(r.stderr.contains("AMIs were created"), "{}", r.stderr);
            let moto_signature = "CreateLaunchTemplateVersion failed: AuthFailure: AWS was not able to validate";
            assert!(r.code == 0 || r.stderr.contains(moto_signature), "{}", r.stderr);
        },
    );
}

/// An Auto Scaling group on version 1 of its launch template (which has a version 2), in a
/// target group; returns the target group's ARN.
async fn group(name: &str) -> String {
    launch_template(name, 2).await;
    let config = iam_moto().admin_sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vpc = ec2.describe_vpcs().send().await.unwrap().vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let tg = elb
        .create_target_group()
        .name(name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    let tg = tg.target_groups()[0].target_group_arn().unwrap().to_string();
    aws_sdk_autoscaling::Client::new(&config)
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(name)
                .version("1")
                .build(),
        )
        .min_size(1)
        .max_size(2)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .target_group_arns(&tg)
        .health_check_type("ELB")
        .send()
        .await
        .unwrap();
    tg
}

fn asg_yaml(name: &str, tg: &str) -> String {
    yaml(&format!(
        "    asg: {{ name: {name}, launch_template: {name} }}\n    health:\n      target_groups: [\"{tg}\"]\n"
    ))
}

#[test]
fn roll_surge_with_the_generated_policy_and_not_without_update_group() {
    for (name, missing) in [
        ("iam-roll-a", None),
        ("iam-roll-b", Some("autoscaling:UpdateAutoScalingGroup")),
    ] {
        let tg = runtime().block_on(group(name));
        let dir = Dir::new();
        dir.write("slipway.yml", &asg_yaml(name, &tg));
        let mut policy = generated(&dir.path().join("slipway.yml"));
        if let Some(action) = missing {
            policy = without(&policy, action);
        }
        let keys = iam_moto().role(name, &policy);
        let r = run(job("slipway-roll", &dir, &keys).args([
            "--environment",
            "dev",
            "--launch-template-version",
            "2",
            "--poll-interval",
            "1s",
            "--timeout",
            "60s",
        ]));
        match missing {
            None => {
                assert!(!denial(&r), "{}", r.stderr);
                assert_eq!(r.code, 0, "{}", r.stderr);
            }
            Some(action) => {
                assert_ne!(r.code, 0, "without {action}: {}", r.stderr);
                assert!(denial(&r), "without {action}: {}", r.stderr);
            }
        }
    }
}

#[test]
fn wait_with_the_generated_policy_and_not_without_target_health() {
    for (name, missing) in [
        ("iam-wait-a", None),
        ("iam-wait-b", Some("elasticloadbalancing:DescribeTargetHealth")),
    ] {
        let tg = runtime().block_on(group(name));
        let dir = Dir::new();
        dir.write("slipway.yml", &asg_yaml(name, &tg));
        let mut policy = generated(&dir.path().join("slipway.yml"));
        if let Some(action) = missing {
            policy = without(&policy, action);
        }
        let keys = iam_moto().role(name, &policy);
        let r = run(job("slipway-wait", &dir, &keys).args([
            "--environment",
            "dev",
            "--aws-interval",
            "1s",
            "--timeout",
            "20s",
        ]));
        match missing {
            None => assert_eq!(r.code, 0, "{}", r.stderr),
            Some(action) => {
                assert_eq!(r.code, 1, "without {action}: denied is not pending: {}", r.stderr);
                assert!(denial(&r), "without {action}: {}", r.stderr);
            }
        }
    }
}

#[test]
fn roll_ecs_with_the_generated_policy_and_not_without_register() {
    for (cluster, missing) in [("iam-ecs-a", None), ("iam-ecs-b", Some("ecs:RegisterTaskDefinition"))] {
        runtime().block_on(async {
            let ecs = aws_sdk_ecs::Client::new(&iam_moto().admin_sdk().await);
            ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
            let container = aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("registry.example/web:1")
                .memory(256)
                .build();
            ecs.register_task_definition()
                .family(cluster)
                .container_definitions(container)
                .send()
                .await
                .unwrap();
            ecs.create_service()
                .cluster(cluster)
                .service_name("web")
                .task_definition(format!("{cluster}:1"))
                .desired_count(1)
                .send()
                .await
                .unwrap();
        });
        let dir = Dir::new();
        dir.write(
            "slipway.yml",
            &yaml(&format!(
                "    ecs: {{ cluster: {cluster}, service: web, container: app }}\n"
            )),
        );
        let mut policy = generated(&dir.path().join("slipway.yml"));
        if let Some(action) = missing {
            policy = without(&policy, action);
        }
        let keys = iam_moto().role(cluster, &policy);
        let r = run(job("slipway-roll", &dir, &keys).args([
            "--environment",
            "dev",
            "--image",
            "registry.example/web:2",
            "--poll-interval",
            "1s",
            "--timeout",
            "3s",
            // moto's deployments never settle: the rollback's wait is cut short too.
            "--cleanup-timeout",
            "3s",
            "--output",
            "json",
        ]));
        match missing {
            None => {
                // moto's deployments never finish: the roll times out and points the service
                // back, having made every call of a roll (register, update, describe, update back).
                assert!(!denial(&r), "{}", r.stderr);
                let json: Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
                assert!(
                    json["new_task_definition"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with(&format!("{cluster}:2")),
                    "{json}"
                );
                assert!(
                    json["cleanup"][0]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&format!("service pointed back at {cluster}:1")),
                    "{json}"
                );
            }
            Some(action) => {
                assert_ne!(r.code, 0, "without {action}: {}", r.stderr);
                assert!(denial(&r), "without {action}: {}", r.stderr);
                // A denial (here a 403 whose XML body the JSON client cannot read) is not retried.
                assert!(
                    !r.stderr.contains("not done after"),
                    "without {action}: retried: {}",
                    r.stderr
                );
                assert!(r.stderr.contains("nothing had been changed"), "{}", r.stderr);
            }
        }
    }
}

#[test]
fn roll_blue_green_with_the_generated_policy_and_not_without_modify_listener() {
    for (name, missing) in [
        ("iam-bg-a", None),
        ("iam-bg-b", Some("elasticloadbalancing:ModifyListener")),
    ] {
        let rt = runtime();
        let config = rt.block_on(iam_moto().admin_sdk());
        let p = rt.block_on(crate::bluegreen_moto::pair_on(&config, name, 1, true));
        let dir = Dir::new();
        dir.write(
            "slipway.yml",
            &yaml(&format!(
                "    asg:\n      strategy: blue_green\n      groups: [{}, {}]\n      launch_template: {name}\n      listener: {}\n      steps: [50, 100]\n      step_bake: 1s\n",
                p.groups[0], p.groups[1], p.listener
            )),
        );
        let mut policy = generated(&dir.path().join("slipway.yml"));
        if let Some(action) = missing {
            policy = without(&policy, action);
        }
        let keys = iam_moto().role(name, &policy);
        let r = run(job("slipway-roll", &dir, &keys).args([
            "--environment",
            "dev",
            "--launch-template-version",
            "2",
            "--poll-interval",
            "1s",
            "--timeout",
            "60s",
        ]));
        match missing {
            None => {
                assert!(!denial(&r), "{}", r.stderr);
                assert_eq!(r.code, 0, "{}", r.stderr);
            }
            Some(action) => {
                assert_ne!(r.code, 0, "without {action}: {}", r.stderr);
                assert!(denial(&r), "without {action}: {}", r.stderr);
            }
        }
    }
}

/// slipway-build over three regions (one role here: moto has one account) with the home
/// region's generated policy, which every region's policy is part of; denied without
/// DescribeRegistry (the replication rules are read before anything is pushed).
#[test]
fn build_across_regions_with_the_generated_policy_and_not_without_describe_registry() {
    use crate::build_regions::{project, put_manifest, registry, upload, REGIONS};
    let repo = "iam-regions";
    runtime().block_on(async {
        let admin = iam_moto().admin_sdk().await;
        for region in REGIONS {
            let config = aws_sdk_ecr::config::Builder::from(&admin)
                .region(aws_config::Region::new(region))
                .build();
            aws_sdk_ecr::Client::from_conf(config)
                .create_repository()
                .repository_name(repo)
                .send()
                .await
                .unwrap();
        }
    });
    // This commit's image in the home registry: the build promotes it, then copies it.
    let home = registry("us-east-1");
    let config = format!(r#"{{"config":{{"Labels":{{"org.opencontainers.image.revision":"{SHA}"}}}}}}"#);
    let config_digest = upload(home, repo, config.as_bytes());
    let layer_digest = upload(home, repo, b"iam layer");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":9}}]}}"#,
        config.len()
    );
    put_manifest(
        home,
        repo,
        &format!("sha-{SHA}"),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let dir = project(repo);
    let policy = generated_for(&dir.path().join("slipway.yml"), "prod", &["--region", "us-east-1"]);
    with_and_without(
        "iam-regions",
        policy,
        "ecr:DescribeRegistry",
        |keys| {
            let mut c = job("slipway-build", &dir, keys);
            c.args(["--environment", "prod", "--output", "json"])
                .env("DOCKER_HOST", "unix:///nonexistent/slipway-test/podman.sock");
            c
        },
        |r| {
            assert_eq!(r.code, 0, "{}", r.stderr);
            let json: Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(json["regions"].as_array().map(Vec::len), Some(3), "{}", r.stdout);
        },
    );
}
