//! Benchmark of slipway-roll on the simulated cloud (run by scripts/bench-roll.sh; it
//! prints figures, it is not a timed test):
//! 1. surge wall time (virtual) against the physical minimum the simulator computes
//!    (boot + healthy checks + draining + shutdown), for a few fleets and poll intervals;
//! 2. a 1,000-instance group rolled with each strategy: CPU time and peak memory.

use std::time::{Duration, Instant};

use slipway::config::Strategy;
use slipway::roll::{roll, AsgRollout, Ctx, Mode, Request};
use slipway::sim::{Faults, Settings, Sim};
use tokio_util::sync::CancellationToken;

async fn one(settings: Settings, strategy: Strategy, poll: Duration, seed: u64) -> (f64, u8) {
    let sim = Sim::new(
        settings.clone(),
        Faults {
            seed,
            ..Faults::default()
        },
    );
    let mut req = Request::new(&settings.group, strategy);
    req.version = "2".into();
    if strategy == Strategy::Refresh {
        req.min_healthy_percentage = 90;
        req.max_healthy_percentage = 110;
    }
    let mut ctx = Ctx::quiet(CancellationToken::new());
    ctx.poll = poll;
    ctx.timeout = Duration::from_secs(7200);
    let rolled = roll(&AsgRollout::new(sim.ports(), req), Mode::Roll, &mut ctx).await;
    (rolled.outcome.duration_seconds, rolled.outcome.exit_code)
}

/// (user + system CPU seconds, peak resident MiB) of this process, from /proc.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based); after the ")" they are 12 and 13 (1-based). CLK_TCK is 100 on Linux.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async {
        println!("surge wall time (virtual) vs the physical minimum; 20 runs each, jittered polls");
        println!(
            "{:<44} {:>6} {:>9} {:>9} {:>9} {:>7}",
            "fleet", "poll", "minimum", "mean", "worst", "over"
        );
        let aws_like = Settings {
            boot: Duration::from_secs(90),
            check_interval: Duration::from_secs(30),
            healthy_threshold: 5,
            deregistration_delay: Duration::from_secs(300),
            shutdown: Duration::from_secs(30),
            ..Settings::default()
        };
        let fast = Settings {
            boot: Duration::from_secs(30),
            check_interval: Duration::from_secs(5),
            healthy_threshold: 2,
            deregistration_delay: Duration::from_secs(15),
            shutdown: Duration::from_secs(5),
            ..Settings::default()
        };
        let cases = [
            ("simulator defaults (4 instances)", Settings::default()),
            ("AWS defaults (ELB 5x30s checks, 300s drain)", aws_like),
            ("fast (30s boot, 2x5s checks, 15s drain)", fast),
        ];
        for (name, settings) in cases {
            for poll in [5, 2] {
                let minimum = settings.surge_minimum().as_secs_f64();
                let mut times = Vec::new();
                for seed in 0..20 {
                    let (t, code) = one(settings.clone(), Strategy::Surge, Duration::from_secs(poll), seed).await;
                    assert_eq!(code, 0, "the benchmark roll failed");
                    times.push(t);
                }
                let mean = times.iter().sum::<f64>() / times.len() as f64;
                let worst = times.iter().cloned().fold(0.0, f64::max);
                println!(
                    "{name:<44} {:>5}s {:>8.1}s {:>8.1}s {:>8.1}s {:>6.1}%",
                    poll,
                    minimum,
                    mean,
                    worst,
                    100.0 * (mean - minimum) / minimum
                );
            }
        }
        println!();
        println!("1,000-instance group (simulator defaults otherwise)");
        for strategy in [Strategy::Surge, Strategy::Refresh] {
            let settings = Settings {
                fleet: 1000,
                min: 500,
                max: 2000,
                ..Settings::default()
            };
            let (cpu0, _) = usage();
            let wall = Instant::now();
            let (virtual_secs, code) = one(settings, strategy, Duration::from_secs(5), 1).await;
            let (cpu1, peak) = usage();
            println!(
                "{:<8} exit {code}, virtual {:>7.1}s, wall {:>6.2}s, CPU {:>6.2}s, peak RSS {:>6.1} MiB",
                format!("{strategy:?}").to_lowercase(),
                virtual_secs,
                wall.elapsed().as_secs_f64(),
                cpu1 - cpu0,
                peak
            );
        }
    });
}
