//! The randomized harness: 500 simulated rolls with injected faults (throttling, 5xx,
//! an unhealthy new version, instances that never boot, cancellation at a random
//! instant), checking the invariants at every virtual instant the simulator sampled:
//! healthy in-service capacity never below the configured minimum; the end state is all
//! new or fully restored (capacity, min, max, launch template version); no orphans.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slipway::config::Strategy;
use slipway::roll::Request;
use slipway::sim::{Faults, Settings, Sim};
use tokio_util::sync::CancellationToken;

use crate::roll_sim::roll_with;

const RUNS: u64 = 500;

#[tokio::test(start_paused = true)]
async fn five_hundred_rolls_with_faults_keep_the_invariants() {
    let mut rng = StdRng::seed_from_u64(20_261_122);
    let mut violations = Vec::new();
    let mut tally = std::collections::BTreeMap::new();
    for run in 0..RUNS {
        let strategy = if rng.random_bool(0.5) {
            Strategy::Surge
        } else {
            Strategy::Refresh
        };
        let fleet = rng.random_range(1..=8);
        let (min_pct, max_pct) = [(100, 200), (90, 110), (75, 125), (50, 100), (0, 100)][rng.random_range(0..5)];
        let settings = Settings {
            fleet,
            min: rng.random_range(0..=fleet),
            max: if rng.random_bool(0.5) { fleet } else { fleet * 2 },
            boot: Duration::from_secs(rng.random_range(10..120)),
            grace: Duration::from_secs(rng.random_range(30..180)),
            deregistration_delay: Duration::from_secs(rng.random_range(0..60)),
            target_groups: (0..rng.random_range(0..=2)).map(|n| format!("tg{n}")).collect(),
            ..Settings::default()
        };
        let faults = Faults {
            throttle: if rng.random_bool(0.3) {
                rng.random_range(0.0..0.3)
            } else {
                0.0
            },
            server_error: if rng.random_bool(0.2) {
                rng.random_range(0.0..0.05)
            } else {
                0.0
            },
            bad_versions: if rng.random_bool(0.2) {
                [2].into()
            } else {
                Default::default()
            },
            stuck_launches: if rng.random_bool(0.15) {
                [rng.random_range(1..=fleet as u32 * 2)].into()
            } else {
                Default::default()
            },
            seed: run,
        };
        let cancel_after = rng
            .random_bool(0.25)
            .then(|| Duration::from_millis(rng.random_range(0..400_000)));
        let mut req = Request::new(&settings.group, strategy);
        req.version = "2".into();
        req.min_healthy_percentage = min_pct;
        req.max_healthy_percentage = max_pct;
        let floor = match strategy {
            Strategy::Surge => fleet,
            // The sim has no target groups to be healthy in when there are none; ceil(min% of fleet).
            Strategy::Refresh => (fleet * min_pct + 99) / 100,
        };
        let label = format!(
            "run {run}: {strategy:?} fleet {fleet} min {}/max {} {min_pct}-{max_pct}% tgs {} boot {:?} grace {:?} drain {:?} faults {faults:?} cancel {cancel_after:?}",
            settings.min,
            settings.max,
            settings.target_groups.len(),
            settings.boot,
            settings.grace,
            settings.deregistration_delay
        );
        let before = (settings.min, settings.max, fleet);
        let sim = Sim::new(settings, faults);
        let cancel = CancellationToken::new();
        if let Some(at) = cancel_after {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                trigger.cancel();
            });
        }
        let r = roll_with(&sim, &req, cancel.clone(), Vec::new()).await;
        cancel.cancel();
        let snap = sim.snapshot();
        let mut problems = Vec::new();
        let low = sim.samples().into_iter().find(|s| s.healthy < floor);
        if let Some(s) = low {
            problems.push(format!("healthy capacity {} < {floor} at {:.1}s", s.healthy, s.at));
        }
        let cap = (snap.capacity.min, snap.capacity.max, snap.capacity.desired);
        if r.code != 2 && cap != before {
            problems.push(format!("capacity {cap:?}, expected {before:?}"));
        }
        let new = snap.settled_on(2, fleet) && snap.launch_template_version == "2";
        let old = snap.settled_on(1, fleet) && snap.launch_template_version == "1";
        if !new && !old {
            problems.push(format!("neither all new nor restored: {snap:?}"));
        }
        if (r.code == 0 && !new) || (r.outcome.rolled_back && !old) {
            problems.push(format!(
                "exit {} / {} does not match the end state",
                r.code, r.outcome.result
            ));
        }
        if r.code == 2 && !sim.mutations().is_empty() {
            problems.push("refused, yet changed something".into());
        }
        *tally
            .entry(format!("exit {} {}", r.code, r.outcome.result))
            .or_insert(0) += 1;
        if !problems.is_empty() {
            let calls = sim.calls();
            let tail: Vec<String> = calls
                .iter()
                .filter(|c| c.mutating)
                .map(|c| format!("{:.1}s {} {} {:?}", c.at, c.operation, c.detail, c.error))
                .collect();
            violations.push(format!(
                "{label}\n    {}\n    error: {:?}\n    mutations: {}",
                problems.join("\n    "),
                r.outcome.error,
                tail.join("\n      ")
            ));
        }
    }
    eprintln!("roll harness: {RUNS} runs");
    for (outcome, n) in &tally {
        eprintln!("  {n:>4}  {outcome}");
    }
    eprintln!("violations: {}", violations.len());
    for v in &violations {
        eprintln!("  {v}");
    }
    assert!(violations.is_empty(), "{} violation(s); see above", violations.len());
}
