//! slipway-bake keeps its promises with real Packer on moto: Packer acts only with the
//! credentials the account guard checked, output that is not UTF-8 does not stop a build,
//! the `--timeout` deadline stops Packer as Ctrl-C does (it cleans up, exit 3), and a
//! second signal during Packer's cleanup says what is left instead of skipping it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bake::Bake;
use crate::support::{run, Dir};

#[test]
fn credentials_that_cannot_be_handed_to_packer_stop_the_bake() {
    // Outside Actions, a profile whose credential process answers twice (the check that
    // credentials exist, then the account guard's call) and then fails, as an expiring
    // SSO session does.
    let b = Bake::new("nocreds", "");
    let d = b.dir.path().display().to_string();
    b.dir.write(
        "creds.sh",
        &format!(
            "if [ -e {d}/used ]; then echo 'the session has expired' >&2; exit 1; fi\n\
             if [ -e {d}/seen ]; then touch {d}/used; else touch {d}/seen; fi\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \"SecretAccessKey\": \"testing\"}}'\n"
        ),
    );
    let config = b.dir.write(
        "aws-config",
        &format!("[default]\ncredential_process = sh {d}/creds.sh\n"),
    );
    let mut cmd = b.command(&[]);
    cmd.env_remove("GITHUB_ACTIONS").env("AWS_CONFIG_FILE", &config);
    let r = run(&mut cmd);
    assert!(
        b.dir.path().join("used").exists(),
        "the guard's call got credentials: {}",
        r.stderr
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot hand the job's AWS credentials to Packer"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("amazon-ebs.web:"), "packer never ran: {}", r.stderr);
    assert!(b.amis().is_empty());
    assert_eq!(b.template_state().1, 1);
}

#[test]
fn output_that_is_not_utf8_does_not_stop_the_bake() {
    // A provisioner printing bytes that are not UTF-8 (a Latin-1 log, a binary), then a
    // lot more: the build must go on and its artifact line must be read.
    let extra = r#"  provisioner "shell-local" {
    inline = ["printf 'caf\\351 \\377\\376\\n'", "i=0; while [ $i -lt 2000 ]; do echo filler line $i; i=$((i+1)); done", "echo provisioned"]
  }"#;
    let b = Bake::new("latin1", extra);
    let r = b.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("caf\u{fffd} \u{fffd}\u{fffd}"), "{}", r.stderr);
    assert!(r.stderr.contains("provisioned"), "{}", r.stderr);
    let ami = b.outputs()["ami-id"].clone();
    assert!(ami.starts_with("ami-"), "{}", r.stderr);
    assert_eq!(b.amis().len(), 1);
}

#[test]
fn a_timeout_stops_packer_which_cleans_up_then_exits_3() {
    let extra = r#"  provisioner "shell-local" {
    inline = ["echo provisioning", "sleep 300"]
  }"#;
    let b = Bake::new("timeout", extra);
    let r = b.run(&["--timeout", "15s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("timed out after 15.0s: stopping and cleaning up"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--timeout 15.0s passed"), "{}", r.stderr);
    if r.stderr.contains("provisioning") {
        // The deadline came while Packer ran: it got SIGINT and deleted what it made.
        assert!(r.stderr.contains("sending SIGINT to packer"), "{}", r.stderr);
        assert!(r.stderr.contains("Terminating the source AWS instance"), "{}", r.stderr);
        assert!(r.stderr.contains("Cleanly cancelled builds"), "{}", r.stderr);
    }
    assert_eq!(b.template_state().1, 1, "no launch template version");
    assert!(b.amis().is_empty());
}

/// A stand-in for Packer whose cleanup after SIGINT lasts until the test creates the file
/// `release` (real Packer cleans up against moto too fast to signal it twice in between).
fn slow_cleanup_packer(dir: &Dir) -> PathBuf {
    let d = dir.path().display();
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  version) echo '1700000000,,version,1.6.6'; exit 0 ;;\n  validate) exit 0 ;;\nesac\n\
         trap 'echo \"1700000000,,ui,say,==> fake: cleaning up\"; while [ ! -e {d}/release ]; do sleep 0.05; done; exit 1' INT\n\
         echo '1700000000,,ui,say,==> fake: building'\nwhile true; do sleep 0.05; done\n"
    );
    let path = dir.write("packer", &script);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_second_signal_during_packers_cleanup_says_what_is_left_and_waits() {
    let b = Bake::new("twice", "");
    let packer = slow_cleanup_packer(&b.dir);
    let mut child = b
        .command(&[])
        .env("SLIPWAY_PACKER", &packer)
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
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let wait_for = |text: &str, seen: &mut Vec<String>| {
        while !seen.iter().any(|l| l.contains(text)) {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("never printed {text:?}: {}", seen.join("\n")));
            seen.push(line);
        }
    };
    let sigint = || {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    };
    wait_for("fake: building", &mut seen);
    sigint();
    wait_for("fake: cleaning up", &mut seen);
    sigint();
    wait_for("killing slipway now would leave these undone", &mut seen);
    assert!(child.try_wait().unwrap().is_none(), "it waits for packer's cleanup");
    let text = seen.join("\n");
    assert!(
        text.contains("interrupted again: still cleaning up; left to do:"),
        "{text}"
    );
    assert!(text.contains("is deleting what it created"), "{text}");
    b.dir.write("release", "");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    assert_eq!(b.template_state().1, 1);
}
