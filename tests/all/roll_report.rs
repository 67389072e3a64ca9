//! One snapshot per result kind and target: the text report, the step summary, the
//! GITHUB_OUTPUT pairs, the JSON outcome and the exit code, each from a real roll on the
//! simulated cloud (virtual time, so durations and ids are the same every run), so a
//! wrong verdict shows up in review. A scripted target whose cleanup fails shows the
//! driver's `failed` verdict.

use std::time::Duration;

use slipway::config::Strategy;
use slipway::roll::ecs::{EcsRequest, EcsRollout};
use slipway::roll::outcome::AsgDetails;
use slipway::roll::{
    self, report, AsgRollout, Cleaned, Ctx, Details, Mode, Outcome, Request, Rollout, Target, Verdict,
};
use slipway::sim::{EcsFaults, EcsSettings, Faults, Settings, Sim, SimEcs};
use slipway::{Error, Result};
use tokio_util::sync::CancellationToken;

const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// Everything a user or a workflow sees of an outcome. The duration is set to two
/// minutes: the polls' jitter moves it by a few virtual seconds from run to run.
fn rendered(o: &Outcome) -> String {
    let mut o = o.clone();
    o.duration_seconds = 120.0;
    let o = &o;
    let outputs: Vec<String> = report::outputs(o).iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "exit code {}\n\n--- text\n{}\n--- step summary\n{}\n--- outputs\n{}\n\n--- json\n{}\n",
        o.exit_code,
        report::text(o),
        report::markdown(o),
        outputs.join("\n"),
        serde_json::to_string_pretty(o).unwrap()
    )
}

fn ctx(cancel: CancellationToken) -> Ctx {
    let mut ctx = Ctx::quiet(cancel);
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = Duration::from_secs(600);
    ctx
}

async fn drive<T: Rollout>(t: &T, mode: Mode, cancel: CancellationToken) -> Outcome {
    drive_in(t, mode, ctx(cancel)).await
}

async fn drive_in<T: Rollout>(t: &T, mode: Mode, mut ctx: Ctx) -> Outcome {
    let rolled = roll::roll(t, mode, &mut ctx).await;
    let code = rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "the exit code follows the error");
    rolled.outcome
}

fn asg_request() -> Request {
    let mut req = Request::new("web-asg", Strategy::Surge);
    req.version = "2".into();
    req
}

fn asg(faults: Faults) -> AsgRollout {
    AsgRollout::new(Sim::new(Settings::default(), faults).ports(), asg_request())
}

fn ecs_request() -> EcsRequest {
    crate::support::sim_ecs_request(NEW)
}

fn ecs_with(bad: bool, req: EcsRequest) -> EcsRollout {
    let faults = EcsFaults {
        bad_images: if bad {
            [NEW.to_string()].into()
        } else {
            Default::default()
        },
        ..EcsFaults::default()
    };
    EcsRollout::new(&SimEcs::new(EcsSettings::default(), faults).ports(), req)
}

fn check(name: &str, o: &Outcome, verdict: Verdict) {
    assert_eq!(o.result, verdict, "{name}: {o:?}");
    insta::assert_snapshot!(name, rendered(o));
}

#[tokio::test(start_paused = true)]
async fn asg_outcomes() {
    let go = CancellationToken::new;
    let t = asg(Faults::default());
    check("asg_succeeded", &drive(&t, Mode::Roll, go()).await, Verdict::Succeeded);
    check("asg_unchanged", &drive(&t, Mode::Roll, go()).await, Verdict::Unchanged);
    let bad = Faults {
        bad_versions: [2].into(),
        ..Faults::default()
    };
    check(
        "asg_rolled_back",
        &drive(&asg(bad), Mode::Roll, go()).await,
        Verdict::RolledBack,
    );
    let stopped = go();
    stopped.cancel();
    check(
        "asg_aborted",
        &drive(&asg(Faults::default()), Mode::Roll, stopped).await,
        Verdict::Aborted,
    );
    let mut missing = asg_request();
    missing.group = "nope".into();
    let t = AsgRollout::new(Sim::new(Settings::default(), Faults::default()).ports(), missing);
    check("asg_refused", &drive(&t, Mode::Roll, go()).await, Verdict::Refused);
    check(
        "asg_dry_run",
        &drive(&asg(Faults::default()), Mode::DryRun, go()).await,
        Verdict::DryRun,
    );
    check(
        "asg_planned",
        &drive(&asg(Faults::default()), Mode::PlanOut, go()).await,
        Verdict::Planned,
    );
    // Interrupted once the old instances started leaving: the cleanup finishes the roll.
    let mut finished = None;
    for at in (60..400).step_by(5) {
        let cancel = go();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(at)).await;
            trigger.cancel();
        });
        let o = drive(&asg(Faults::default()), Mode::Roll, cancel).await;
        if o.result == Verdict::Finished {
            finished = Some(o);
            break;
        }
    }
    check(
        "asg_finished",
        &finished.expect("some interrupt lands past the point of no return"),
        Verdict::Finished,
    );
}

#[tokio::test(start_paused = true)]
async fn ecs_outcomes() {
    let go = CancellationToken::new;
    let t = ecs_with(false, ecs_request());
    check("ecs_succeeded", &drive(&t, Mode::Roll, go()).await, Verdict::Succeeded);
    check("ecs_unchanged", &drive(&t, Mode::Roll, go()).await, Verdict::Unchanged);
    let mut only = ecs_request();
    only.register_only = true;
    check(
        "ecs_registered",
        &drive(&ecs_with(false, only), Mode::Roll, go()).await,
        Verdict::Registered,
    );
    check(
        "ecs_rolled_back",
        &drive(&ecs_with(true, ecs_request()), Mode::Roll, go()).await,
        Verdict::RolledBack,
    );
    let stopped = go();
    stopped.cancel();
    check(
        "ecs_aborted",
        &drive(&ecs_with(false, ecs_request()), Mode::Roll, stopped).await,
        Verdict::Aborted,
    );
    let mut missing = ecs_request();
    missing.container = "nope".into();
    check(
        "ecs_refused",
        &drive(&ecs_with(false, missing), Mode::Roll, go()).await,
        Verdict::Refused,
    );
    check(
        "ecs_dry_run",
        &drive(&ecs_with(false, ecs_request()), Mode::DryRun, go()).await,
        Verdict::DryRun,
    );
    check(
        "ecs_planned",
        &drive(&ecs_with(false, ecs_request()), Mode::PlanOut, go()).await,
        Verdict::Planned,
    );
}

/// A target whose one step times out and whose cleanup fails: the driver must report
/// `failed` (exit 1), say what stopped it, and list what is left to do by hand.
struct Stuck;

impl Rollout for Stuck {
    type Plan = Vec<String>;
    type Run = Vec<String>;
    const TARGET: Target = Target::Asg;

    fn name(&self) -> String {
        "web-asg".into()
    }
    async fn busy(&self, _ctx: &Ctx) -> Result<Option<String>> {
        Ok(None)
    }
    fn wait_for_idle(&self) -> bool {
        false
    }
    async fn discover(&self, _ctx: &mut Ctx) -> Result<Self::Plan> {
        Ok(vec!["raise the capacity".into()])
    }
    async fn rediscover(&self, plan: &Self::Plan, _ctx: &mut Ctx) -> Result<Self::Plan> {
        Ok(plan.clone())
    }
    fn drift(&self, _planned: &Self::Plan, _fresh: &Self::Plan) -> Result<()> {
        Ok(())
    }
    fn plan_text(&self, plan: &Self::Plan) -> String {
        plan.join("\n")
    }
    fn steps(&self, plan: &Self::Plan) -> usize {
        plan.len()
    }
    fn up_to_date(&self, _plan: &Self::Plan) -> String {
        String::new()
    }
    async fn step(&self, _plan: &Self::Plan, _n: usize, _ctx: &mut Ctx, run: &mut Self::Run) -> Result<()> {
        run.push("capacity raised".into());
        Err(Error::timed_out("new instances did not become healthy within 10m"))
    }
    fn left_to_do(&self, _plan: &Self::Plan, run: &Self::Run) -> Vec<String> {
        run.iter()
            .map(|_| "restore min 2, max 8, desired 4 on web-asg".to_string())
            .collect()
    }
    async fn cleanup(&self, _plan: &Self::Plan, _ctx: &mut Ctx, _run: &mut Self::Run) -> Result<Cleaned> {
        Err(Error::failed(
            "UpdateAutoScalingGroup failed: AccessDenied: not authorized",
        ))
    }
    fn ending(&self, _plan: &Self::Plan, _run: &Self::Run, _cleaned: Cleaned) -> String {
        String::new()
    }
    fn cleanup_log(&self, _run: &Self::Run) -> Vec<String> {
        Vec::new()
    }
    fn details(&self, _plan: Option<&Self::Plan>, _run: Option<&Self::Run>, _verdict: Verdict) -> Details {
        Details::Asg(AsgDetails {
            group: "web-asg".into(),
            strategy: Strategy::Surge,
            previous_version: 1,
            new_version: 2,
            previous_image_id: None,
            new_image_id: None,
            instances_replaced: 0,
            new_instances: Vec::new(),
            blue_green: None,
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_fails_is_failed_whatever_stopped_the_roll() {
    let rolled = roll::roll(&Stuck, Mode::Roll, &mut ctx(CancellationToken::new())).await;
    let err = rolled.result.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.render()
            .contains("help: left to do by hand: restore min 2, max 8, desired 4 on web-asg"),
        "{}",
        err.render()
    );
    assert_eq!(rolled.outcome.stopped_by, Some(roll::Stop::TimedOut));
    check("failed", &rolled.outcome, Verdict::Failed);
}

/// A roll stopped by an alarm, and one refused because an alarm already was in ALARM:
/// the alarm is named in the error, the text, the summary, the outputs and the JSON.
#[tokio::test(start_paused = true)]
async fn alarm_outcomes() {
    use slipway::cloud::AlarmState;
    for (name, initial, verdict) in [
        ("asg_alarm_rolled_back", AlarmState::Ok, Verdict::RolledBack),
        ("asg_alarm_refused", AlarmState::Alarm, Verdict::Refused),
    ] {
        let sim = Sim::new(Settings::default(), Faults::default());
        let alarms = sim.alarms();
        alarms.put("web-5xx", initial);
        alarms.set_all_after(Duration::from_secs(60), AlarmState::Alarm);
        let mut ctx = ctx(CancellationToken::new());
        ctx.alarms = vec!["web-5xx".into()];
        ctx.alarm_port = Some(std::sync::Arc::new(alarms));
        let rolled = roll::roll(&AsgRollout::new(sim.ports(), asg_request()), Mode::Roll, &mut ctx).await;
        assert_eq!(rolled.outcome.alarm.as_deref(), Some("web-5xx"));
        check(name, &rolled.outcome, verdict);
    }
}

#[tokio::test(start_paused = true)]
async fn ecs_native_outcomes() {
    use crate::roll_ecs_native::{listener, request, rollout, sim};
    use slipway::cloud::NativeStrategy;
    let broken = EcsFaults {
        erroring_images: [NEW.to_string()].into(),
        ..EcsFaults::default()
    };
    for (name, faults, verdict) in [
        ("ecs_canary_succeeded", EcsFaults::default(), Verdict::Succeeded),
        ("ecs_canary_test_gate_rolled_back", broken, Verdict::RolledBack),
    ] {
        let sim = sim(faults);
        let mut ctx = ctx(CancellationToken::new());
        ctx.test_probes = listener(&sim);
        let t = rollout(&sim, &request(NativeStrategy::Canary));
        check(name, &drive_in(&t, Mode::Roll, ctx).await, verdict);
    }
}

#[tokio::test(start_paused = true)]
async fn codedeploy_outcomes() {
    use crate::roll_codedeploy_sim::{faults, request, settings, Bad};
    use slipway::roll::codedeploy::CodeDeployRollout;
    use slipway::sim::CdSettings;

    let go = CancellationToken::new;
    let cd = |bad: Bad| {
        let sim = SimEcs::new(settings(CdSettings::default()), faults(bad, NEW));
        CodeDeployRollout::new(&sim.ports(), request(NEW, false))
    };
    check(
        "codedeploy_succeeded",
        &drive(&cd(Bad::No), Mode::Roll, go()).await,
        Verdict::Succeeded,
    );
    check(
        "codedeploy_rolled_back",
        &drive(&cd(Bad::Crash), Mode::Roll, go()).await,
        Verdict::RolledBack,
    );
    check(
        "codedeploy_dry_run",
        &drive(&cd(Bad::No), Mode::DryRun, go()).await,
        Verdict::DryRun,
    );
}
