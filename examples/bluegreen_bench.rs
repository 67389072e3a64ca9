//! Benchmark of an Auto Scaling blue/green roll on the simulated cloud (run by
//! scripts/bench-bluegreen.sh; it prints figures, it is not a timed test): the roll's
//! wall time (virtual) against its physical minimum, boot + the healthy checks + one step
//! bake per weight step below 100%, for a few fleets, step lists and poll intervals.

use std::time::Duration;

use slipway::roll::asg::bluegreen::{BgRequest, BlueGreenRollout};
use slipway::roll::{roll, Ctx, Mode};
use slipway::sim::bluegreen::LISTENER;
use slipway::sim::{Faults, Settings, SimPair};
use tokio_util::sync::CancellationToken;

async fn one(settings: Settings, steps: &[u8], bake: Duration, poll: Duration, seed: u64) -> (f64, u8) {
    let pair = SimPair::new(
        settings,
        "web-b",
        Faults {
            seed,
            ..Faults::default()
        },
        None,
    );
    let req = BgRequest {
        groups: ["web-a".into(), "web-b".into()],
        listener: LISTENER.into(),
        launch_template: None,
        version: "2".into(),
        steps: steps.to_vec(),
        step_bake: bake,
        keep_old: None,
        wait_for_idle: false,
    };
    let mut ctx = Ctx::quiet(CancellationToken::new());
    ctx.poll = poll;
    ctx.timeout = Duration::from_secs(7200);
    let rolled = roll(&BlueGreenRollout::new(pair.ports(), req), Mode::Roll, &mut ctx).await;
    (rolled.outcome.duration_seconds, rolled.outcome.exit_code)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async {
        println!("blue/green wall time (virtual) vs the physical minimum (boot + healthy checks + steps x step bake); 20 runs each");
        println!(
            "{:>6} {:>14} {:>9} {:>6} {:>10} {:>10} {:>10} {:>8}",
            "fleet", "steps", "bake", "poll", "minimum", "mean", "worst", "over"
        );
        let mut worst_share: f64 = 0.0;
        for (fleet, steps, bake, poll) in [
            (4, vec![100u8], 120u64, 2u64),
            (4, vec![10, 50, 100], 120, 2),
            (20, vec![10, 50, 100], 120, 2),
            (100, vec![5, 25, 50, 100], 300, 5),
            (4, vec![10, 50, 100], 120, 5),
        ] {
            let settings = Settings {
                fleet,
                min: (fleet / 2).max(1),
                max: fleet * 2,
                group: "web-a".into(),
                ..Settings::default()
            };
            let below = steps.iter().filter(|s| **s < 100).count() as u32;
            let minimum = settings.boot + settings.check_interval * settings.healthy_threshold + Duration::from_secs(bake) * below;
            let mut times = Vec::new();
            for seed in 0..20 {
                let (secs, code) = one(settings.clone(), &steps, Duration::from_secs(bake), Duration::from_secs(poll), seed).await;
                assert_eq!(code, 0, "the roll failed");
                times.push(secs);
            }
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            let worst = times.iter().cloned().fold(0.0, f64::max);
            let min = minimum.as_secs_f64();
            let over = (mean - min) / min * 100.0;
            worst_share = worst_share.max(over);
            println!(
                "{fleet:>6} {:>14} {:>8}s {:>5}s {:>9.1}s {:>9.1}s {:>9.1}s {:>7.2}%",
                format!("{steps:?}"),
                bake,
                poll,
                min,
                mean,
                worst,
                over
            );
        }
        println!(
            "worst mean over the minimum: {worst_share:.2}% (target: within 5%) -> {}",
            if worst_share <= 5.0 { "met" } else { "NOT met" }
        );
    });
}
