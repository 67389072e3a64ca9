//! An environment in several regions, from one job: wave after wave, the regions of a
//! wave rolled concurrently (each with its own settings, credentials and cleanup, and
//! its wave's bake), the next wave only when every region of this one succeeded. The
//! first failure stops the line: the failing region rolled itself back, the waves
//! before stay on the new version, the later ones never start. One signal stops every
//! region in flight, each rolling back. The `regions` output and the summary have one
//! row per region.

use tokio::time::Instant;

use futures_util::future::join_all;

use super::*;

/// How one region ended.
struct Row {
    region: String,
    wave: usize,
    result: String,
    seconds: f64,
}

/// Rolls every region of `waves` in order.
pub(super) async fn run(args: Args, waves: Vec<Vec<String>>, runner: &Runner) -> Result<()> {
    if args.apply.is_some() || args.plan_out.is_some() || args.resume.is_some() {
        return Err(Error::input(
            "--plan-out, --apply and --resume work on one region of an environment that lists several",
            "pass --region REGION with them (one plan or resume per region)",
        ));
    }
    if args.simulate {
        // Virtual time for every region's rehearsal (paused once, for all of them).
        tokio::time::pause();
    }
    let cancel = CancellationToken::new();
    let pending = Pending::default();
    signal::install(cancel.clone(), pending.clone());
    let count = waves.len();
    let mut rows = Vec::new();
    let mut failure = None;
    for (n, regions) in waves.iter().enumerate() {
        let wave = n + 1;
        if failure.is_some() || cancel.is_cancelled() {
            rows.extend(regions.iter().map(|r| Row {
                region: r.clone(),
                wave,
                result: "not_started".into(),
                seconds: 0.0,
            }));
            continue;
        }
        eprintln!("==> wave {wave} of {count}: {}", regions.join(", "));
        let rolls = regions.iter().map(|region| {
            let mut one = args.clone();
            one.job.region = Some(region.clone());
            let (cancel, pending) = (cancel.clone(), pending.clone());
            async move {
                let started = Instant::now();
                let result = run_one(one, runner, cancel, pending).await;
                (region.clone(), started.elapsed().as_secs_f64(), result)
            }
        });
        for (region, seconds, result) in join_all(rolls).await {
            let ended = match &result {
                Ok(()) => "succeeded".to_string(),
                Err(e) => format!(
                    "failed (exit {}): {}",
                    e.exit_code(),
                    e.render().lines().next().unwrap_or("")
                ),
            };
            eprintln!("wave {wave}, {region}: {ended}");
            if let Err(e) = result {
                failure.get_or_insert((wave, region.clone(), e));
            }
            rows.push(Row {
                region,
                wave,
                result: ended,
                seconds,
            });
        }
    }
    let table: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"region": r.region, "wave": r.wave, "result": r.result, "seconds": r.seconds.round()}))
        .collect();
    runner.set_outputs(&[("regions", serde_json::Value::from(table).to_string())])?;
    let mut summary = String::from("| region | wave | result | duration |\n|---|---|---|---|\n");
    for r in &rows {
        summary.push_str(&format!(
            "| {} | {} | {} | {}s |\n",
            r.region,
            r.wave,
            r.result,
            r.seconds.round()
        ));
    }
    runner.add_summary(&summary)?;
    eprint!("{summary}");
    match failure {
        None => Ok(()),
        Some((wave, region, e)) => {
            let done: Vec<&str> = rows
                .iter()
                .filter(|r| r.wave < wave)
                .map(|r| r.region.as_str())
                .collect();
            let kept = match done.is_empty() {
                true => "no earlier wave had deployed".to_string(),
                false => format!("the earlier waves stay on the new version ({})", done.join(", ")),
            };
            Err(e.with_suffix(&format!(
                "wave {wave} stopped the line at {region}; {kept}; later waves were not started"
            )))
        }
    }
}
