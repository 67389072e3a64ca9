//! slipway-wait's HTTP probes against local servers the tests start: healthy after a
//! delay, flapping, 500s, the wrong version, connection refused, slow answers, and TLS
//! with an untrusted certificate.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::http::{RefusingPort, Response, Server};
use crate::support::tls::TlsServer;
use crate::support::{bin, run, Dir, Run};

fn wait(args: &[&str]) -> Run {
    run(bin("slipway-wait").args(args))
}

#[test]
fn healthy_after_a_delay_is_noticed_within_an_interval() {
    // Healthy from the fourth request on: the delay is counted in answers, on the
    // server's side, so no clock of the test is compared with the binary's.
    let n = Arc::new(AtomicU32::new(0));
    let server = Server::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) < 3 {
            Response::new(503, "starting")
        } else {
            Response::new(200, r#"{"status":"ok","commit":"89abcde"}"#)
        }
    });
    let url = format!("{}/healthz", server.url);
    let r = wait(&["--url", &url, "--json", "/commit=89abcde", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["outcome"], "healthy");
    // Three refusals, then the two answers in a row it needs, and not one poll more (how
    // soon it notices is the benchmark's business: scripts/bench-wait.sh).
    assert_eq!(report["probes"][0]["polls"], 5, "{report}");
    assert_eq!(server.requests().len(), 5);
    assert!(
        report["probes"][0]["time_to_healthy"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["probes"][0]["detail"].as_str().unwrap().contains("HTTP 200 in"),
        "{report}"
    );
    assert!(
        r.stderr.contains("HTTP 503 (want 200): starting"),
        "progress shows why: {}",
        r.stderr
    );
}

#[test]
fn flapping_never_counts_as_healthy() {
    let n = Arc::new(AtomicU32::new(0));
    let server = Server::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Response::new(200, "ok")
        } else {
            Response::new(502, "bad gateway")
        }
    });
    let r = wait(&["--url", &server.url, "--consecutive", "2", "--timeout", "3s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("timed out after 3.0s"), "{}", r.stderr);
    // The first poll and the one at the deadline at least; none of them was healthy twice.
    assert!(server.requests().len() >= 2, "it kept polling");
}

#[test]
fn a_500_reports_the_status_and_body() {
    let server = Server::start(|_| Response::new(500, r#"{"error":"database unreachable"}"#));
    let r = wait(&["--url", &server.url, "--timeout", "2s", "--output", "json"]);
    assert_eq!(r.code, 3);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["outcome"], "timed_out");
    let detail = report["probes"][0]["detail"].as_str().unwrap();
    assert_eq!(detail, r#"HTTP 500 (want 200): {"error":"database unreachable"}"#);
}

#[test]
fn the_wrong_version_is_named() {
    let server = Server::start(|_| Response::new(200, r#"{"version":"v1.1.0"}"#));
    let r = wait(&["--url", &server.url, "--expect-version", "v1.2.0", "--timeout", "2s"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .contains(r#"serving another version: body lacks "v1.2.0": {"version":"v1.1.0"}"#),
        "{}",
        r.stderr
    );
    let r = wait(&["--url", &server.url, "--json", "/version=v1.2.0", "--timeout", "2s"]);
    assert!(
        r.stderr.contains(r#"/version is "v1.1.0" (want "v1.2.0")"#),
        "{}",
        r.stderr
    );
}

#[test]
fn connection_refused_is_reported_as_such() {
    let refusing = RefusingPort::new();
    let port = refusing.port;
    let url = format!("http://127.0.0.1:{port}/healthz");
    let r = wait(&["--url", &url, "--timeout", "2s"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
}

#[test]
fn slow_answers_fail_the_latency_limit() {
    let server = Server::start(|_| {
        std::thread::sleep(Duration::from_millis(600));
        Response::new(200, "ok")
    });
    let r = wait(&["--url", &server.url, "--max-latency", "200ms", "--timeout", "3s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("slow: answered in"), "{}", r.stderr);
    assert!(r.stderr.contains("(max 200ms)"), "{}", r.stderr);
    // Without the limit the same server is healthy (the default budget: a loaded machine
    // cannot turn this into a timeout).
    let r = wait(&["--url", &server.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn tls_with_an_untrusted_certificate_is_a_tls_error_and_a_ca_fixes_it() {
    let dir = Dir::new();
    let server = TlsServer::start(dir.path());
    let r = wait(&["--url", &server.url, "--timeout", "2s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("TLS error:"), "{}", r.stderr);
    assert!(r.stderr.contains("pass --ca-cert FILE"), "{}", r.stderr);
    let r = wait(&["--url", &server.url, "--ca-cert", server.ca.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn several_probes_must_all_pass_and_the_summary_has_a_row_each() {
    let good = Server::start(|_| Response::new(200, "ok"));
    let bad = Server::start(|_| Response::new(404, "not found"));
    let dir = Dir::new();
    let r = run(bin("slipway-wait")
        .args(["--url", &good.url, "--url", &bad.url, "--timeout", "6s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("GITHUB_OUTPUT", dir.path().join("output")));
    assert_eq!(r.code, 3);
    let summary = dir.read("summary");
    assert!(
        summary.contains("| probe | state | time to healthy | detail |"),
        "{summary}"
    );
    assert!(summary.contains(&format!("| http `{}/` | ok |", good.url)), "{summary}");
    assert!(
        summary.contains(&format!(
            "| http `{}/` | not healthy | - | HTTP 404 (want 200): not found |",
            bad.url
        )),
        "{summary}"
    );
    assert!(dir.read("output").contains("healthy<<"), "outputs written");
    assert!(
        r.stderr.contains("::error title=slipway-wait::timed out after 6.0s"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_input_exits_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--url", "not a url"], "does not parse"),
        (&["--url", "http://x", "--body-regex", "(unclosed"], "does not compile"),
        (&["--url", "http://x", "--json", "version"], "has no `=`"),
        (&["--target-group", "arn:aws:nope"], "is not a target group ARN"),
        (&[], "nothing to wait for"),
        (&["--url", "http://x", "--timeout", "soon"], "is not a duration"),
        (
            &["--url", "http://x", "--timeout", "5"],
            "has no unit: write 5s for seconds or 5m",
        ),
        (&["--url", "http://x", "--interval", "0s"], "is zero"),
        (&["--asg", "web"], "AWS probes need a region"),
    ];
    for (args, needle) in cases {
        let r = wait(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn sigint_interrupts_the_wait_with_exit_130_and_a_report() {
    let server = Server::start(|_| Response::new(503, "starting"));
    let child = bin("slipway-wait")
        .args(["--url", &server.url, "--timeout", "1h", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has polled, then interrupt it like Ctrl-C does.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline, "slipway-wait never polled");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    // 130 and `interrupted`, not 3 and `timed_out`: it stopped before its timeout.
    assert_eq!(out.status.code(), Some(130));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "interrupted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted: stopping and cleaning up"), "{stderr}");
}

#[test]
fn dry_run_lists_the_probes_and_polls_nothing() {
    let server = Server::start(|_| Response::new(200, "ok"));
    let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
    // No region and no credentials: a dry run calls no API.
    let r = wait(&[
        "--url",
        &server.url,
        "--target-group",
        tg,
        "--expect-version",
        "v2",
        "--dry-run",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["outcome"], "planned");
    assert_eq!(report["probes"][0]["polls"], 0);
    assert!(
        report["probes"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("version \"v2\""),
        "{report}"
    );
    assert_eq!(report["probes"][1]["name"], "web");
    assert!(server.requests().is_empty(), "a dry run polls nothing");
}

#[test]
fn credentials_and_tokens_in_urls_are_never_shown() {
    let server = Server::start(|_| Response::new(503, "starting"));
    let addr = server.url.trim_start_matches("http://").to_string();
    let plain = format!("http://deploy:pa55-word@{addr}/health?token=t0ken-value&v=1");
    // The same server spoken to with TLS: the HTTP library's error quotes the URL.
    let tls = format!("https://deploy:pa55-word@{addr}/health?token=t0ken-value");
    let dir = Dir::new();
    let r = run(bin("slipway-wait")
        .args(["--url", &plain, "--url", &tls, "--timeout", "1s", "--output", "json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("GITHUB_OUTPUT", dir.path().join("output")));
    assert_eq!(r.code, 3, "{}", r.stderr);
    // The probe used the real URL.
    let seen = server.requests();
    assert!(seen.iter().any(|q| q.target.contains("token=t0ken-value")), "{seen:?}");
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["probes"][0]["name"],
        format!("http://***@{addr}/health?token=***&v=***")
    );
    let dry = wait(&["--url", &plain, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let bad = wait(&["--url", "http://deploy:pa55-word@[::1/health?token=t0ken-value"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("does not parse"), "{}", bad.stderr);
    let shown = [
        r.stdout,
        r.stderr,
        dir.read("summary"),
        dir.read("output"),
        dry.stderr,
        bad.stderr,
    ];
    for text in shown {
        assert!(!text.contains("pa55-word"), "the password is shown: {text}");
        assert!(!text.contains("t0ken-value"), "the token is shown: {text}");
    }
}

#[test]
fn the_readme_documents_slipway_wait_once_with_the_exit_codes_it_has() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let sections: Vec<&str> = readme
        .split("\n## ")
        .filter(|s| s.starts_with("slipway-wait\n"))
        .collect();
    assert_eq!(sections.len(), 1, "one `## slipway-wait` section");
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (help, section) = (flat(&wait(&["--help"]).stdout), flat(sections[0]));
    for code in ["0 healthy", "1 failed", "2 bad input", "3 timed out", "130 interrupted"] {
        assert!(help.contains(code), "--help lists {code:?}: {help}");
        assert!(section.contains(code), "the README lists {code:?}");
    }
}

#[test]
fn slipway_env_shows_health_urls_without_their_credentials() {
    let dir = Dir::new();
    let config = dir.write(
        "slipway.yml",
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::222222222222:role/deploy\n      \
         region: eu-west-1\n    health:\n      urls:\n        - url: https://deploy:pa55-word@web.example.com/h?token=t0ken-value\n",
    );
    let mut triggers = std::fs::read_to_string(&config).unwrap();
    triggers.push_str("triggers:\n  - event: push\n    branches: [main]\n    environment: stage\n");
    std::fs::write(&config, triggers).unwrap();
    let r = run(bin("slipway-env").args([
        "--config",
        config.to_str().unwrap(),
        "--event",
        "push",
        "--ref",
        "refs/heads/main",
        "--sha",
        "0123456789abcdef0123456789abcdef01234567",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("https://***@web.example.com/h?token=***"),
        "{}",
        r.stderr
    );
    assert!(!r.all_text().contains("pa55-word"), "{}", r.all_text());
    assert!(!r.all_text().contains("t0ken-value"), "{}", r.all_text());
}
