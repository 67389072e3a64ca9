//! CodeDeploy deployments to EC2 on the simulator, on virtual time: success one
//! instance at a time; a rerun of the same commit uploading nothing; a failure at each
//! lifecycle event (CodeDeploy rolls back, the report names the instance, event, error
//! code and log tail); a failure with the group's auto rollback off (slipway redeploys
//! the last successful revision); an alarm; a hanging hook timing out; Ctrl-C in every
//! phase; a busy group refused or waited for; bad input and drift changing nothing.
//! Every failure ends with every instance serving the previous bundle again.

use std::sync::Arc;
use std::time::Duration;

use slipway::cloud::AlarmState;
use slipway::config::ServerDeploy;
use slipway::roll::codedeploy_ec2::{ServerRequest, ServerRollout};
use slipway::roll::{self, Ctx, Mode, Outcome, Verdict};
use slipway::sim::{self, ServerFaults, ServerSettings, Sim, SimServer, SERVER_EVENTS};
use tokio_util::sync::CancellationToken;

use crate::support::Dir;

pub const COMMIT: &str = "1111111111111111111111111111111111111111";
pub const NEW_KEY: &str = "slipway/web/1111111111111111111111111111111111111111.zip";
pub const OLD_KEY: &str = "slipway/web/0000000.zip";

/// An application directory with its appspec.yml and a hook script.
pub fn app_dir() -> Dir {
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path().join("app/scripts")).unwrap();
    dir.write(
        "app/appspec.yml",
        "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/web\n",
    );
    dir.write("app/scripts/start.sh", "#!/bin/sh\nsystemctl restart web\n");
    dir.write("app/index.html", "<h1>web</h1>\n");
    dir
}

pub fn request(dir: &Dir) -> ServerRequest {
    ServerRequest {
        settings: ServerDeploy {
            application: "web".into(),
            deployment_group: "web-prod".into(),
            config: "CodeDeployDefault.OneAtATime".into(),
            bundle: "app".into(),
            bucket: "web-bundles".into(),
            prefix: "slipway".into(),
        },
        bundle_dir: dir.path().join("app"),
        app: "web".into(),
        commit: COMMIT.into(),
        wait_for_idle: false,
        redeploy: None,
    }
}

pub fn fail(event: &str) -> ServerFaults {
    ServerFaults {
        fail_event: Some(event.into()),
        ..ServerFaults::default()
    }
}

/// The simulated group (4 instances serving OLD_KEY, 10s per event) and its ports.
pub struct World {
    pub server: SimServer,
    pub sim: Sim,
}

impl World {
    pub fn new(settings: ServerSettings, faults: ServerFaults) -> Self {
        World {
            server: SimServer::new(settings, faults),
            sim: Sim::new(sim::Settings::default(), sim::Faults::default()),
        }
    }

    pub fn ctx(&self, cancel: CancellationToken) -> Ctx {
        let mut ctx = Ctx::quiet(cancel);
        ctx.poll = Duration::from_secs(5);
        ctx.timeout = Duration::from_secs(900);
        ctx.alarm_port = Some(Arc::new(self.sim.alarms()));
        ctx
    }

    pub async fn roll_with(&self, req: &ServerRequest, mut ctx: Ctx) -> (Outcome, u8) {
        let rollout = ServerRollout::new(&sim::server_ports(&self.sim, &self.server), req.clone());
        let rolled = roll::roll(&rollout, Mode::Roll, &mut ctx).await;
        let code = rolled.result.err().map(|e| e.exit_code()).unwrap_or(0);
        assert_eq!(code, rolled.outcome.exit_code, "the outcome's exit code is the error's");
        (rolled.outcome, code)
    }

    pub async fn roll(&self, req: &ServerRequest) -> (Outcome, u8) {
        self.roll_with(req, self.ctx(CancellationToken::new())).await
    }

    pub fn mutations(&self) -> Vec<&'static str> {
        self.server.mutations().iter().map(|c| c.operation).collect()
    }

    /// Every instance serves `key`.
    pub fn serving(&self, key: &str) {
        let snap = self.server.snapshot();
        assert!(snap.serving.iter().all(|k| k == key), "{snap:?}");
        assert!(
            snap.deployments.iter().all(|(_, status, _)| status != "InProgress"),
            "nothing left under way: {snap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_deployment_goes_one_instance_at_a_time_and_succeeds() {
    let dir = app_dir();
    let w = World::new(ServerSettings::default(), ServerFaults::default());
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(o.result, Verdict::Succeeded);
    let d = o.server().unwrap();
    assert_eq!(d.bundle, format!("s3://web-bundles/{NEW_KEY}"));
    assert!(d.bundle_uploaded);
    assert_eq!((d.instances_succeeded, d.instances_failed), (4, 0));
    assert!(d.deployment_id.as_deref().unwrap().starts_with("d-"), "{d:?}");
    assert_eq!(
        (d.failing_event.as_deref(), d.rollback_deployment_id.as_deref()),
        (None, None)
    );
    // Seven 10s events per instance, one instance at a time.
    assert!(o.duration_seconds >= 280.0, "{o:?}");
    assert_eq!(w.mutations(), ["PutObject", "CreateDeployment"]);
    w.serving(NEW_KEY);
    // The same commit again: stored already and deployed already, nothing to do.
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!((o.result, code), (Verdict::Unchanged, 0), "{o:?}");
    assert_eq!(w.mutations(), ["PutObject", "CreateDeployment"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_at_each_lifecycle_event_is_rolled_back_by_codedeploy_and_named() {
    for event in SERVER_EVENTS {
        let dir = app_dir();
        let w = World::new(ServerSettings::default(), fail(event));
        let (o, code) = w.roll(&request(&dir)).await;
        assert_eq!(code, 1, "{event}: {o:?}");
        assert_eq!(o.result, Verdict::RolledBack, "{event}: {o:?}");
        let d = o.server().unwrap();
        assert_eq!(d.failing_event.as_deref(), Some(event));
        assert_eq!(d.failing_instance.as_deref(), Some("i-000000000005e0000"), "{d:?}");
        assert_eq!(d.error_code.as_deref(), Some("ScriptFailed"));
        assert!(d.log_tail.as_deref().unwrap().contains(event), "{d:?}");
        let error = o.error.clone().unwrap();
        assert!(
            error.contains(&format!(
                "lifecycle event {event} on i-000000000005e0000 failed: ScriptFailed"
            )),
            "{error}"
        );
        assert!(error.contains("log tail"), "{error}");
        assert!(d.rollback_deployment_id.is_some(), "{d:?}");
        assert!(o.cleanup.iter().any(|l| l.contains("CodeDeploy rolls back")), "{o:?}");
        // CodeDeploy rolled back by itself: no StopDeployment, no second CreateDeployment.
        assert_eq!(w.mutations(), ["PutObject", "CreateDeployment"], "{event}");
        w.serving(OLD_KEY);
        // A rerun of the same commit reuses the stored bundle.
        w.server.set_faults(ServerFaults::default());
        let (o, code) = w.roll(&request(&dir)).await;
        assert_eq!(code, 0, "{event}: {o:?}");
        assert!(!o.server().unwrap().bundle_uploaded);
        assert_eq!(w.mutations(), ["PutObject", "CreateDeployment", "CreateDeployment"]);
        w.serving(NEW_KEY);
    }
}

#[tokio::test(start_paused = true)]
async fn with_auto_rollback_off_the_last_successful_revision_is_redeployed() {
    let dir = app_dir();
    let settings = ServerSettings {
        auto_rollback: false,
        ..ServerSettings::default()
    };
    let w = World::new(settings, fail("AfterInstall"));
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!((o.result, code), (Verdict::RolledBack, 1), "{o:?}");
    let d = o.server().unwrap();
    assert_eq!(d.failing_event.as_deref(), Some("AfterInstall"));
    assert!(d.rollback_deployment_id.is_some(), "{d:?}");
    assert!(
        o.cleanup.iter().any(|l| l.contains(&format!(
            "redeploying the last successful revision s3://web-bundles/{OLD_KEY}"
        ))),
        "{o:?}"
    );
    assert_eq!(w.mutations(), ["PutObject", "CreateDeployment", "CreateDeployment"]);
    w.serving(OLD_KEY);
}

#[tokio::test(start_paused = true)]
async fn a_rollback_not_yet_named_by_getdeployment_is_waited_for_not_raced() {
    // CodeDeploy rolled back at once, but GetDeployment names the rollback only later: the
    // redeploy meets DeploymentLimitExceeded and waits for CodeDeploy's rollback instead.
    let dir = app_dir();
    let settings = ServerSettings {
        rollback_info_lag: Duration::from_secs(3600),
        ..ServerSettings::default()
    };
    let w = World::new(settings, fail("Install"));
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!((o.result, code), (Verdict::RolledBack, 1), "{o:?}");
    assert!(
        o.cleanup
            .iter()
            .any(|l| l.contains(&format!("CodeDeploy is redeploying s3://web-bundles/{OLD_KEY} itself"))),
        "{o:?}"
    );
    let refused: Vec<_> = w.server.calls().into_iter().filter(|c| c.error.is_some()).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].error.as_deref(), Some("DeploymentLimitExceededException"));
    assert_eq!(w.mutations(), ["PutObject", "CreateDeployment"]);
    w.serving(OLD_KEY);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_stops_the_deployment_with_rollback() {
    let dir = app_dir();
    let w = World::new(ServerSettings::default(), ServerFaults::default());
    let alarms = w.sim.alarms();
    alarms.put("web-5xx", AlarmState::Ok);
    alarms.set_all_after(Duration::from_secs(100), AlarmState::Alarm);
    let mut ctx = w.ctx(CancellationToken::new());
    ctx.alarms = vec!["web-5xx".into()];
    let (o, code) = w.roll_with(&request(&dir), ctx).await;
    assert_eq!((o.result, code), (Verdict::RolledBack, 1), "{o:?}");
    assert_eq!(o.alarm.as_deref(), Some("web-5xx"));
    assert_eq!(w.mutations(), ["PutObject", "CreateDeployment", "StopDeployment"]);
    let stop = w
        .server
        .mutations()
        .into_iter()
        .find(|c| c.operation == "StopDeployment")
        .unwrap();
    assert!(stop.detail.ends_with("rollback true"), "{stop:?}");
    w.serving(OLD_KEY);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_hook_times_out_and_is_stopped_with_rollback() {
    let dir = app_dir();
    let faults = ServerFaults {
        hang_event: Some("ApplicationStart".into()),
        ..ServerFaults::default()
    };
    let w = World::new(ServerSettings::default(), faults);
    let mut ctx = w.ctx(CancellationToken::new());
    ctx.timeout = Duration::from_secs(300);
    let (o, code) = w.roll_with(&request(&dir), ctx).await;
    assert_eq!((o.result, code), (Verdict::RolledBack, 3), "{o:?}");
    assert!(o.cleanup.iter().any(|l| l.contains("StopDeployment")), "{o:?}");
    w.serving(OLD_KEY);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_in_every_phase_cleans_up_then_exits_130() {
    // Before any change, the first instance, the third, and the bake after success.
    for at in [0, 15, 150, 330] {
        let dir = app_dir();
        let w = World::new(ServerSettings::default(), ServerFaults::default());
        let cancel = CancellationToken::new();
        let fire = cancel.clone();
        if at == 0 {
            fire.cancel();
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(at)).await;
                fire.cancel();
            });
        }
        let mut ctx = w.ctx(cancel);
        ctx.bake = Duration::from_secs(120);
        let (o, code) = w.roll_with(&request(&dir), ctx).await;
        assert_eq!(code, 130, "at {at}s: {o:?}");
        match at {
            0 => {
                assert_eq!(o.result, Verdict::Aborted, "{o:?}");
                assert!(w.mutations().is_empty(), "{:?}", w.mutations());
                w.serving(OLD_KEY);
            }
            330 => {
                // The deployment had succeeded: undone by a redeploy of the previous bundle.
                assert_eq!(o.result, Verdict::RolledBack, "{o:?}");
                assert_eq!(w.mutations(), ["PutObject", "CreateDeployment", "CreateDeployment"]);
                w.serving(OLD_KEY);
            }
            _ => {
                assert_eq!(o.result, Verdict::RolledBack, "at {at}s: {o:?}");
                assert_eq!(
                    w.mutations(),
                    ["PutObject", "CreateDeployment", "StopDeployment"],
                    "at {at}s"
                );
                w.serving(OLD_KEY);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_group_is_refused_or_waited_for() {
    let dir = app_dir();
    let settings = ServerSettings {
        busy_for: Some(Duration::from_secs(200)),
        ..ServerSettings::default()
    };
    let w = World::new(settings.clone(), ServerFaults::default());
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!((o.result, code), (Verdict::Refused, 2), "{o:?}");
    assert!(
        o.error.clone().unwrap().contains("is busy: CodeDeploy deployment"),
        "{o:?}"
    );
    assert!(w.mutations().is_empty());
    let w = World::new(settings, ServerFaults::default());
    let mut req = request(&dir);
    req.wait_for_idle = true;
    let (o, code) = w.roll(&req).await;
    assert_eq!((o.result, code), (Verdict::Succeeded, 0), "{o:?}");
    let create = w
        .server
        .mutations()
        .into_iter()
        .find(|c| c.operation == "CreateDeployment")
        .unwrap();
    assert!(
        create.at >= 200.0,
        "waited for the other deployment, then deployed: {create:?}"
    );
    w.serving(NEW_KEY);
}

#[tokio::test(start_paused = true)]
async fn bad_input_and_drift_change_nothing() {
    let dir = app_dir();
    let w = World::new(ServerSettings::default(), ServerFaults::default());
    // No appspec.yml: refused before any call but the busy check, naming the directory.
    std::fs::remove_file(dir.path().join("app/appspec.yml")).unwrap();
    let (o, code) = w.roll(&request(&dir)).await;
    assert_eq!((o.result, code), (Verdict::Refused, 2), "{o:?}");
    let error = o.error.unwrap();
    assert!(error.contains("has no appspec.yml") && error.contains("app"), "{error}");
    let calls: Vec<&str> = w.server.calls().iter().map(|c| c.operation).collect();
    assert_eq!(calls, ["ListDeployments"]);
    dir.write("app/appspec.yml", "version: 0.0\nos: linux\n");
    // An unknown group.
    let mut req = request(&dir);
    req.settings.deployment_group = "nope".into();
    let (o, code) = w.roll(&req).await;
    assert_eq!(code, 2, "{o:?}");
    assert!(o.error.unwrap().contains("\"nope\""));
    // A plan, then the directory changes: --apply refuses.
    let rollout = ServerRollout::new(&sim::server_ports(&w.sim, &w.server), request(&dir));
    let mut ctx = w.ctx(CancellationToken::new());
    let planned = roll::roll(&rollout, Mode::PlanOut, &mut ctx).await;
    let plan = planned.plan.expect("a plan");
    dir.write("app/index.html", "changed\n");
    let applied = roll::apply(&rollout, &plan, &mut ctx).await;
    let e = applied.result.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("bundle sha256"), "{e}");
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
}

const YAML: &str = "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    codedeploy:\n      application: web\n      deployment_group: web-stage\n      bundle: app\n      bucket: web-bundles\n";

#[test]
fn slipway_roll_simulate_reports_the_failing_instance_event_and_log_tail() {
    use crate::roll_cli::{outputs, simulate_with};
    let dir = app_dir();
    let r = simulate_with(&dir, YAML, &["--sim-fleet", "3", "--sim-fail-event", "afterinstall"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for text in [
        "simulating CodeDeploy web/web-stage (3 instance(s)",
        "plan: CodeDeploy web/web-stage",
        "upload the bundle (3 file(s)",
        "lifecycle event AfterInstall on i-000000000005e0000 failed: ScriptFailed",
        "log tail: [stderr] AfterInstall: simulated failure",
        "CodeDeploy rolls back with",
        "web/web-stage rolled back to s3://web-bundles/slipway/web/0000000000000000000000000000000000000000.zip",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    let out = outputs(&dir);
    assert_eq!(out["target"], "codedeploy");
    assert_eq!(out["result"], "rolled_back");
    assert_eq!(out["rolled-back"], "true");
    assert_eq!(out["failing-instance"], "i-000000000005e0000");
    assert_eq!(out["failing-event"], "AfterInstall");
    assert_eq!(out["error-code"], "ScriptFailed");
    assert_eq!(out["bundle-uploaded"], "true");
    assert!(out["codedeploy-deployment-id"].starts_with("d-"), "{out:?}");
    assert!(out["rollback-deployment-id"].starts_with("d-"), "{out:?}");
    assert_eq!(
        out["bundle"],
        "s3://web-bundles/slipway/web/0123456789abcdef0123456789abcdef01234567.zip"
    );
    // A lifecycle event that does not exist is bad input.
    let r = simulate_with(&dir, YAML, &["--sim-fail-event", "Deploy"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("ValidateService"), "{}", r.stderr);
    // A dry run prints the plan and changes nothing; success succeeds.
    let r = simulate_with(&dir, YAML, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("create a CodeDeploy deployment of s3://web-bundles/"),
        "{}",
        r.stderr
    );
    let r = simulate_with(&dir, YAML, &["--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (json["result"].as_str(), json["instances_succeeded"].as_u64()),
        (Some("succeeded"), Some(4))
    );
}

#[test]
fn slipway_roll_plan_out_then_apply_and_apply_refuses_a_changed_bundle() {
    use crate::roll_cli::simulate_with;
    let dir = app_dir();
    let plan = dir.path().join("plan.json");
    let plan_arg = plan.display().to_string();
    let r = simulate_with(&dir, YAML, &["--plan-out", &plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("\"upload_bundle\""), "{text}");
    let r = simulate_with(&dir, YAML, &["--apply", &plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("uploaded s3://web-bundles/"), "{}", r.stderr);
    // The directory changed after planning: the bundle is not the planned one.
    dir.write("app/index.html", "<h1>changed</h1>\n");
    let r = simulate_with(&dir, YAML, &["--apply", &plan_arg]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bundle sha256"), "{}", r.stderr);
}
