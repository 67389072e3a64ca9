//! slipway-roll against moto behind the recording proxy: the ECS register -> update ->
//! rollback calls for a real (moto) service, --dry-run and --plan-out making no mutating
//! call, apply refusing after drift, bad input changing nothing, and every flow (ECS and
//! the ASG surge) completing with 30% of calls throttled, no mutation reaching moto twice.
//! The tests read what reached moto (the proxy's log), not what the code says it sent.
//!
//! moto's ECS deployments never progress, so an ECS roll there cannot succeed: a short
//! --timeout drives it to the rollback path, which is what these tests check.

use crate::ecs_wire::{config as ecs_config, service};
use crate::roll_moto::{group, state};
use crate::support::moto::moto;
use crate::support::proxy::Proxy;
use crate::support::{bin, run, Dir, Run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const IMAGE: &str = "registry.example/web@sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn ecs_yaml(cluster: &str, service: &str, container: &str) -> String {
    format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecs:\n      cluster: {cluster}\n      service: {service}\n      container: {container}\n"
    )
}

fn roll(dir: &Dir, yaml: &str, endpoint: &str, extra: &[&str]) -> Run {
    let mut cmd = bin("slipway-roll");
    if !extra.contains(&"--timeout") {
        // moto's deployments never settle: the rollback's wait is cut short too.
        cmd.args(["--timeout", "3s", "--cleanup-timeout", "3s"]);
    }
    cmd.args(["--environment", "stage", "--sha", SHA, "--poll-interval", "1s"])
        .arg("--config")
        .arg(dir.write("slipway.yml", yaml))
        .args(extra)
        .envs(crate::support::moto::moto_env(endpoint, dir));
    run(&mut cmd)
}

async fn service_task_definition(cluster: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&ecs_config(&moto().endpoint).await);
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap();
    out.services()[0].task_definition().unwrap().to_string()
}

/// The ECS flow through slipway-roll: register, update, then (never stable in moto) the
/// rollback's UpdateService; the service ends on revision 1 again.
fn ecs_rollback_through(cluster: &str, family: &str, fault_share: f64, seed: u64) -> Proxy {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service(cluster, family));
    let proxy = Proxy::start(&moto().endpoint, fault_share, seed);
    let dir = Dir::new();
    let r = roll(
        &dir,
        &ecs_yaml(cluster, "web", "app"),
        &proxy.endpoint,
        &["--image", IMAGE, "--env", "VERSION=2", "--output", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert!(
        json["previous_task_definition"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{family}:1")),
        "{json}"
    );
    assert!(
        json["new_task_definition"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{family}:2")),
        "{json}"
    );
    assert!(
        json["cleanup"][0]
            .as_str()
            .unwrap()
            .contains(&format!("service pointed back at {family}:1")),
        "{json}"
    );
    assert!(
        r.stderr.contains("left to do by hand: point service web back at"),
        "{}",
        r.stderr
    );
    assert_eq!(
        proxy.mutations(),
        ["RegisterTaskDefinition", "UpdateService", "UpdateService"],
        "{:?}",
        proxy.calls()
    );
    assert!(rt
        .block_on(service_task_definition(cluster))
        .ends_with(&format!("{family}:1")));
    proxy
}

#[test]
fn ecs_register_update_and_rollback_reach_moto_in_order() {
    let proxy = ecs_rollback_through("roll-ecs", "roll-ecs-web", 0.0, 1);
    assert_eq!(proxy.faults(), 0);
}

#[test]
fn ecs_with_thirty_percent_faults_sends_each_mutation_once() {
    let proxy = ecs_rollback_through("roll-ecs-faults", "roll-ecs-faults-web", 0.3, 5);
    assert!(proxy.faults() > 0, "the proxy did throttle: {:?}", proxy.calls());
}

#[test]
fn dry_run_and_plan_out_make_no_mutating_call_and_apply_refuses_after_drift() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service("roll-ecs-plan", "roll-ecs-plan-web"));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 2);
    let dir = Dir::new();
    let yaml = ecs_yaml("roll-ecs-plan", "web", "app");
    let r = roll(&dir, &yaml, &proxy.endpoint, &["--image", IMAGE, "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1. register roll-ecs-plan-web:2 from revision 1 with container app image"),
        "{}",
        r.stderr
    );
    let plan = dir.path().join("plan.json");
    let r = roll(
        &dir,
        &yaml,
        &proxy.endpoint,
        &["--image", IMAGE, "--plan-out", plan.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(proxy.calls().iter().any(|c| c.action == "DescribeServices"));
    assert_eq!(
        proxy.mutations(),
        Vec::<String>::new(),
        "dry run and plan change nothing"
    );

    // Another deploy registers a newer revision before the plan is applied.
    let ecs = aws_sdk_ecs::Client::new(&rt.block_on(ecs_config(&moto().endpoint)));
    rt.block_on(
        ecs.register_task_definition()
            .family("roll-ecs-plan-web")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("registry.example/web:other")
                    .memory(256)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let r = roll(&dir, &yaml, &proxy.endpoint, &["--apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for text in [
        "ECS service web no longer matches the plan: a newer task definition exists: roll-ecs-plan-web:2",
        "latest_revision: planned 1, now 2",
        "help: the cloud changed since the plan was made",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    assert_eq!(
        proxy.mutations(),
        Vec::<String>::new(),
        "apply refused before changing anything"
    );
}

#[test]
fn bad_input_against_moto_exits_2_and_changes_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service("roll-ecs-bad", "roll-ecs-bad-web"));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 3);
    let dir = Dir::new();
    let not_a_plan = dir.write("not-a-plan.json", "{\"steps\": []}\n");
    let cases: [(&str, &str, &str, Vec<&str>, &str); 5] = [
        (
            "no-such-cluster",
            "web",
            "app",
            vec!["--image", IMAGE],
            "no ECS service \"web\" in cluster \"no-such-cluster\"",
        ),
        (
            "roll-ecs-bad",
            "nope",
            "app",
            vec!["--image", IMAGE],
            "no ECS service \"nope\" in cluster \"roll-ecs-bad\"",
        ),
        (
            "roll-ecs-bad",
            "web",
            "nope",
            vec!["--image", IMAGE],
            "has no container \"nope\" (it has app, log)",
        ),
        (
            "roll-ecs-bad",
            "web",
            "app",
            vec!["--image", "Registry.Example/WEB:"],
            "is not an image reference",
        ),
        (
            "roll-ecs-bad",
            "web",
            "app",
            vec!["--apply", not_a_plan.to_str().unwrap()],
            "is not a slipway plan: it has no slipway_plan field",
        ),
    ];
    for (cluster, svc, container, extra, message) in cases {
        let r = roll(&dir, &ecs_yaml(cluster, svc, container), &proxy.endpoint, &extra);
        assert_eq!(r.code, 2, "{message}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{message:?} missing:\n{}", r.stderr);
        assert!(r.stderr.contains("help:"), "{}", r.stderr);
    }
    assert_eq!(proxy.mutations(), Vec::<String>::new(), "nothing changed");
    assert!(rt
        .block_on(service_task_definition("roll-ecs-bad"))
        .ends_with("roll-ecs-bad-web:1"));
}

fn asg_yaml(name: &str) -> String {
    format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n"
    )
}

#[test]
fn asg_surge_with_thirty_percent_faults_completes_and_sends_each_mutation_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut sequences = Vec::new();
    for (name, share) in [("roll-surge-calm", 0.0), ("roll-surge-faults", 0.3)] {
        rt.block_on(group(name, 1, 2, 2));
        let before = rt.block_on(state(name)).4;
        let proxy = Proxy::start(&moto().endpoint, share, 9);
        let dir = Dir::new();
        let r = roll(
            &dir,
            &asg_yaml(name),
            &proxy.endpoint,
            &["--launch-template-version", "2", "--timeout", "60s"],
        );
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let (min, max, desired, version, after) = rt.block_on(state(name));
        assert_eq!((min, max, desired, version.as_str()), (1, 2, 2, "2"), "{name}");
        assert!(
            after.iter().all(|id| !before.contains(id)),
            "{name}: {before:?} -> {after:?}"
        );
        if share > 0.0 {
            assert!(proxy.faults() > 0, "the proxy did throttle");
        }
        sequences.push(proxy.mutations());
    }
    assert_eq!(
        sequences[1], sequences[0],
        "the same mutations, each once, with and without faults"
    );
    assert!(
        sequences[0].contains(&"TerminateInstanceInAutoScalingGroup".to_string()),
        "{:?}",
        sequences[0]
    );
}

/// The same surge roll of a two-instance moto group through the proxy with 0%, 10% and
/// 30% of calls answered with throttling or 503: each roll must succeed and leave the
/// group on the new version, whatever the faults. It also prints the wall time per level
/// and the ratio to the fault-free one; scripts/bench-throttle.sh runs it as the
/// benchmark with more trials (nothing here asserts a time). SLIPWAY_BENCH_TRIALS sets
/// the trials per level (default 1); SLIPWAY_BENCH_ADAPTIVE=1 adds 30% with
/// AWS_RETRY_MODE=adaptive.
#[test]
fn surge_completes_under_throttling_at_each_level() {
    let trials: usize = std::env::var("SLIPWAY_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut levels: Vec<(&str, f64, Option<&str>)> = vec![
        ("0% faults", 0.0, None),
        ("10% faults", 0.1, None),
        ("30% faults", 0.3, None),
    ];
    if std::env::var("SLIPWAY_BENCH_ADAPTIVE").is_ok_and(|v| v == "1") {
        levels.push(("30% faults, AWS_RETRY_MODE=adaptive", 0.3, Some("adaptive")));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut baseline = None;
    println!("surge roll of a 2-instance moto group through the fault proxy, {trials} trial(s) per level");
    println!(
        "{:<38} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "level", "median s", "min s", "max s", "faults", "x 0%"
    );
    for (n, (label, share, mode)) in levels.into_iter().enumerate() {
        let mut times = Vec::new();
        let mut faults = 0;
        for trial in 0..trials {
            let name = format!("bench-surge-{n}-{trial}");
            rt.block_on(group(&name, 1, 2, 2));
            let proxy = Proxy::start(&moto().endpoint, share, 100 + trial as u64);
            let dir = Dir::new();
            let mut cmd = bin("slipway-roll");
            cmd.args(["--environment", "stage", "--sha", SHA, "--timeout", "600s"])
                .args(["--launch-template-version", "2"])
                .arg("--config")
                .arg(dir.write("slipway.yml", &asg_yaml(&name)))
                .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000001")
                .env("AWS_SECRET_ACCESS_KEY", "example-secret")
                .env("AWS_ENDPOINT_URL", &proxy.endpoint);
            if let Some(mode) = mode {
                cmd.env("AWS_RETRY_MODE", mode);
            }
            let start = std::time::Instant::now();
            let r = run(&mut cmd);
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(r.code, 0, "{label}: {}", r.stderr);
            let (_, _, desired, version, _) = rt.block_on(state(&name));
            assert_eq!(
                (desired, version.as_str()),
                (2, "2"),
                "{label}: the group ends on version 2"
            );
            times.push(secs);
            faults += proxy.faults();
            if std::env::var("SLIPWAY_BENCH_VERBOSE").is_ok() {
                let calls = proxy.calls();
                let failed: Vec<&str> = calls
                    .iter()
                    .filter(|c| !c.forwarded)
                    .map(|c| c.action.as_str())
                    .collect();
                println!(
                    "  trial {trial}: {secs:.2}s, {} calls, faults on {failed:?}",
                    calls.len()
                );
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let base = *baseline.get_or_insert(median);
        println!(
            "{label:<38} {median:>10.2} {:>10.2} {:>10.2} {:>8} {:>8.2}",
            times[0],
            times[times.len() - 1],
            faults,
            median / base
        );
    }
}

/// Denied is not pending in a roll either: a surge whose UpdateAutoScalingGroup is refused
/// (each protocol's AccessDenied, or a bare 403 as moto's IAM enforcement sends) fails with
/// exit 1 naming the call and the IAM action, without retrying the refused call for minutes,
/// printing AWS's message rather than the SDK's Debug dump, and leaves the group unchanged.
#[test]
fn a_denied_mutation_fails_the_roll_at_once_and_changes_nothing() {
    use crate::support::proxy::Denial;
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (name, how) in [("roll-denied", Denial::Protocol), ("roll-denied-403", Denial::Bare403)] {
        rt.block_on(group(name, 1, 2, 2));
        let before = rt.block_on(state(name));
        let proxy = Proxy::start(&moto().endpoint, 0.0, 4);
        proxy.deny("UpdateAutoScalingGroup", how);
        let dir = Dir::new();
        let r = roll(
            &dir,
            &asg_yaml(name),
            &proxy.endpoint,
            &["--launch-template-version", "2", "--timeout", "60s", "--output", "json"],
        );
        assert_eq!(r.code, 1, "{how:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("UpdateAutoScalingGroup failed: "),
            "{how:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("grant autoscaling:UpdateAutoScalingGroup"),
            "{how:?}: {}",
            r.stderr
        );
        for dump in ["ServiceError", "SdkBody", "ErrorMetadata"] {
            assert!(!r.all_text().contains(dump), "{how:?}: a Debug dump: {}", r.stderr);
        }
        assert!(r.stderr.len() < 4000, "{how:?}: short: {}", r.stderr);
        assert_eq!(rt.block_on(state(name)), before, "{how:?}: nothing changed");
        assert_eq!(
            proxy.mutations(),
            Vec::<String>::new(),
            "{how:?}: no mutation reached moto"
        );
        assert!(
            proxy.count("UpdateAutoScalingGroup") <= 2,
            "{how:?}: the refused call is not retried (once, and once more by the cleanup at most): {:?}",
            proxy.calls()
        );
    }
}

/// Each mutation of the surge reaches moto, but its reply is lost (the connection drops,
/// or a 500 comes back), so the SDK sends it again: every one is idempotent or detected.
/// The roll succeeds, the group ends as after a clean roll (version 2, sizes restored,
/// two new instances, the old ones terminated), and no capacity was decremented twice.
#[test]
fn a_lost_reply_to_any_surge_mutation_has_no_duplicate_effect() {
    use crate::support::proxy::LostReply;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let actions = [
        "UpdateAutoScalingGroup",
        "DeregisterTargets",
        "TerminateInstanceInAutoScalingGroup",
    ];
    for (n, action) in actions.into_iter().enumerate() {
        for how in [LostReply::Drop, LostReply::Error500] {
            let name = format!("roll-lost-{n}-{}", if how == LostReply::Drop { "drop" } else { "500" });
            rt.block_on(group(&name, 1, 2, 2));
            let before = rt.block_on(state(&name)).4;
            let proxy = Proxy::start(&moto().endpoint, 0.0, 5);
            proxy.lose_reply(action, how, 1);
            let dir = Dir::new();
            let r = roll(
                &dir,
                &asg_yaml(&name),
                &proxy.endpoint,
                &["--launch-template-version", "2", "--timeout", "60s"],
            );
            assert_eq!(r.code, 0, "{action} {how:?}: {}", r.stderr);
            assert!(
                proxy.calls().iter().any(|c| c.action == action && c.reply_lost),
                "{action} {how:?}: a reply was lost"
            );
            let (min, max, desired, version, after) = rt.block_on(state(&name));
            assert_eq!(
                (min, max, desired, version.as_str(), after.len()),
                (1, 2, 2, "2", 2),
                "{action} {how:?}: {:?}",
                proxy.calls()
            );
            assert!(
                after.iter().all(|id| !before.contains(id)),
                "{action} {how:?}: {before:?} -> {after:?}"
            );
        }
    }
}

/// The task definition revisions of `family` in moto.
async fn revisions(family: &str) -> Vec<String> {
    let ecs = aws_sdk_ecs::Client::new(&ecs_config(&moto().endpoint).await);
    let out = ecs.list_task_definitions().family_prefix(family).send().await.unwrap();
    out.task_definition_arns().to_vec()
}

/// The ECS flow's mutations with their replies lost (connection dropped, or a 500): the
/// retried RegisterTaskDefinition must not leave a second new revision behind, and the
/// retried UpdateService is idempotent. The roll (never stable in moto) rolls back to
/// revision 1 with exactly one new revision, 2, registered.
#[test]
fn a_lost_reply_to_an_ecs_mutation_has_no_duplicate_effect() {
    use crate::support::proxy::LostReply;
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (n, action) in ["RegisterTaskDefinition", "UpdateService"].into_iter().enumerate() {
        for how in [LostReply::Drop, LostReply::Error500] {
            let tag = if how == LostReply::Drop { "drop" } else { "500" };
            let (cluster, family) = (
                format!("roll-ecs-lost-{n}-{tag}"),
                format!("roll-ecs-lost-{n}-{tag}-web"),
            );
            rt.block_on(service(&cluster, &family));
            let proxy = Proxy::start(&moto().endpoint, 0.0, 6);
            proxy.lose_reply(action, how, 1);
            let dir = Dir::new();
            let r = roll(
                &dir,
                &ecs_yaml(&cluster, "web", "app"),
                &proxy.endpoint,
                &["--image", IMAGE, "--output", "json"],
            );
            assert_eq!(
                r.code, 1,
                "{action} {how:?}: rolled back as always in moto: {}",
                r.stderr
            );
            assert!(
                proxy.calls().iter().any(|c| c.action == action && c.reply_lost),
                "{action} {how:?}: a reply was lost"
            );
            let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
            assert!(
                json["new_task_definition"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with(&format!("{family}:2")),
                "{action} {how:?}: {json}"
            );
            let registered = rt.block_on(revisions(&family));
            assert_eq!(
                registered.len(),
                2,
                "{action} {how:?}: one new revision only: {registered:?}"
            );
            assert!(
                rt.block_on(service_task_definition(&cluster))
                    .ends_with(&format!("{family}:1")),
                "{action} {how:?}: rolled back to revision 1"
            );
        }
    }
}
