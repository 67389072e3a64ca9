//! An environment in several regions, from one job: wave after wave, the regions of a
//! wave rolled concurrently (each with its own settings, credentials, simulated cloud and
//! cleanup, and its wave's bake), the next wave only when every region of this one
//! succeeded. The first failure stops the line: the failing region rolled itself back;
//! the waves before stay on the new version (`waves_on_failure: stop`) or are rolled
//! back onto what they ran before, the latest first (`rollback_all`); the later ones
//! never start. One signal stops every region in flight, each rolling back. `--plan-out`
//! writes one file with every region's plan, `--apply` carries each out in its wave. The
//! `regions` output, the summary and `--output json` have one row per region.

use std::collections::BTreeMap;

use tokio::time::Instant;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::super::outcome::{Details, Outcome, Verdict};
use super::*;
use crate::config::WavesOnFailure;
use crate::context::Waves;

/// How one region ended.
struct Row {
    region: String,
    wave: usize,
    /// The verdict, `failed` or `not_started`.
    result: String,
    /// Why it did not succeed.
    reason: Option<String>,
    previous: Option<String>,
    new: Option<String>,
    seconds: f64,
    /// `rollback_all`: how rolling this finished region back ended.
    undone: Option<String>,
    /// --simulate: the region's API calls, and the most in one minute.
    calls: Option<(usize, usize)>,
    outcome: Option<Outcome>,
}

impl Row {
    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "region": self.region,
            "wave": self.wave,
            "result": self.result,
            "previous": self.previous,
            "new": self.new,
            "seconds": self.seconds.round(),
        });
        if let Some(reason) = &self.reason {
            v["reason"] = reason.clone().into();
        }
        if let Some(undone) = &self.undone {
            v["rolled_back_after_failure"] = undone.clone().into();
        }
        if let Some((calls, busiest)) = self.calls {
            v["api_calls"] = calls.into();
            v["api_calls_busiest_minute"] = busiest.into();
        }
        v
    }
}

/// A region's roll: its own flags (its region, its plan; run_one applies its
/// `--sim-region` dynamics and per-region artifacts).
fn region_args(args: &Args, region: &str, plan: Option<&PathBuf>) -> Args {
    let mut one = args.clone();
    one.job.region = Some(region.to_string());
    // One JSON document for every region, printed at the end.
    one.output = Output::Text;
    one.apply = plan.cloned();
    one
}

/// Applies `--sim-region REGION:SETTING,...` to a region's flags.
pub(super) fn sim_region(one: &mut Args, region: &str, settings: &str) -> Result<()> {
    let bad = |item: &str, why: &str| {
        Error::input(
            format!("--sim-region {region}:{settings}: {item:?} {why}"),
            "write REGION:SETTING[,SETTING...] with fail-new-version, alarm-after=DURATION, boot=DURATION, \
             grace=DURATION, drain=DURATION, fleet=N (1 to 10000) or throttle=RATE (0 to 0.95)",
        )
    };
    for item in settings.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (item, None),
        };
        let duration = || -> Result<Duration> {
            value
                .ok_or_else(|| bad(item, "needs =DURATION"))?
                .parse()
                .map_err(|_| bad(item, "is not a duration such as 90s or 5m"))
        };
        match key {
            "fail-new-version" if value.is_none() => one.sim_fail_new_version = true,
            "alarm-after" => one.sim_alarm_after = Some(duration()?),
            "boot" => one.sim_boot = duration()?,
            "grace" => one.sim_grace = duration()?,
            "drain" => one.sim_drain = duration()?,
            "fleet" => {
                one.sim_fleet = value
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| bad(item, "is not a fleet of 1 to 10000"))?
            }
            "throttle" => {
                one.sim_throttle = value
                    .ok_or_else(|| bad(item, "needs =RATE"))
                    .and_then(|v| parse_rate(v).map_err(|_| bad(item, "is not a share from 0 to 0.95")))?
            }
            _ => return Err(bad(item, "is not a setting")),
        }
    }
    Ok(())
}

/// Rolls every region of `plan`, wave after wave, stopped by a signal.
pub(super) async fn run(args: Args, plan: Waves, runner: &Runner) -> Result<()> {
    if args.simulate {
        // Virtual time for every region's rehearsal (paused once, for all of them).
        tokio::time::pause();
    }
    let cancel = CancellationToken::new();
    let pending = Pending::default();
    signal::install(cancel.clone(), pending.clone());
    roll(args, plan, runner, cancel, pending).await
}

/// Every region of `plan`, wave after wave, stopped by `cancel` (the signal handler's).
pub async fn roll(
    mut args: Args,
    plan: Waves,
    runner: &Runner,
    cancel: CancellationToken,
    pending: Pending,
) -> Result<()> {
    let Waves {
        app,
        environment,
        waves,
        on_failure,
    } = plan;
    if args.resume.is_some() {
        return Err(Error::input(
            "--resume follows one deployment, in one region of an environment that lists several",
            "pass --region REGION with it",
        ));
    }
    // Bad --sim-region input is refused before the first wave changes anything.
    for (region, settings) in &args.sim_regions {
        if !waves.iter().flatten().any(|r| r == region) {
            return Err(Error::input(
                format!("--sim-region names {region}, which is not one of the environment's regions"),
                format!("name one of {}", waves.concat().join(", ")),
            ));
        }
        sim_region(&mut args.clone(), region, settings)?;
    }
    // So is a per-region artifact flag without an entry for one of the regions, or a
    // region whose settings name no target (or two) to roll.
    for region in waves.iter().flatten() {
        let one = region_args(&args, region, None);
        let kind = target(&one, &one.job.resolve()?).map_err(|e| e.with_prefix(&format!("region {region}")))?;
        super::flags_fit(&one, kind).map_err(|e| e.with_prefix(&format!("region {region}")))?;
        for (map, flag) in [
            (&args.launch_template_versions, "--launch-template-versions"),
            (&args.images, "--images"),
        ] {
            if let Some(map) = map {
                in_region(map, flag, region)?;
            }
        }
    }
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    args.wave_run = Some(RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    if let Some(path) = &args.plan_out {
        return plan_all(&args, (&app, &environment), &waves, path, runner, (&cancel, &pending)).await;
    }
    // --apply: each region's plan in a scratch file of its own (removed at the end).
    let mut stored = BTreeMap::new();
    let _plans = match &args.apply {
        Some(path) => {
            let plans = Scratch::new()?;
            for (region, text) in planfile::read_set(path, &app, &environment, &waves)? {
                stored.insert(region.clone(), plans.write(&region, &text)?);
            }
            Some(plans)
        }
        None => None,
    };
    let count = waves.len();
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut failure = None;
    for (n, regions) in waves.iter().enumerate() {
        let wave = n + 1;
        if failure.is_some() || cancel.is_cancelled() {
            rows.extend(regions.iter().map(|r| Row {
                region: r.clone(),
                wave,
                result: "not_started".into(),
                reason: None,
                previous: None,
                new: None,
                seconds: 0.0,
                undone: None,
                calls: None,
                outcome: None,
            }));
            continue;
        }
        eprintln!("==> wave {wave} of {count}: {}", regions.join(", "));
        // The first failure stops the wave's other regions too (each rolls back).
        let line = cancel.child_token();
        let mut rolls = FuturesUnordered::new();
        for region in regions {
            let mut one = region_args(&args, region, stored.get(region));
            one.wave = Some((wave, count));
            rolls.push(roll_region(one, region, wave, runner, &line, &pending));
        }
        let mut ended = Vec::new();
        while let Some((mut row, result)) = rolls.next().await {
            if let Err(e) = result {
                match &failure {
                    Some((_, first, _)) if !cancel.is_cancelled() => {
                        row.reason = Some(format!("stopped because {first} failed"));
                    }
                    Some(_) => {}
                    None => {
                        if regions.len() > 1 {
                            eprintln!("wave {wave}: stopping its other regions (each rolls back)");
                        }
                        failure = Some((wave, row.region.clone(), e));
                        line.cancel();
                    }
                }
            }
            eprintln!("wave {wave}, {}: {}", row.region, ended_text(&row));
            ended.push(row);
        }
        // Rows in the configured order.
        for region in regions {
            if let Some(n) = ended.iter().position(|r| &r.region == region) {
                rows.push(ended.swap_remove(n));
            }
        }
    }
    if let (Some((failed, _, _)), WavesOnFailure::RollbackAll, false) = (&failure, on_failure, cancel.is_cancelled()) {
        rollback_finished(&args, &mut rows, *failed, runner, &cancel, &pending).await?;
    }
    let failed = failure.as_ref().map(|(_, region, _)| region.as_str());
    report(&args, &rows, failed, started.elapsed().as_secs_f64(), runner)?;
    let Some((wave, region, e)) = failure else {
        return Ok(());
    };
    let done: Vec<&Row> = rows
        .iter()
        .filter(|r| r.wave <= wave && r.outcome.as_ref().is_some_and(|o| o.result == Verdict::Succeeded))
        .collect();
    let names = |rows: &[&Row]| rows.iter().map(|r| r.region.as_str()).collect::<Vec<_>>().join(", ");
    let kept = if done.is_empty() {
        "no other region had deployed".to_string()
    } else if on_failure == WavesOnFailure::Stop || cancel.is_cancelled() {
        format!(
            "the regions that had succeeded stay on the new version ({})",
            names(&done)
        )
    } else {
        let (back, left): (Vec<&Row>, Vec<&Row>) = done
            .iter()
            .partition(|r| r.undone.as_deref() == Some(Verdict::RolledBack.as_str()));
        match left.is_empty() {
            true => format!(
                "the regions that had succeeded were rolled back too ({}; waves_on_failure: rollback_all)",
                names(&back)
            ),
            false => format!(
                "the regions that had succeeded were rolled back too ({}), except {}, which still run the new version (rolling back failed)",
                names(&back),
                names(&left)
            ),
        }
    };
    Err(e.with_suffix(&format!(
        "wave {wave} stopped the line at {region}; {kept}; later waves were not started"
    )))
}

/// One region's roll, timed, as a row.
async fn roll_region(
    one: Args,
    region: &str,
    wave: usize,
    runner: &Runner,
    cancel: &CancellationToken,
    pending: &Pending,
) -> (Row, Result<()>) {
    let started = Instant::now();
    let mut ended = None;
    let run = one.wave_run;
    let result = run_one(one, runner, cancel.clone(), pending.clone(), &mut ended).await;
    let row = Row {
        calls: ports::simulated_calls(run, region),
        region: region.to_string(),
        wave,
        result: match (&ended, &result) {
            (Some(o), _) => o.result.as_str().to_string(),
            (None, Ok(())) => "succeeded".into(),
            (None, Err(_)) => "failed".into(),
        },
        reason: result
            .as_ref()
            .err()
            .map(|e| e.render().lines().next().unwrap_or("").to_string()),
        previous: ended.as_ref().map(|o| o.details.previous()),
        new: ended.as_ref().map(|o| o.details.next()),
        seconds: started.elapsed().as_secs_f64(),
        undone: None,
        outcome: ended,
    };
    (row, result)
}

fn ended_text(row: &Row) -> String {
    match &row.reason {
        None => row.result.clone(),
        Some(reason) => format!("{}: {reason}", row.result),
    }
}

/// `rollback_all`: rolls every region that had succeeded (in the waves before `failed`, or
/// in it before the failure) back onto what it ran before (its previous launch template
/// version, image, or CodeDeploy revision), the latest wave first (its regions together),
/// with no alarm gate and no bake.
async fn rollback_finished(
    args: &Args,
    rows: &mut [Row],
    failed: usize,
    runner: &Runner,
    cancel: &CancellationToken,
    pending: &Pending,
) -> Result<()> {
    for wave in (1..=failed).rev() {
        let mut undo = Vec::new();
        let mut lone = Vec::new();
        for (n, row) in rows.iter().enumerate().filter(|(_, r)| r.wave == wave) {
            // Only a region this roll changed (not one that already ran the new version).
            let Some(outcome) = row.outcome.as_ref().filter(|o| o.result == Verdict::Succeeded) else {
                continue;
            };
            let mut one = region_args(args, &row.region, None);
            one.undoing = true;
            // Back onto what the region ran, whatever the roll's per-region artifacts say.
            (one.launch_template_versions, one.images) = (None, None);
            one.bake = Some(Duration::default());
            one.wait_until = WaitUntil::Completed;
            match &outcome.details {
                Details::Asg(d) => one.launch_template_version = d.previous_version.to_string(),
                Details::Ecs(d) => {
                    one.image = Some(d.previous_image.clone());
                    one.env.clear();
                }
                Details::Server(d) => match &d.previous_bundle {
                    Some(revision) => one.redeploy = Some(revision.clone()),
                    None => {
                        lone.push((n, "not rolled back: no earlier deployment succeeded there".to_string()));
                        continue;
                    }
                },
            }
            eprintln!(
                "==> rolling {} (wave {wave}) back onto {} (waves_on_failure: rollback_all)",
                row.region,
                outcome.details.previous()
            );
            let region = row.region.clone();
            undo.push(async move {
                let (row, result) = roll_region(one, &region, wave, runner, cancel, pending).await;
                let undone = match result {
                    Ok(()) => Verdict::RolledBack.as_str().to_string(),
                    Err(_) => format!("failed: {}", ended_text(&row)),
                };
                (n, undone)
            });
        }
        for (n, undone) in join_all(undo).await.into_iter().chain(lone) {
            eprintln!("{}: {undone} (waves_on_failure: rollback_all)", rows[n].region);
            rows[n].undone = Some(undone);
        }
    }
    Ok(())
}

/// The `regions` output, the summary table and the JSON document.
fn report(args: &Args, rows: &[Row], failed: Option<&str>, seconds: f64, runner: &Runner) -> Result<()> {
    let table: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
    // The roll's result: the failing region's, else the one every region had (succeeded
    // when they differ, e.g. some unchanged).
    let failing = failed.and_then(|f| rows.iter().find(|r| r.region == f));
    let result = match failing {
        Some(row) => row.result.clone(),
        None if rows.iter().all(|r| r.result == rows[0].result) => rows[0].result.clone(),
        None => Verdict::Succeeded.as_str().to_string(),
    };
    let outcomes = || rows.iter().filter_map(|r| r.outcome.as_ref());
    runner.set_outputs(&[
        ("result", result),
        (
            "target",
            outcomes()
                .next()
                .map(|o| o.target.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        ("rolled-back", outcomes().any(|o| o.rolled_back).to_string()),
        (
            "alarm",
            failing
                .and_then(|r| r.outcome.as_ref()?.alarm.clone())
                .unwrap_or_default(),
        ),
        ("duration", format!("{seconds:.0}")),
        ("regions", serde_json::Value::from(table.clone()).to_string()),
    ])?;
    let undo = rows.iter().any(|r| r.undone.is_some());
    let mut summary = String::from("| region | wave | result | previous | new | duration |");
    summary.push_str(if undo {
        " rolled back after the failure |\n"
    } else {
        "\n"
    });
    summary.push_str(if undo {
        "|---|---|---|---|---|---|---|\n"
    } else {
        "|---|---|---|---|---|---|\n"
    });
    for r in rows {
        summary.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}s |",
            r.region,
            r.wave,
            crate::report::escape_md(&ended_text(r)),
            r.previous.as_deref().unwrap_or("-"),
            r.new.as_deref().unwrap_or("-"),
            r.seconds.round()
        ));
        if undo {
            summary.push_str(&format!(" {} |", r.undone.as_deref().unwrap_or("-")));
        }
        summary.push('\n');
    }
    runner.add_summary(&summary)?;
    eprint!("{summary}");
    if args.output == Output::Json {
        let regions: Vec<serde_json::Value> = rows
            .iter()
            .zip(table)
            .map(|(r, mut v)| {
                if let Some(o) = &r.outcome {
                    v["outcome"] = to_json(o).unwrap_or_default();
                }
                v
            })
            .collect();
        cli::print_json(&serde_json::json!({
            "regions": regions,
            "seconds": seconds,
            "simulated": args.simulate,
        }))?;
    }
    Ok(())
}

/// `--plan-out` for every region: each region planned (together, read only) into a
/// scratch file, then one file holding them all.
async fn plan_all(
    args: &Args,
    (app, environment): (&str, &str),
    waves: &[Vec<String>],
    path: &std::path::Path,
    runner: &Runner,
    (cancel, pending): (&CancellationToken, &Pending),
) -> Result<()> {
    let scratch = Scratch::new()?;
    let mut plans = Vec::new();
    for region in waves.iter().flatten() {
        let mut one = region_args(args, region, None);
        let file = scratch.path(region);
        one.plan_out = Some(file.clone());
        plans.push(async move {
            eprintln!("==> planning {region}");
            let mut ended = None;
            let result = run_one(one, runner, cancel.clone(), pending.clone(), &mut ended).await;
            (region.clone(), file, result)
        });
    }
    let mut files = BTreeMap::new();
    for (region, file, result) in join_all(plans).await {
        result.map_err(|e| e.with_suffix(&format!("planning {region}")))?;
        let text = std::fs::read_to_string(&file).map_err(|e| Error::failed(format!("the plan of {region}: {e}")))?;
        files.insert(region, text);
    }
    let text = planfile::render_set(app, environment, waves, files)?;
    planfile::write_text(path, &text)?;
    eprintln!(
        "the plans of {} region(s) written to {}",
        waves.iter().flatten().count(),
        path.display()
    );
    Ok(())
}

/// A private scratch directory for per-region plan files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("slipway-plans-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::failed(format!("scratch directory for plans: {e}")))?;
        Ok(Scratch(dir))
    }

    fn path(&self, region: &str) -> PathBuf {
        self.0.join(format!("{region}.json"))
    }

    fn write(&self, region: &str, text: &str) -> Result<PathBuf> {
        let path = self.path(region);
        std::fs::write(&path, text).map_err(|e| Error::failed(format!("scratch plan of {region}: {e}")))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
