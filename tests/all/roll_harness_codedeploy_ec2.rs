//! The randomized harness for CodeDeploy deployments to EC2: 200 simulated rolls through
//! the one driver with random instances, deployment configs, auto rollback on or off, a
//! lifecycle event failing or hanging, throttling, an alarm going off, a bake, and
//! cancellation at a random instant; some rolled a second time for the same commit.
//! Invariants: the end state is every instance on the new bundle (succeeded, finished)
//! or every instance on the previous one (rolled back, aborted); nothing is left under
//! way; a failing revision never succeeds; a commit's bundle is uploaded at most once;
//! the exit code is the error's. Then the mix: most rolls succeed, none is refused, and
//! both outcomes occur, so a regression that fails or refuses every roll cannot pass.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slipway::cloud::AlarmState;
use slipway::roll::Verdict;
use slipway::sim::{ServerFaults, ServerSettings, SERVER_EVENTS};
use tokio_util::sync::CancellationToken;

use crate::roll_codedeploy_ec2_sim::{app_dir, request, World, NEW_KEY, OLD_KEY};

const RUNS: u64 = 200;

#[tokio::test(start_paused = true)]
async fn two_hundred_codedeploy_rolls_with_faults_keep_the_invariants() {
    let mut rng = StdRng::seed_from_u64(20_261_123);
    let mut violations = Vec::new();
    let mut tally = std::collections::BTreeMap::new();
    let dir = app_dir();
    for run in 0..RUNS {
        let configs = [
            "CodeDeployDefault.OneAtATime",
            "CodeDeployDefault.HalfAtATime",
            "CodeDeployDefault.AllAtOnce",
        ];
        // The config slipway.yml names is the one the deployment uses.
        let mut req = request(&dir);
        req.settings.config = configs[rng.random_range(0..configs.len())].into();
        let settings = ServerSettings {
            auto_rollback: rng.random_bool(0.7),
            instances: rng.random_range(1..=8),
            event_time: Duration::from_secs(rng.random_range(2..30)),
            ..ServerSettings::default()
        };
        let mut event = |share: f64| {
            let name = SERVER_EVENTS[rng.random_range(0..SERVER_EVENTS.len())].to_string();
            rng.random_bool(share).then_some(name)
        };
        let (fail_event, hang_event) = (event(0.25), event(0.08));
        let faults = ServerFaults {
            fail_event,
            hang_event,
            throttle: if rng.random_bool(0.3) {
                rng.random_range(0.0..0.3)
            } else {
                0.0
            },
            seed: run,
        };
        let bad = faults.fail_event.is_some() || faults.hang_event.is_some();
        let cancel_after = rng
            .random_bool(0.2)
            .then(|| Duration::from_millis(rng.random_range(0..1_200_000)));
        let alarm_after = rng
            .random_bool(0.15)
            .then(|| Duration::from_secs(rng.random_range(1..1200)));
        let bake = Duration::from_secs([0, 0, 60, 300][rng.random_range(0..4)]);
        let rerun = rng.random_bool(0.2);
        let label = format!(
            "run {run}: {} {settings:?} {faults:?} cancel {cancel_after:?} alarm {alarm_after:?} bake {bake:?}",
            req.settings.config
        );
        let w = World::new(settings, faults);
        let cancel = CancellationToken::new();
        if let Some(at) = cancel_after {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                trigger.cancel();
            });
        }
        let mut ctx = w.ctx(cancel.clone());
        // Long enough for eight instances one at a time; only a hanging event times out.
        ctx.timeout = Duration::from_secs(2400);
        ctx.bake = bake;
        if let Some(at) = alarm_after {
            let alarms = w.sim.alarms();
            alarms.put("web-5xx", AlarmState::Ok);
            alarms.set_all_after(at, AlarmState::Alarm);
            ctx.alarms = vec!["web-5xx".into()];
        }
        let (o, code) = w.roll_with(&req, ctx).await;
        cancel.cancel();
        let snap = w.server.snapshot();
        let all = |key: &str| snap.serving.iter().all(|k| k == key);
        let mut problems = Vec::new();
        if snap.deployments.iter().any(|(_, s, _)| s == "InProgress") {
            problems.push(format!("a deployment is left under way: {snap:?}"));
        }
        match o.result {
            Verdict::Succeeded | Verdict::Finished if !all(NEW_KEY) => {
                problems.push(format!("{}, yet {snap:?}", o.result))
            }
            Verdict::RolledBack | Verdict::Aborted if !all(OLD_KEY) => {
                problems.push(format!("{}, yet not restored: {snap:?}", o.result))
            }
            Verdict::Succeeded | Verdict::Finished | Verdict::RolledBack | Verdict::Aborted => {}
            other => problems.push(format!("unexpected result {other}: {o:?}")),
        }
        if bad && o.result == Verdict::Succeeded {
            problems.push(format!("a failing revision succeeded: {o:?}"));
        }
        if code != o.exit_code {
            problems.push(format!("exit code {} differs from the error's {code}", o.exit_code));
        }
        if rerun {
            // The same commit again, with no faults: the stored bundle is reused.
            w.server.set_faults(ServerFaults::default());
            let mut ctx = w.ctx(CancellationToken::new());
            ctx.timeout = Duration::from_secs(2400);
            let (again, _) = w.roll_with(&req, ctx).await;
            if !matches!(again.result, Verdict::Succeeded | Verdict::Unchanged) {
                problems.push(format!("the rerun ended {}: {:?}", again.result, again.error));
            }
        }
        let puts = w
            .server
            .mutations()
            .iter()
            .filter(|c| c.operation == "PutObject")
            .count();
        if puts > 1 {
            problems.push(format!("the commit's bundle was uploaded {puts} times"));
        }
        violations.extend(
            problems
                .into_iter()
                .map(|p| format!("{label}\n    {p}\n    error: {:?}", o.error)),
        );
        *tally.entry(format!("exit {code} {}", o.result)).or_insert(0u64) += 1;
    }
    eprintln!("codedeploy (EC2) harness: {RUNS} runs");
    for (outcome, n) in &tally {
        eprintln!("  {n:>4}  {outcome}");
    }
    for v in &violations {
        eprintln!("  {v}");
    }
    assert!(violations.is_empty(), "{} violation(s); see above", violations.len());
    let count = |f: &dyn Fn(&str) -> bool| tally.iter().filter(|(k, _)| f(k)).map(|(_, n)| n).sum::<u64>();
    assert_eq!(
        count(&|k| k.contains("exit 2 ")),
        0,
        "nothing here is bad input: {tally:?}"
    );
    assert!(
        count(&|k| k.ends_with(" succeeded")) * 2 > RUNS,
        "most rolls succeed: {tally:?}"
    );
    assert!(count(&|k| k.ends_with(" rolled_back")) > 0, "some roll back: {tally:?}");
}
