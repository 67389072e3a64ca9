//! Signals and stalls at the binary: a slipway binary whose AWS call never answers (the
//! proxy holds it) is sent SIGINT or SIGTERM, as a runner cancelling a job does. It must
//! abandon the call, clean up, print its outcome and exit 130 within seconds, and what it
//! had changed must read back from moto as it was (slipway-roll, -wait, -build and -bake).

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::roll_moto::{group, state};
use crate::support::moto::{moto, moto_env};
use crate::support::proxy::Proxy;
use crate::support::{bin, Dir};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
/// What "within seconds" means here: far below any timeout the binary was given (1h),
/// and below the SDK's own 30s attempt timeout, so only the signal can have ended the call.
const PROMPT: Duration = Duration::from_secs(10);

/// Waits until the proxy holds a call of the child's, sends `signal`, and returns what
/// the child printed and how long it took to exit after the signal. A child that
/// outlives the stall is killed and the test fails.
fn signal_while_held(mut child: Child, proxy: &Proxy, signal: i32) -> (Output, Duration) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.holding() == 0 {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "exited ({status}) before any call was held:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no call of the binary was ever held");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, signal) };
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // SAFETY: as above; the child may be gone already, then this does nothing.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    drop(watchdog);
    (out, took)
}

/// Exit 130, soon after the signal; what the binary printed on stderr.
fn stopped_at_once(out: &Output, took: Duration) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(took < PROMPT, "exited {took:?} after the signal:\n{stderr}");
    stderr
}

fn roll_config(dir: &Dir, name: &str) -> std::path::PathBuf {
    dir.write(
        "slipway.yml",
        &format!(
            "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n      allow_raise_max: true\n"
        ),
    )
}

/// A surge roll of a moto group whose wait for the new instances hangs: the signal ends
/// the hung call, the cleanup puts the group back, and the outcome says so.
fn a_signal_during_a_stalled_roll_call(name: &str, signal: i32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(group(name, 1, 2, 2));
    let before = rt.block_on(state(name));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    // The surge sets the group's launch template (UpdateAutoScalingGroup), then reads the
    // group again: that look never answers.
    proxy.stall_after("UpdateAutoScalingGroup", "DescribeAutoScalingGroups", 1);
    let dir = Dir::new();
    let child = bin("slipway-roll")
        .args(["--environment", "stage", "--sha", SHA, "--launch-template-version", "2"])
        .args(["--poll-interval", "1s", "--timeout", "1h", "--output", "json"])
        .arg("--config")
        .arg(roll_config(&dir, name))
        .envs(moto_env(&proxy.endpoint, &dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = signal_while_held(child, &proxy, signal);
    let stderr = stopped_at_once(&out, took);
    assert!(stderr.contains("interrupted: stopping and cleaning up"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON outcome on stdout");
    assert_eq!(json["result"], "rolled_back", "{json}");
    assert_eq!(json["stopped_by"], "interrupted", "{json}");
    assert_eq!(json["exit_code"], 130, "{json}");
    assert!(
        json["error"].as_str().unwrap_or_default().contains("abandoned"),
        "the outcome says the call in flight was abandoned: {json}"
    );
    let held = proxy.stalled();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].action, "DescribeAutoScalingGroups");
    // The cleanup ran after the held call: it put the capacity back at moto.
    let cleanup: Vec<_> = proxy
        .calls()
        .into_iter()
        .filter(|c| c.forwarded && c.is_mutation() && c.arrived > held[0].arrived)
        .map(|c| c.action)
        .collect();
    assert!(!cleanup.is_empty(), "no cleanup call reached moto after the stall");
    let after = rt.block_on(state(name));
    assert_eq!(
        (after.0, after.1, after.2, after.3.as_str()),
        (before.0, before.1, before.2, before.3.as_str()),
        "min, max, desired and launch template version read back from moto as they were"
    );
}

#[test]
fn sigint_during_a_stalled_call_rolls_the_group_back_and_exits_130_at_once() {
    a_signal_during_a_stalled_roll_call("sig-int-roll", libc::SIGINT);
}

#[test]
fn sigterm_during_a_stalled_call_rolls_the_group_back_and_exits_130_at_once() {
    a_signal_during_a_stalled_roll_call("sig-term-roll", libc::SIGTERM);
}

/// slipway-wait on a group whose first look never answers.
fn a_signal_during_a_stalled_wait_call(name: &str, signal: i32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(group(name, 1, 2, 1));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 2);
    proxy.stall("DescribeAutoScalingGroups", 1);
    let dir = Dir::new();
    let child = bin("slipway-wait")
        .args([
            "--asg",
            name,
            "--region",
            "us-east-1",
            "--timeout",
            "1h",
            "--output",
            "json",
        ])
        .envs(moto_env(&proxy.endpoint, &dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = signal_while_held(child, &proxy, signal);
    let stderr = stopped_at_once(&out, took);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON report on stdout");
    assert_eq!(json["outcome"], "interrupted", "{json}\n{stderr}");
    assert_eq!(proxy.stalled().len(), 1);
}

#[test]
fn sigint_during_a_stalled_wait_call_exits_130_at_once() {
    a_signal_during_a_stalled_wait_call("sig-int-wait", libc::SIGINT);
}

#[test]
fn sigterm_during_a_stalled_wait_call_exits_130_at_once() {
    a_signal_during_a_stalled_wait_call("sig-term-wait", libc::SIGTERM);
}

/// slipway-build whose look for the repository never answers: the signal ends it.
fn a_signal_during_a_stalled_build_call(repo: &str, signal: i32) {
    let proxy = Proxy::start(&moto().endpoint, 0.0, 3);
    proxy.stall("DescribeRepositories", 1);
    let dir = crate::build::project(repo, "123456789012");
    let child = crate::build::on_ecr(
        &dir,
        crate::build::NO_ENGINE,
        &["--environment", "dev", "--create-repository"],
    )
    .env("AWS_ENDPOINT_URL", &proxy.endpoint)
    .args(["--timeout", "1h"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (out, took) = signal_while_held(child, &proxy, signal);
    let stderr = stopped_at_once(&out, took);
    assert!(
        stderr.contains("the look for the repository: the call in flight was abandoned"),
        "{stderr}"
    );
    assert_eq!(
        proxy.count("CreateRepository"),
        0,
        "nothing was created: {:?}",
        proxy.calls()
    );
}

#[test]
fn sigint_during_a_stalled_build_call_exits_130_at_once() {
    a_signal_during_a_stalled_build_call("sig-int-build", libc::SIGINT);
}

#[test]
fn sigterm_during_a_stalled_build_call_exits_130_at_once() {
    a_signal_during_a_stalled_build_call("sig-term-build", libc::SIGTERM);
}

/// slipway-bake after a real Packer build on moto: the new launch template version's call
/// never answers; the signal ends it and the template reads back from moto as it was.
fn a_signal_during_a_stalled_bake_call(name: &str, signal: i32) {
    let b = crate::bake::Bake::new(name, "");
    let proxy = Proxy::start(&moto().endpoint, 0.0, 4);
    proxy.stall("CreateLaunchTemplateVersion", 1);
    let before = b.template_state();
    let child = b
        .command(&["--timeout", "1h"])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = signal_while_held(child, &proxy, signal);
    let stderr = stopped_at_once(&out, took);
    assert!(
        stderr.contains("the new launch template version: the call in flight was abandoned"),
        "{stderr}"
    );
    assert_eq!(b.template_state(), before, "no launch template version was made");
    assert_eq!(b.amis().len(), 1, "the baked AMI stays, tagged for a rerun to reuse");
}

#[test]
fn sigint_during_a_stalled_bake_call_exits_130_at_once() {
    a_signal_during_a_stalled_bake_call("sig-int-bake", libc::SIGINT);
}

#[test]
fn sigterm_during_a_stalled_bake_call_exits_130_at_once() {
    a_signal_during_a_stalled_bake_call("sig-term-bake", libc::SIGTERM);
}

/// A second signal while the cleanup's own call hangs: slipway says what is left to do,
/// keeps cleaning up (the connection dies after 5 s, the call is retried) and still
/// leaves the group as it was.
#[test]
fn a_second_signal_during_a_stalled_cleanup_says_what_is_left_and_the_cleanup_finishes() {
    let name = "sig-twice-roll";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(group(name, 1, 2, 2));
    let before = rt.block_on(state(name));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 5);
    proxy.stall_after("UpdateAutoScalingGroup", "DescribeAutoScalingGroups", 1);
    let dir = Dir::new();
    let mut child = bin("slipway-roll")
        .args(["--environment", "stage", "--sha", SHA, "--launch-template-version", "2"])
        .args(["--poll-interval", "1s", "--timeout", "1h", "--output", "json"])
        .arg("--config")
        .arg(roll_config(&dir, name))
        .envs(moto_env(&proxy.endpoint, &dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.holding() == 0 {
        assert!(child.try_wait().unwrap().is_none(), "exited before any call was held");
        assert!(Instant::now() < deadline, "no call of the roll was ever held");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The cleanup's first call (the launch template set back) hangs for 5 s.
    proxy.stall_for("UpdateAutoScalingGroup", 1, Duration::from_secs(5));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    while proxy.stalled().is_empty() || proxy.holding() == 0 {
        assert!(
            Instant::now() < deadline,
            "the cleanup's call was never held: {:?}",
            proxy.calls()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted again: still cleaning up; left to do:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("killing slipway now would leave these undone"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON outcome on stdout");
    assert_eq!(json["result"], "rolled_back", "{json}");
    let after = rt.block_on(state(name));
    assert_eq!(
        (after.0, after.1, after.2, after.3.as_str()),
        (before.0, before.1, before.2, before.3.as_str())
    );
}
