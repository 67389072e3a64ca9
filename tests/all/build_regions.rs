//! One artifact everywhere: slipway-build on an environment in three regions (moto's
//! per-region ECR, one docker-registry per region named by each region's ecr.registry,
//! Podman building in the home region) ends with the same digest under the same tags in
//! every region's registry; a rerun copies nothing; a region whose repository is missing
//! stops the job before anything is pushed; a region ECR replication covers is waited
//! for (a stand-in replicator copies the image there), and a replica that never comes
//! times out naming the region.

use std::sync::OnceLock;

use crate::build::{in_actions, outputs, FULL_TAG, NO_ENGINE, SHA};
use crate::support::containers::{another_registry, containers, Containers};
use crate::support::moto::moto;
use crate::support::{bin, run, Dir, Run};

pub(crate) const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// The registries of eu-west-1 and ap-southeast-2 (us-east-1's is the shared one).
fn others() -> &'static [Containers; 2] {
    static OTHERS: OnceLock<[Containers; 2]> = OnceLock::new();
    OTHERS.get_or_init(|| [another_registry(), another_registry()])
}

/// The registry of a region.
pub(crate) fn registry(region: &str) -> &'static Containers {
    match region {
        "us-east-1" => containers(),
        "eu-west-1" => &others()[0],
        _ => &others()[1],
    }
}

/// A project whose prod environment is in the three regions, each with its own registry.
pub(crate) fn project(repo: &str) -> Dir {
    let dir = Dir::new();
    dir.write(
        "slipway.yml",
        &format!(
            "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
             region: us-east-1\n    ecr:\n      repository: {repo}\n      registry: {home}\n    regions:\n      \
             - region: us-east-1\n      - region: eu-west-1\n        ecr: {{registry: \"{eu}\"}}\n      \
             - region: ap-southeast-2\n        ecr: {{registry: \"{ap}\"}}\n",
            home = registry("us-east-1").registry,
            eu = registry("eu-west-1").registry,
            ap = registry("ap-southeast-2").registry,
        ),
    );
    dir.write("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n");
    dir.write("hello.txt", &format!("hello from {repo}\n"));
    dir
}

fn build(dir: &Dir, docker_host: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = bin("slipway-build");
    cmd.current_dir(dir.path())
        .args(["--sha", SHA, "--environment", "prod"])
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd
}

/// An ECR client on moto in `region`, and a runtime to drive it.
fn ecr_in(region: &str) -> (tokio::runtime::Runtime, aws_sdk_ecr::Client) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto().endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    (rt, aws_sdk_ecr::Client::new(&config))
}

fn create_repository(region: &str, repo: &str) {
    let (rt, client) = ecr_in(region);
    rt.block_on(client.create_repository().repository_name(repo).send())
        .unwrap_or_else(|e| panic!("create {repo} in {region}: {e:?}"));
}

fn repository_exists(region: &str, repo: &str) -> bool {
    let (rt, client) = ecr_in(region);
    rt.block_on(client.describe_repositories().repository_names(repo).send())
        .is_ok()
}

fn digest_of(r: &Run) -> String {
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("JSON: {}", r.stdout));
    json["digest"].as_str().expect("a digest").to_string()
}

#[test]
fn one_build_puts_the_same_digest_in_every_region_and_a_rerun_copies_nothing() {
    let repo = "regions-copy";
    for region in REGIONS {
        create_repository(region, repo);
    }
    let dir = project(repo);
    let r = in_actions(
        &dir,
        build(
            &dir,
            &containers().docker_host,
            &["--tag", "latest", "--output", "json"],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let digest = digest_of(&r);
    let tags = ["sha-0123456", FULL_TAG, "0123456", "prod", "latest"];
    // Read back from each region's registry: every tag names the same digest.
    for region in REGIONS {
        for tag in tags {
            let found = registry(region).manifest(repo, tag).map(|m| m.0);
            assert_eq!(found.as_deref(), Some(digest.as_str()), "{region} {tag}");
        }
    }
    let out = outputs(&dir);
    let images: serde_json::Value = serde_json::from_str(&out["images"]).unwrap();
    for region in REGIONS {
        assert_eq!(
            images[region],
            format!("{}/{repo}@{digest}", registry(region).registry),
            "{images}"
        );
    }
    assert_eq!(out["image-uri"], images["us-east-1"].as_str().unwrap());
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let how = hows(&json);
    assert_eq!(how, ["home", "copied", "copied"], "{}", r.stdout);
    // Every byte of the config and the layer was streamed (the registry checked the digests).
    let (_, manifest) = containers().manifest(repo, FULL_TAG).unwrap();
    let size = manifest["config"]["size"].as_u64().unwrap()
        + manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum::<u64>();
    for row in &json["regions"].as_array().unwrap()[1..] {
        assert_eq!(
            (row["blobs"].as_u64(), row["bytes"].as_u64()),
            (Some(2), Some(size)),
            "{row}"
        );
    }
    let summary = dir.read("summary");
    assert!(
        summary.contains("| eu-west-1 |") && summary.contains("| copied |"),
        "{summary}"
    );
    let uploads: Vec<usize> = REGIONS[1..].iter().map(|r| registry(r).blob_uploads(repo)).collect();
    for (region, n) in REGIONS[1..].iter().zip(&uploads) {
        assert!(*n >= 2, "{region}: the copy uploaded a layer and a config ({n})");
    }

    // The same commit again (no engine: a promotion): every region already has it.
    let dir2 = project(repo);
    let r = run(&mut build(&dir2, NO_ENGINE, &["--output", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(digest_of(&r), digest);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let how = hows(&json);
    assert_eq!(how, ["home", "present", "present"], "{}", r.stdout);
    assert!(r.stderr.contains("nothing copied"), "{}", r.stderr);
    let again: Vec<usize> = REGIONS[1..].iter().map(|r| registry(r).blob_uploads(repo)).collect();
    assert_eq!(again, uploads, "the rerun uploaded no blob");

    // A dry run of a new tag says what would move, and moves nothing.
    let r = run(&mut build(
        &dir2,
        NO_ENGINE,
        &["--tag", "v9", "--dry-run", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for row in &json["regions"].as_array().unwrap()[1..] {
        assert_eq!(row["how"], "copied", "one tag to add: {row}");
        assert_eq!(row["blobs"], 0, "{row}");
        assert_eq!(row["tags"], 1, "{row}");
    }
    assert!(
        registry("eu-west-1").manifest(repo, "v9").is_none(),
        "the dry run put no tag"
    );
}

#[test]
fn a_region_without_its_repository_stops_the_job_before_anything_is_pushed() {
    let repo = "regions-missing";
    create_repository("us-east-1", repo);
    create_repository("eu-west-1", repo);
    let dir = project(repo);
    let r = run(&mut build(&dir, &containers().docker_host, &[]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("region ap-southeast-2"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{repo:?} does not exist")), "{}", r.stderr);
    assert_eq!(containers().blob_uploads(repo), 0, "nothing pushed at home");
    assert!(containers().manifest(repo, "sha-0123456").is_none());

    // --create-repository creates it there, and the image arrives.
    let r = run(&mut build(
        &dir,
        &containers().docker_host,
        &["--create-repository", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(repository_exists("ap-southeast-2", repo));
    let digest = digest_of(&r);
    let found = registry("ap-southeast-2").manifest(repo, FULL_TAG).map(|m| m.0);
    assert_eq!(found, Some(digest));
}

/// Stands in for ECR's replication: once the home registry holds `tag`, copies its blobs
/// and manifest into `to` (a test's fake service, polling the home registry).
fn replicate_later(repo: &'static str, tag: &'static str, to: &'static Containers) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let from = containers();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (status, head, body) = loop {
            let answer = from.get(&format!("/v2/{repo}/manifests/{tag}"));
            if answer.0 == 200 {
                break answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the home registry never got {repo}:{tag}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(status, 200);
        let content_type = header(&head, "content-type");
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        blobs.extend(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string()),
        );
        for digest in blobs {
            let (status, _, bytes) = from.get(&format!("/v2/{repo}/blobs/{digest}"));
            assert_eq!(status, 200);
            let (status, head, _) = to.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
            assert_eq!(status, 202, "{head}");
            let location = header(&head, "location");
            let path = location
                .split_once("://")
                .map_or(location.as_str(), |(_, rest)| &rest[rest.find('/').unwrap()..]);
            let (status, head, _) = to.request("PUT", &format!("{path}&digest={digest}"), &[], &bytes);
            assert_eq!(status, 201, "{head}");
        }
        let (status, head, _) = to.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", &content_type)],
            &body,
        );
        assert_eq!(status, 201, "{head}");
    })
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

#[test]
fn a_replicated_region_is_waited_for_and_one_that_never_arrives_times_out_naming_it() {
    // moto's us-east-1 registry replicates `regions-repl*` to eu-west-1.
    let (rt, client) = ecr_in("us-east-1");
    use aws_sdk_ecr::types::{
        ReplicationConfiguration, ReplicationDestination, ReplicationRule, RepositoryFilter, RepositoryFilterType,
    };
    let rule = ReplicationRule::builder()
        .destinations(
            ReplicationDestination::builder()
                .region("eu-west-1")
                .registry_id("123456789012")
                .build()
                .unwrap(),
        )
        .repository_filters(
            RepositoryFilter::builder()
                .filter("regions-repl")
                .filter_type(RepositoryFilterType::PrefixMatch)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    rt.block_on(
        client
            .put_replication_configuration()
            .replication_configuration(ReplicationConfiguration::builder().rules(rule).build().unwrap())
            .send(),
    )
    .expect("moto takes a replication configuration");

    let repo = "regions-replicated";
    create_repository("us-east-1", repo);
    create_repository("ap-southeast-2", repo);
    // No eu-west-1 repository: replication brings it.
    let replicator = replicate_later(repo, FULL_TAG, registry("eu-west-1"));
    let dir = project(repo);
    let r = run(&mut build(&dir, &containers().docker_host, &["--output", "json"]));
    replicator.join().expect("the stand-in replicator copied the image");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let digest = digest_of(&r);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let how = hows(&json);
    assert_eq!(how, ["home", "replicated", "copied"], "{}", r.stdout);
    assert!(r.stderr.contains("is replicated from the home region"), "{}", r.stderr);
    // The replica got the other tags from slipway; its blobs came from the replicator only.
    for tag in ["sha-0123456", "prod"] {
        let found = registry("eu-west-1").manifest(repo, tag).map(|m| m.0);
        assert_eq!(found.as_deref(), Some(digest.as_str()), "eu-west-1 {tag}");
    }
    let replicator_uploads = registry("eu-west-1").blob_uploads(repo);
    assert!(replicator_uploads >= 2);

    // A replica that never comes: exit 3, naming the region, repository and digest.
    let repo = "regions-repl-never";
    create_repository("us-east-1", repo);
    create_repository("ap-southeast-2", repo);
    let dir = project(repo);
    let r = run(&mut build(
        &dir,
        &containers().docker_host,
        &["--replication-timeout", "2s"],
    ));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("region eu-west-1"), "{}", r.stderr);
    assert!(r.stderr.contains("the replica of sha256:"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("/{repo})")), "{}", r.stderr);
    assert!(r.stderr.contains("--replication-timeout"), "{}", r.stderr);
    // The other region got its copy all the same.
    assert!(registry("ap-southeast-2").manifest(repo, FULL_TAG).is_some());

    // The job's --timeout ends the wait too (the replication timeout is 30m here): exit 3.
    let r = run(&mut build(&dir, NO_ENGINE, &["--timeout", "8s"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("--timeout 8.0s passed"), "{}", r.stderr);
}

/// Uploads `bytes` as a blob of `repo` in `to` (POST, then PUT with the digest); returns its digest.
pub(crate) fn upload(to: &Containers, repo: &str, bytes: &[u8]) -> String {
    let digest = slipway::image::registry::digest_of(bytes);
    let (status, head, _) = to.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(status, 202, "{head}");
    let location = header(&head, "location");
    let path = location
        .split_once("://")
        .map_or(location.as_str(), |(_, rest)| &rest[rest.find('/').unwrap()..]);
    let (status, head, _) = to.request("PUT", &format!("{path}&digest={digest}"), &[], bytes);
    assert_eq!(status, 201, "{head}");
    digest
}

/// Puts a manifest's bytes under `reference`; returns the digest the registry reports.
pub(crate) fn put_manifest(to: &Containers, repo: &str, reference: &str, media_type: &str, body: &str) -> String {
    let (status, head, _) = to.request(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        body.as_bytes(),
    );
    assert_eq!(status, 201, "{head}");
    header(&head, "docker-content-digest")
}

#[test]
fn an_index_is_copied_with_its_child_manifests_and_their_blobs() {
    let repo = "regions-index";
    for region in REGIONS {
        create_repository(region, repo);
    }
    // Two platform images (each its own config and layer) under one index, tagged with the
    // full commit in the home registry: slipway promotes it, no engine needed.
    let home = containers();
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","config":{{"Labels":{{"org.opencontainers.image.revision":"{SHA}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let layer = format!("layer for {arch}").into_bytes();
        let (config_digest, layer_digest) = (upload(home, repo, config.as_bytes()), upload(home, repo, &layer));
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let digest = put_manifest(
            home,
            repo,
            &slipway::image::registry::digest_of(body.as_bytes()),
            "application/vnd.oci.image.manifest.v1+json",
            &body,
        );
        children.push((arch, digest, body.len()));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        children
            .iter()
            .map(|(arch, digest, size)| format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let index_digest = put_manifest(home, repo, FULL_TAG, "application/vnd.oci.image.index.v1+json", &index);

    let dir = project(repo);
    let r = run(&mut build(&dir, NO_ENGINE, &["--output", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(digest_of(&r), index_digest);
    for region in &REGIONS[1..] {
        let there = registry(region);
        for tag in [FULL_TAG, "sha-0123456", "prod"] {
            assert_eq!(
                there.manifest(repo, tag).map(|m| m.0),
                Some(index_digest.clone()),
                "{region} {tag}"
            );
        }
        for (arch, digest, _) in &children {
            let (status, head, _) = there.get(&format!("/v2/{repo}/manifests/{digest}"));
            assert_eq!(status, 200, "{region} {arch}: {head}");
        }
        assert_eq!(there.blob_uploads(repo), 4, "{region}: two configs and two layers");
    }
}

#[test]
fn a_failed_copy_names_its_region_and_deletes_the_repository_it_created_there() {
    let repo = "regions-unreachable";
    create_repository("us-east-1", repo);
    create_repository("eu-west-1", repo);
    let dir = project(repo);
    // ap-southeast-2's registry is a port nothing listens on.
    let closed = format!("127.0.0.1:{}", crate::support::moto::free_port());
    let yml = dir
        .read("slipway.yml")
        .replace(&registry("ap-southeast-2").registry, &closed);
    dir.write("slipway.yml", &yml);
    let r = run(&mut build(&dir, &containers().docker_host, &["--create-repository"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("region ap-southeast-2: cannot reach the registry"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("deleted again"), "{}", r.stderr);
    assert!(
        !repository_exists("ap-southeast-2", repo),
        "the repository this run created is gone"
    );
    // The other regions have the image.
    assert!(registry("eu-west-1").manifest(repo, FULL_TAG).is_some());
}

/// How the image got into each region, in the JSON's order.
fn hows(json: &serde_json::Value) -> Vec<&str> {
    json["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["how"].as_str().unwrap())
        .collect()
}
