//! slipway-build end to end: Podman's API service builds, docker-registry (htpasswd with
//! moto's ECR token) stores, moto answers ECR. Build once, promote without building, and
//! every refusal: clear message, exit code, nothing pushed.

use std::process::Command;

use crate::support::containers::{containers, ECR_PASSWORD};
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::{bin, run, Dir, Run};
use slipway::github::files::parse_outputs;

pub(crate) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
pub(crate) const FULL_TAG: &str = "sha-0123456789abcdef0123456789abcdef01234567";
pub(crate) const NO_ENGINE: &str = "unix:///nonexistent/slipway-test/podman.sock";

/// A project whose dev and prod environments push to `repo`.
pub(crate) fn project(repo: &str, account: &str) -> Dir {
    let dir = Dir::new();
    let env = |name: &str| {
        format!(
            "  {name}:\n    aws:\n      role_arn: arn:aws:iam::{account}:role/deploy\n      region: us-east-1\n    \
             ecr:\n      repository: {repo}\n"
        )
    };
    dir.write(
        "slipway.yml",
        &format!("app: web\nenvironments:\n{}{}", env("dev"), env("prod")),
    );
    dir.write("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n");
    dir.write("hello.txt", "hello from slipway\n");
    dir.write(".dockerignore", "*.log\n");
    dir.write("debug.log", "not in the image\n");
    dir
}

/// slipway-build in `dir` against moto and the testbed's registry and engine.
pub(crate) fn build(dir: &Dir, docker_host: &str, args: &[&str]) -> Command {
    let registry = containers().registry.clone();
    let mut all = vec!["--registry", &registry];
    all.extend_from_slice(args);
    on_ecr(dir, docker_host, &all)
}

/// slipway-build in `dir` against moto's ECR only (the registry host moto names does not exist).
pub(crate) fn on_ecr(dir: &Dir, docker_host: &str, args: &[&str]) -> Command {
    let mut cmd = bin("slipway-build");
    if !args.contains(&"--sha") {
        cmd.args(["--sha", SHA]);
    }
    cmd.current_dir(dir.path())
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd
}

/// Runs as a GitHub Actions step: OIDC credentials for the role from a local token endpoint.
pub(crate) fn in_actions(dir: &Dir, mut cmd: Command) -> Run {
    let github = Server::start(|_| Response::new(200, r#"{"value":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#));
    cmd.env("GITHUB_ACTIONS", "true")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/token", github.url))
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        .env("GITHUB_REPOSITORY", "octo/web")
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"));
    run(&mut cmd)
}

pub(crate) fn outputs(dir: &Dir) -> std::collections::BTreeMap<String, String> {
    parse_outputs(&dir.read("output")).into_iter().collect()
}

pub(crate) fn labels(repo: &str, manifest: &serde_json::Value) -> serde_json::Value {
    let config = manifest["config"]["digest"].as_str().expect("a config digest");
    let (status, _, body) = containers().get(&format!("/v2/{repo}/blobs/{config}"));
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
    config["config"]["Labels"].clone()
}

#[test]
fn builds_pushes_then_promotes_the_same_manifest_without_building() {
    let repo = "build-e2e";
    let c = containers();
    let dir = project(repo, "123456789012");
    let r = in_actions(
        &dir,
        build(
            &dir,
            &c.docker_host,
            &["--environment", "dev", "--create-repository", "--tag", "latest"],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["action"], "built");
    let digest = out["digest"].clone();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(out["image-uri"], format!("{}/{repo}@{digest}", c.registry));
    assert_eq!(
        out["images"],
        serde_json::json!({"us-east-1": out["image-uri"]}).to_string(),
        "one region: the images output names it"
    );
    assert_eq!(out["tags"], format!("sha-0123456,{FULL_TAG},0123456,dev,latest"));
    assert!(r.stderr.contains("::group::build "), "{}", r.stderr);
    assert!(r.stderr.contains("::endgroup::"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("::add-mask::{ECR_PASSWORD}")),
        "{}",
        r.stderr
    );
    assert!(
        dir.read("summary").contains("| action | built |"),
        "{}",
        dir.read("summary")
    );

    // Every tag is in the registry and points at the same manifest, with the OCI labels.
    for tag in ["sha-0123456", FULL_TAG, "0123456", "dev", "latest"] {
        let (d, _) = c.manifest(repo, tag).unwrap_or_else(|| panic!("tag {tag} is missing"));
        assert_eq!(d, digest, "tag {tag}");
    }
    let (_, manifest) = c.manifest(repo, "sha-0123456").unwrap();
    let l = labels(repo, &manifest);
    assert_eq!(l["org.opencontainers.image.revision"], SHA);
    assert_eq!(l["org.opencontainers.image.source"], "https://github.com/octo/web");
    assert_eq!(l["org.opencontainers.image.version"], "0123456");
    assert!(l["org.opencontainers.image.created"].as_str().unwrap().ends_with('Z'));
    // .dockerignore kept debug.log out: the image has one layer holding hello.txt only.
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    let uploads = c.blob_uploads(repo);
    assert!(uploads >= 2, "the build pushed a layer and a config ({uploads})");

    // A tag push to prod for the same commit: no engine at all, so no build and no push
    // of layers can happen; the prod tags are added to the same manifest.
    let dir2 = project(repo, "123456789012");
    let r = in_actions(
        &dir2,
        build(
            &dir2,
            NO_ENGINE,
            &["--environment", "prod", "--app-version", "v1.2.0", "--output", "json"],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["action"], "promoted");
    assert_eq!(json["digest"], digest.as_str());
    assert_eq!(
        json["tags"],
        serde_json::json!(["sha-0123456", FULL_TAG, "v1.2.0", "prod"])
    );
    assert_eq!(outputs(&dir2)["action"], "promoted");
    assert!(!r.stderr.contains("STEP"), "no build output: {}", r.stderr);
    for tag in ["v1.2.0", "prod"] {
        assert_eq!(c.manifest(repo, tag).map(|m| m.0), Some(digest.clone()), "tag {tag}");
    }
    assert_eq!(c.blob_uploads(repo), uploads, "promoting uploaded no blob");

    // --rebuild insists on building, so without an engine it says how to start one.
    let r = run(&mut build(&dir2, NO_ENGINE, &["--environment", "prod", "--rebuild"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("podman system service"), "{}", r.stderr);
}

#[test]
fn dry_run_decides_and_touches_nothing() {
    let repo = "build-dry-run";
    let c = containers();
    let dir = project(repo, "123456789012");
    let r = in_actions(
        &dir,
        build(
            &dir,
            NO_ENGINE,
            &[
                "--environment",
                "dev",
                "--create-repository",
                "--dry-run",
                "--output",
                "json",
            ],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["action"], "built");
    assert_eq!(json["created_repository"], true);
    assert_eq!(json["repository_uri"], format!("{}/{repo}", c.registry));
    assert_eq!(outputs(&dir)["dry-run"], "true");
    // The repository was not created: without the flag it is still missing.
    let r = run(&mut build(&dir, NO_ENGINE, &["--environment", "dev", "--dry-run"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert_eq!(c.blob_uploads(repo), 0);
}

#[test]
fn a_failed_step_fails_the_job_with_its_error_as_the_annotation() {
    let repo = "build-failing-step";
    let dir = project(repo, "123456789012");
    dir.write("Dockerfile", "FROM scratch\nCOPY missing.txt /missing.txt\n");
    let r = in_actions(
        &dir,
        build(
            &dir,
            &containers().docker_host,
            &["--environment", "dev", "--create-repository"],
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let annotation = r
        .stderr
        .lines()
        .find(|l| l.starts_with("::error"))
        .expect("an annotation");
    assert!(annotation.contains("the build failed at STEP 2/"), "{annotation}");
    assert!(annotation.contains("missing.txt"), "{annotation}");
    assert!(containers().manifest(repo, "sha-0123456").is_none());
}

#[test]
fn a_wrong_token_fails_with_the_registrys_message() {
    // Credentials for another account get that account's ECR token, which this
    // registry's htpasswd does not accept.
    let repo = "build-wrong-token";
    let dir = project(repo, "210987654321");
    let cmd = build(
        &dir,
        &containers().docker_host,
        &["--environment", "dev", "--create-repository"],
    );
    let r = in_actions(&dir, cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("refused the ECR credentials: unauthorized: authentication required"),
        "{}",
        r.stderr
    );
    for line in r.all_text().lines().filter(|l| l.contains("210987654321-auth-token")) {
        assert!(
            line.starts_with("::add-mask::"),
            "the password is only ever masked: {line}"
        );
    }
    assert_eq!(containers().blob_uploads(repo), 0);
}

#[test]
fn bad_input_exits_2_with_a_clear_message_and_pushes_nothing() {
    let repo = "build-bad-input";
    let c = containers();
    let dir = project(repo, "123456789012");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "no engine",
            vec!["--create-repository"],
            "no container engine answers at DOCKER_HOST",
        ),
        (
            "build arg",
            vec!["--build-arg", "NOPE"],
            "--build-arg \"NOPE\" is not KEY=VALUE",
        ),
        (
            "tag",
            vec!["--tag", "bad tag!"],
            "--tag \"bad tag!\" is not a valid image tag",
        ),
        (
            "no repository",
            vec![],
            "ECR repository \"build-bad-input-missing\" does not exist",
        ),
        (
            "dockerfile",
            vec!["--file", "nowhere/Dockerfile"],
            "Dockerfile nowhere/Dockerfile not found",
        ),
    ];
    for (name, args, message) in cases {
        let host = if name == "no engine" { NO_ENGINE } else { &c.docker_host };
        let mut cmd = build(&dir, host, &["--environment", "dev"]);
        cmd.args(&args);
        if name == "no repository" {
            cmd.args(["--repository", "build-bad-input-missing"]);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{name}: {}", r.stderr);
        assert!(r.stderr.contains("help: "), "{name}: {}", r.stderr);
    }
    assert_eq!(c.blob_uploads(repo), 0);
    assert!(c.manifest(repo, "sha-0123456").is_none());
}

/// An ECR client on moto, and a runtime to drive it.
pub(crate) fn ecr() -> (tokio::runtime::Runtime, aws_sdk_ecr::Client) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto().endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    (rt, aws_sdk_ecr::Client::new(&config))
}

#[test]
fn on_ecr_a_promotion_is_batch_get_image_and_put_image_of_the_same_bytes() {
    let repo = "build-ecr-promote";
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}"#;
    let (rt, client) = ecr();
    let digest = rt.block_on(async {
        client.create_repository().repository_name(repo).send().await.unwrap();
        let out = client
            .put_image()
            .repository_name(repo)
            .image_tag("sha-0123456")
            .image_manifest(manifest)
            .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
            .send()
            .await
            .unwrap();
        out.image()
            .unwrap()
            .image_id()
            .unwrap()
            .image_digest()
            .unwrap()
            .to_string()
    });
    let dir = project(repo, "123456789012");
    // Only `sha-0123456`: ECR's API cannot show the image's labels, so nothing proves the
    // image is this commit's (it may be a commit sharing the prefix): it would build.
    let r = run(&mut on_ecr(
        &dir,
        NO_ENGINE,
        &["--environment", "prod", "--dry-run", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "built", "{}", r.stderr);
    assert!(r.stderr.contains("neither a tag sha-0123456789abcdef"), "{}", r.stderr);
    // The full commit's tag proves it.
    rt.block_on(async {
        client
            .put_image()
            .repository_name(repo)
            .image_tag(FULL_TAG)
            .image_manifest(manifest)
            .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
            .send()
            .await
            .unwrap()
    });
    for _ in 0..2 {
        // Twice: the second promotion finds the tags already in place, which is fine.
        let r = run(&mut on_ecr(
            &dir,
            NO_ENGINE,
            &["--environment", "prod", "--app-version", "v2.0.0", "--output", "json"],
        ));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(json["action"], "promoted");
        assert_eq!(
            json["image_uri"],
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}@{digest}")
        );
    }
    for tag in ["v2.0.0", "prod"] {
        let image = rt.block_on(async {
            client
                .batch_get_image()
                .repository_name(repo)
                .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build())
                .send()
                .await
                .unwrap()
        });
        let image = &image.images()[0];
        assert_eq!(
            image.image_id().unwrap().image_digest(),
            Some(digest.as_str()),
            "tag {tag}"
        );
        assert_eq!(image.image_manifest(), Some(manifest), "tag {tag}: the same bytes");
    }
}

/// A build that outlasts its ECR login: moto's GetAuthorizationToken answers (through the
/// proxy) with a login ending in 10 minutes, so after the build the push renews it (one
/// more GetAuthorizationToken, masked like the first) and pushes with the new one.
#[test]
fn a_login_ending_within_the_hour_is_renewed_before_the_push() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let repo = "build-renew";
    let c = containers();
    let proxy = crate::support::proxy::Proxy::start(&moto().endpoint, 0.0, 31);
    let expires = regex::Regex::new(r#""expiresAt":\s*[0-9.e+]+"#).unwrap();
    proxy.rewrite("GetAuthorizationToken", move |body| {
        let soon = (SystemTime::now() + Duration::from_secs(600))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        expires.replace(body, format!(r#""expiresAt": {soon}"#)).into_owned()
    });
    let dir = project(repo, "123456789012");
    let mut cmd = build(&dir, &c.docker_host, &["--environment", "dev", "--create-repository"]);
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let r = in_actions(&dir, cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(proxy.count("GetAuthorizationToken"), 2, "{:?}", proxy.calls());
    assert!(r.stderr.contains("renewed the ECR login"), "{}", r.stderr);
    let masks = r.stderr.matches(&format!("::add-mask::{ECR_PASSWORD}")).count();
    assert_eq!(masks, 2, "both logins masked: {}", r.stderr);
    assert!(c.manifest(repo, FULL_TAG).is_some(), "pushed with the renewed login");
}
