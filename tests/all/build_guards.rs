//! slipway-build keeps its promises on the testbed: an image is promoted only when the
//! registry proves it is this commit's (two commits can share a short prefix), a missing
//! digest header is computed, bad input and stops (timeout, SIGINT) leave no repository
//! behind, and ECR credentials go to no host but the registry.

use crate::build::{build, ecr, in_actions, labels, on_ecr, outputs, project, NO_ENGINE, SHA};
use crate::support::containers::containers;
use crate::support::http::{Response, Server};
use crate::support::run;

/// Another commit that shares SHA's short prefix.
const TWIN: &str = "0123456fffffffffffffffffffffffffffffffff";

#[test]
fn a_commit_sharing_the_short_prefix_builds_its_own_image() {
    let repo = "build-twin-commits";
    let c = containers();
    let dir = project(repo, "123456789012");
    let r = in_actions(
        &dir,
        build(&dir, &c.docker_host, &["--environment", "dev", "--create-repository"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = outputs(&dir)["digest"].clone();

    // TWIN's short tag is sha-0123456 too, but that image's revision label says SHA.
    let twin = |extra: &[&str]| {
        let mut args = vec!["--environment", "prod", "--sha", TWIN];
        args.extend_from_slice(extra);
        in_actions(&dir, build(&dir, &c.docker_host, &args))
    };
    let r = twin(&["--dry-run", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "built", "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("was built from commit {SHA}, not {TWIN}")),
        "{}",
        r.stderr
    );

    let r = twin(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["action"], "built");
    assert_ne!(out["digest"], first, "TWIN got its own image");
    let (digest, manifest) = c.manifest(repo, &format!("sha-{TWIN}")).expect("TWIN's full tag");
    assert_eq!(digest, out["digest"]);
    assert_eq!(labels(repo, &manifest)["org.opencontainers.image.revision"], TWIN);
    // SHA's own full tag still names SHA's image: it promotes that one, not TWIN's.
    let r = run(&mut build(
        &dir,
        NO_ENGINE,
        &["--environment", "prod", "--dry-run", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "promoted");
    assert_eq!(json["digest"], first.as_str());
}

#[test]
fn an_image_with_only_the_short_tag_is_promoted_when_its_label_names_the_commit() {
    // An image pushed before full-commit tags existed: `sha-0123456` only.
    let (source, repo) = ("build-label-source", "build-label-only");
    let c = containers();
    let dir = project(source, "123456789012");
    let r = in_actions(
        &dir,
        build(&dir, &c.docker_host, &["--environment", "dev", "--create-repository"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let digest = c.copy_tag(source, "sha-0123456", repo);

    let dir = project(repo, "123456789012");
    let r = run(&mut build(
        &dir,
        NO_ENGINE,
        &["--environment", "prod", "--create-repository", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "promoted");
    assert_eq!(json["digest"], digest.as_str());
    // For the twin commit the label says otherwise: it would build.
    let r = run(&mut build(
        &dir,
        NO_ENGINE,
        &["--environment", "prod", "--sha", TWIN, "--dry-run", "--output", "json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "built");
}

#[test]
fn a_registry_that_omits_the_digest_header_still_gives_the_digest() {
    let repo = "build-no-digest-header";
    let c = containers();
    let dir = project(repo, "123456789012");
    let r = in_actions(
        &dir,
        build(&dir, &c.docker_host, &["--environment", "dev", "--create-repository"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let digest = outputs(&dir)["digest"].clone();
    // The same registry behind a proxy that drops Docker-Content-Digest from its answers.
    let proxy = crate::support::proxy::Proxy::dropping_header(&c.registry, "docker-content-digest");
    let mut cmd = on_ecr(
        &dir,
        NO_ENGINE,
        &[
            "--registry",
            &proxy.endpoint,
            "--environment",
            "prod",
            "--output",
            "json",
        ],
    );
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["action"], "promoted");
    assert_eq!(json["digest"], digest.as_str());
    assert!(
        json["image_uri"].as_str().unwrap().ends_with(&format!("@{digest}")),
        "{json}"
    );
}

#[test]
fn a_missing_engine_exits_2_before_the_repository_is_created() {
    let repo = "build-no-engine-no-repo";
    let dir = project(repo, "123456789012");
    let r = run(&mut on_ecr(
        &dir,
        NO_ENGINE,
        &[
            "--environment",
            "dev",
            "--create-repository",
            "--registry",
            &containers().registry,
        ],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no container engine answers"), "{}", r.stderr);
    let (rt, client) = ecr();
    let found = rt.block_on(client.describe_repositories().repository_names(repo).send());
    assert!(found.is_err(), "the repository was created: {found:?}");
}

#[test]
fn ecr_credentials_go_to_no_token_server_but_the_registry() {
    // A registry that asks for a bearer token from another host, over plain HTTP.
    let tokens = Server::start(|_| Response::new(200, r#"{"token":"t"}"#));
    let realm = format!("{}/token", tokens.url);
    let registry = challenging_registry(format!("Bearer realm=\"{realm}\",service=\"registry\""));
    let dir = project("build-foreign-realm", "123456789012");
    let r = run(&mut on_ecr(
        &dir,
        NO_ENGINE,
        &[
            "--environment",
            "dev",
            "--create-repository",
            "--dry-run",
            "--registry",
            &registry,
        ],
    ));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("asks for a token from http://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("not the registry itself"), "{}", r.stderr);
    assert!(
        tokens.requests().is_empty(),
        "credentials went to the token server: {:?}",
        tokens.requests()
    );
}

/// A registry stand-in that answers every request 401 with `challenge`; returns its URL.
fn challenging_registry(challenge: String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn repository_exists(repo: &str) -> bool {
    let (rt, client) = ecr();
    rt.block_on(client.describe_repositories().repository_names(repo).send())
        .is_ok()
}

#[test]
fn a_timeout_abandons_the_build_and_deletes_the_repository_it_created() {
    let engine = crate::support::stalled_engine::StalledEngine::start();
    let repo = "build-timeout";
    let dir = project(repo, "123456789012");
    let r = run(&mut build(
        &dir,
        &engine.docker_host,
        &["--environment", "dev", "--create-repository", "--timeout", "5s"],
    ));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("timed out (--timeout 5.0s passed)"), "{}", r.stderr);
    if engine.build_started() {
        assert!(
            r.stderr.contains("the build of build-timeout was abandoned"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("deleted again"), "{}", r.stderr);
    }
    assert!(!repository_exists(repo), "the repository it created is left behind");
}

#[test]
fn sigint_abandons_the_build_deletes_the_repository_and_exits_130() {
    let engine = crate::support::stalled_engine::StalledEngine::start();
    let repo = "build-interrupted";
    let dir = project(repo, "123456789012");
    let child = build(
        &dir,
        &engine.docker_host,
        &["--environment", "dev", "--create-repository"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !engine.build_started() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never reached the engine"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(repository_exists(repo), "created before the build");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: stopping and cleaning up"), "{stderr}");
    assert!(stderr.contains("deleted again"), "{stderr}");
    assert!(engine.hung_up(), "the engine's build connection was closed");
    assert!(!repository_exists(repo), "the repository it created is left behind");
}
