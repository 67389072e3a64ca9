//! The one rollout driver. Every target (an Auto Scaling group in `asg`, an ECS service
//! in `ecs`) implements `Rollout`: read-only discovery builds a plan, the driver carries
//! it out step by step, and on failure, timeout or a signal it asks the target to clean
//! up, then reports one typed `Outcome`. Dry runs, plan files (`--plan-out`/`--apply`
//! with the drift check), the busy check, the alarm gate and the bake (`watch`), signals,
//! the deadline and reports live here once, for every target.

pub mod asg;
pub mod calls;
pub mod codedeploy;
pub mod codedeploy_ec2;
pub mod command;
pub mod ecs;
pub mod outcome;
pub mod planfile;
pub mod report;
pub mod simulate;
pub mod watch;

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use asg::{AsgRollout, Capacity, Observed, Plan, Request, Step};

/// Where a roll of a deployment the platform finishes by itself (ECS blue/green, canary,
/// linear; CodeDeploy) returns: when production traffic is on the new version, or when
/// the deployment completed (its bake included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WaitUntil {
    /// Return once production traffic is on the new version; the platform bakes, watches
    /// the alarms and rolls back by itself, and `--resume` follows it later.
    TrafficShifted,
    /// Follow the deployment to its end (the default).
    #[default]
    Completed,
}

impl WaitUntil {
    pub fn is_completed(&self) -> bool {
        *self == WaitUntil::Completed
    }
}
pub use calls::Ctx;
pub use outcome::{Details, Outcome, Stop, Target, Verdict};

use crate::error::{Error, Result};
use crate::wait::{self, Check, Pacing};

/// How a target's cleanup left things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleaned {
    /// Nothing had been changed.
    Nothing,
    /// Back on the previous version.
    RolledBack,
    /// Past the point of no return: the new version serves, the cleanup finished the roll.
    Finished,
}

/// A fleet slipway can roll. One implementation per target; the driver does the rest.
pub trait Rollout: Sync {
    /// What discovery saw and the ordered mutations intended; serialised into plan files.
    type Plan: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// What the roll has changed so far: what the cleanup must undo.
    type Run: Default + Send;

    const TARGET: Target;

    /// The group or service, for outcomes before there is a plan.
    fn name(&self) -> String;

    /// Why the fleet is busy (a deployment or refresh in progress), or None when idle.
    fn busy(&self, ctx: &Ctx) -> impl Future<Output = Result<Option<String>>>;

    /// Whether the request asked to wait for a busy fleet instead of refusing.
    fn wait_for_idle(&self) -> bool;

    /// Read-only: the plan for the request.
    fn discover(&self, ctx: &mut Ctx) -> impl Future<Output = Result<Self::Plan>>;

    /// Read-only: the plan the same request would make now, for the drift check of `--apply`.
    fn rediscover(&self, plan: &Self::Plan, ctx: &mut Ctx) -> impl Future<Output = Result<Self::Plan>>;

    /// Refuses (bad input, with a readable diff) when `fresh` is not what `planned` assumed.
    fn drift(&self, planned: &Self::Plan, fresh: &Self::Plan) -> Result<()>;

    /// The plan as readable lines.
    fn plan_text(&self, plan: &Self::Plan) -> String;

    /// How many steps the plan has (0: nothing to do).
    fn steps(&self, plan: &Self::Plan) -> usize;

    /// Why there is nothing to do, when the plan has no steps.
    fn up_to_date(&self, plan: &Self::Plan) -> String;

    /// Carries out step `n` of the plan.
    fn step(&self, plan: &Self::Plan, n: usize, ctx: &mut Ctx, run: &mut Self::Run)
        -> impl Future<Output = Result<()>>;

    /// The cleanup left to do by hand, as it stands now (for a second signal and the error).
    fn left_to_do(&self, plan: &Self::Plan, run: &Self::Run) -> Vec<String>;

    /// Restores what the run changed (or finishes it past its point of no return).
    fn cleanup(&self, plan: &Self::Plan, ctx: &mut Ctx, run: &mut Self::Run) -> impl Future<Output = Result<Cleaned>>;

    /// How the cleanup left things, in a few words for the error ("rolled back to version 3").
    fn ending(&self, plan: &Self::Plan, run: &Self::Run, cleaned: Cleaned) -> String;

    /// What the cleanup did, one line per action.
    fn cleanup_log(&self, run: &Self::Run) -> Vec<String>;

    /// The step before which the bake runs (`steps(plan)`, the default: after the last).
    /// A target whose last steps remove the old version (surge) bakes before them, so
    /// the old version still serves and is what a failed bake rolls back to.
    fn bake_point(&self, plan: &Self::Plan) -> usize {
        self.steps(plan)
    }

    /// Whether the platform bakes within the plan's steps (an instance refresh's BakeTime,
    /// an ECS blue/green bake with the old tasks standing by): the alarms are watched
    /// through that bake, and the driver adds no second one after it.
    fn platform_bakes(&self, _plan: &Self::Plan) -> bool {
        false
    }

    /// The verdict of a run that finished every step (Succeeded, or Registered when the
    /// plan stops before changing what serves).
    fn completed(&self, _plan: &Self::Plan, _run: &Self::Run) -> Verdict {
        Verdict::Succeeded
    }

    /// The target's facts for the outcome. `plan` is None when discovery failed.
    fn details(&self, plan: Option<&Self::Plan>, run: Option<&Self::Run>, verdict: Verdict) -> Details;
}

/// How long a cleanup may wait: it is patient, since giving up would leave the fleet half-done.
pub fn cleanup_timeout(timeout: Duration) -> Duration {
    (timeout * 3).max(Duration::from_secs(3600))
}

/// What the driver ended with: the outcome for reports and, when the roll did not
/// succeed, the error that stopped it (with how the cleanup left things).
pub struct Finished<P> {
    pub plan: Option<P>,
    /// The alarms (as read before any change) and the bake.
    pub watch: watch::Watch,
    pub outcome: Outcome,
    pub result: Result<()>,
}

fn outcome_of<T: Rollout>(
    t: &T,
    plan: Option<&T::Plan>,
    run: Option<&T::Run>,
    verdict: Verdict,
    (err, stopped_by): (Option<&Error>, Option<Stop>),
    start: Instant,
) -> Outcome {
    let mut outcome = Outcome::new(T::TARGET, t.name(), verdict, t.details(plan, run, verdict));
    outcome.stopped_by = stopped_by;
    outcome.error = err.map(|e| e.to_string());
    outcome.cleanup = run.map(|r| t.cleanup_log(r)).unwrap_or_default();
    outcome.duration_seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    outcome.settle();
    outcome
}

/// Refuses a busy fleet, or waits until it is idle when the request says so.
async fn idle<T: Rollout>(t: &T, ctx: &mut Ctx) -> Result<()> {
    let Some(why) = t.busy(ctx).await? else {
        return Ok(());
    };
    let name = t.name();
    if !t.wait_for_idle() {
        return Err(Error::input(
            format!("{} {name} is busy: {why}", T::TARGET.noun()),
            "wait for it to finish, or pass --wait-for-idle to wait for it before rolling",
        ));
    }
    ctx.say(&format!("{name} is busy ({why}); waiting until it is idle"));
    let pacing = Pacing::new(ctx.poll, ctx.timeout);
    let cancel = ctx.cancel.clone();
    let quiet = Ctx::quiet(cancel.clone());
    wait::until(&format!("{name} idle"), &pacing, &cancel, &mut ctx.progress, || async {
        Ok(match t.busy(&quiet).await? {
            Some(why) => Check::Pending(why),
            None => Check::Done(()),
        })
    })
    .await
}

/// Carries out the plan. On failure, timeout or a signal it cleans up, then reports.
pub async fn execute<T: Rollout>(t: &T, plan: &T::Plan, ctx: &mut Ctx) -> (Outcome, Result<()>) {
    let start = Instant::now();
    let mut run = T::Run::default();
    if t.steps(plan) == 0 {
        ctx.say(&t.up_to_date(plan));
        let outcome = outcome_of(t, Some(plan), Some(&run), Verdict::Unchanged, (None, None), start);
        return (outcome, Ok(()));
    }
    // The alarms are watched beside the steps and the bake: a failing alarm cancels the
    // steps' token, and its error replaces the interruption that follows.
    let parent = ctx.cancel.clone();
    let steps_cancel = parent.child_token();
    let stop = parent.child_token();
    ctx.cancel = steps_cancel.clone();
    let watcher = watch::Watcher::of(ctx);
    let body = async {
        let failure = steps(t, plan, ctx, &mut run).await;
        stop.cancel();
        failure
    };
    let watching = async {
        let tripped = match &watcher {
            Some(w) => w.run(&stop).await,
            None => None,
        };
        if tripped.is_some() {
            steps_cancel.cancel();
        }
        tripped
    };
    let (failure, tripped) = tokio::join!(body, watching);
    ctx.cancel = parent;
    let mut alarm = None;
    let failure = match tripped {
        Some(tripped) => {
            alarm = tripped.alarm;
            Some(tripped.error)
        }
        None => failure,
    };
    // What stopped the roll (not a cleanup's failure after it) decides `stopped_by`.
    let stopped_by = failure.as_ref().map(Stop::of);
    let (verdict, result) = match failure {
        None => (t.completed(plan, &run), Ok(())),
        Some(err) => {
            ctx.say(&format!("error: {}", err.render()));
            // The cleanup runs to the end even after a signal, and it is patient.
            ctx.cancel = CancellationToken::new();
            ctx.timeout = ctx.cleanup_timeout.unwrap_or(cleanup_timeout(ctx.timeout));
            ctx.pending.set(t.left_to_do(plan, &run));
            match t.cleanup(plan, ctx, &mut run).await {
                Ok(cleaned) => {
                    let verdict = match cleaned {
                        Cleaned::Nothing => Verdict::Aborted,
                        Cleaned::RolledBack => Verdict::RolledBack,
                        Cleaned::Finished => Verdict::Finished,
                    };
                    (verdict, Err(err.with_suffix(&t.ending(plan, &run, cleaned))))
                }
                Err(cleanup_err) => {
                    // A cleanup that did not finish is a failure, whatever stopped the roll.
                    let message = format!("{err}; then the cleanup failed: {cleanup_err}");
                    let help = format!("left to do by hand: {}", t.left_to_do(plan, &run).join("; "));
                    (Verdict::Failed, Err(Error::failed_with_help(message, help)))
                }
            }
        }
    };
    ctx.pending.set(Vec::new());
    ctx.end_phases();
    let outcome = outcome_of(
        t,
        Some(plan),
        Some(&run),
        verdict,
        (result.as_ref().err(), stopped_by),
        start,
    );
    let outcome = Outcome { alarm, ..outcome };
    (outcome, result)
}

/// The steps in order, with the bake at the target's bake point; the first failure.
async fn steps<T: Rollout>(t: &T, plan: &T::Plan, ctx: &mut Ctx, run: &mut T::Run) -> Option<Error> {
    let count = t.steps(plan);
    let bake_at = t.bake_point(plan).min(count);
    for n in 0..=count {
        // No bake when nothing that serves changed (ECS --register-only).
        if n == bake_at
            && !ctx.bake.is_zero()
            && !t.platform_bakes(plan)
            && t.completed(plan, run) == Verdict::Succeeded
        {
            ctx.pending.set(t.left_to_do(plan, run));
            if let Err(e) = watch::bake(ctx).await {
                return Some(e);
            }
        }
        if n == count {
            break;
        }
        ctx.pending.set(t.left_to_do(plan, run));
        if ctx.cancel.is_cancelled() {
            return Some(Error::interrupted(Some(format!("before step {}", n + 1))));
        }
        if let Err(e) = t.step(plan, n, ctx, run).await {
            return Some(e);
        }
    }
    None
}

/// What the driver is asked to do with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Discover, then carry out the plan.
    Roll,
    /// Discover and return the plan; change nothing.
    DryRun,
    /// Like DryRun; the caller writes the plan to a file.
    PlanOut,
}

/// Discovery (after the busy check) and the alarms read, then the plan carried out, or
/// only returned. Alarms that do not exist refuse every mode (bad input); an alarm
/// already failing refuses a roll (a dry run shows it).
pub async fn roll<T: Rollout>(t: &T, mode: Mode, ctx: &mut Ctx) -> Finished<T::Plan> {
    let start = Instant::now();
    let discovered = match idle(t, ctx).await {
        Ok(()) => t.discover(ctx).await,
        Err(e) => Err(e),
    };
    let plan = match discovered {
        Ok(plan) => plan,
        Err(e) => return refused(t, None, watch::Watch::default(), e, start),
    };
    let watch = match watch::read(ctx).await {
        Ok(watch) => watch,
        Err(e) => return refused(t, Some(plan), watch::Watch::default(), e, start),
    };
    match mode {
        Mode::DryRun | Mode::PlanOut => {
            let verdict = if mode == Mode::DryRun {
                Verdict::DryRun
            } else {
                Verdict::Planned
            };
            let outcome = outcome_of(t, Some(&plan), None, verdict, (None, None), start);
            Finished {
                plan: Some(plan),
                watch,
                outcome,
                result: Ok(()),
            }
        }
        Mode::Roll => carry_out(t, plan, watch, ctx, start).await,
    }
}

/// Refuses when an alarm is already failing, otherwise carries out the plan.
async fn carry_out<T: Rollout>(
    t: &T,
    plan: T::Plan,
    watch: watch::Watch,
    ctx: &mut Ctx,
    start: Instant,
) -> Finished<T::Plan> {
    ctx.say(format!("{}{}", t.plan_text(&plan), watch.text()).trim_end());
    if let Some(alarm) = watch::refusing(&watch) {
        let name = alarm.name.clone();
        let e = watch::refusal(alarm);
        let mut finished = refused(t, Some(plan), watch, e, start);
        finished.outcome.alarm = Some(name);
        return finished;
    }
    let (outcome, result) = execute(t, &plan, ctx).await;
    Finished {
        plan: Some(plan),
        watch,
        outcome,
        result,
    }
}

/// Stopped before the plan was carried out: refused (bad input, a busy fleet, drift, a
/// failed read, an alarm), or aborted by a signal or the deadline.
fn refused<T: Rollout>(
    t: &T,
    plan: Option<T::Plan>,
    watch: watch::Watch,
    e: Error,
    start: Instant,
) -> Finished<T::Plan> {
    let verdict = match Stop::of(&e) {
        Stop::BadInput | Stop::Failure => Verdict::Refused,
        Stop::Interrupted | Stop::TimedOut => Verdict::Aborted,
    };
    let outcome = outcome_of(t, plan.as_ref(), None, verdict, (Some(&e), Some(Stop::of(&e))), start);
    Finished {
        plan,
        watch,
        outcome,
        result: Err(e),
    }
}

/// `--apply`: discovers again, refuses (bad input, with a diff) when the fleet drifted
/// from what the plan assumed, reads the alarms again, and otherwise carries out exactly
/// the plan.
pub async fn apply<T: Rollout>(t: &T, plan: &T::Plan, ctx: &mut Ctx) -> Finished<T::Plan> {
    let start = Instant::now();
    let checked = match t.rediscover(plan, ctx).await {
        Ok(fresh) => t.drift(plan, &fresh),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        return refused(t, Some(plan.clone()), watch::Watch::default(), e, start);
    }
    let watch = match watch::read(ctx).await {
        Ok(watch) => watch,
        Err(e) => return refused(t, Some(plan.clone()), watch::Watch::default(), e, start),
    };
    carry_out(t, plan.clone(), watch, ctx, start).await
}
