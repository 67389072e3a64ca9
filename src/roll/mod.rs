//! The one rollout driver. Every target (an Auto Scaling group in `asg`, an ECS service
//! in `ecs`) implements `Rollout`: read-only discovery builds a plan, the driver carries
//! it out step by step, and on failure, timeout or a signal it asks the target to clean
//! up, then reports one typed `Outcome`. Dry runs, plan files (`--plan-out`/`--apply`
//! with the drift check), the busy check, signals, the deadline and reports live here
//! once, for every target.

pub mod asg;
pub mod calls;
pub mod codedeploy;
pub mod command;
pub mod ecs;
pub mod outcome;
pub mod planfile;
pub mod report;
pub mod simulate;

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use asg::{AsgRollout, Capacity, Observed, Plan, Request, Step};
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
    let mut failure = None;
    for n in 0..t.steps(plan) {
        ctx.pending.set(t.left_to_do(plan, &run));
        if ctx.cancel.is_cancelled() {
            failure = Some(Error::interrupted(Some(format!("before step {}", n + 1))));
            break;
        }
        if let Err(e) = t.step(plan, n, ctx, &mut run).await {
            failure = Some(e);
            break;
        }
    }
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
    (outcome, result)
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

/// Discovery (after the busy check), then the plan carried out, or only returned.
pub async fn roll<T: Rollout>(t: &T, mode: Mode, ctx: &mut Ctx) -> Finished<T::Plan> {
    let start = Instant::now();
    let discovered = match idle(t, ctx).await {
        Ok(()) => t.discover(ctx).await,
        Err(e) => Err(e),
    };
    let plan = match discovered {
        Ok(plan) => plan,
        Err(e) => return refused(t, None, e, start),
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
                outcome,
                result: Ok(()),
            }
        }
        Mode::Roll => {
            ctx.say(t.plan_text(&plan).trim_end());
            let (outcome, result) = execute(t, &plan, ctx).await;
            Finished {
                plan: Some(plan),
                outcome,
                result,
            }
        }
    }
}

/// Stopped before the plan was carried out: refused (bad input, a busy fleet, drift, a
/// failed read), or aborted by a signal or the deadline.
fn refused<T: Rollout>(t: &T, plan: Option<T::Plan>, e: Error, start: Instant) -> Finished<T::Plan> {
    let verdict = match Stop::of(&e) {
        Stop::BadInput | Stop::Failure => Verdict::Refused,
        Stop::Interrupted | Stop::TimedOut => Verdict::Aborted,
    };
    let outcome = outcome_of(t, plan.as_ref(), None, verdict, (Some(&e), Some(Stop::of(&e))), start);
    Finished {
        plan,
        outcome,
        result: Err(e),
    }
}

/// `--apply`: discovers again, refuses (bad input, with a diff) when the fleet drifted
/// from what the plan assumed, and otherwise carries out exactly the plan.
pub async fn apply<T: Rollout>(t: &T, plan: &T::Plan, ctx: &mut Ctx) -> Finished<T::Plan> {
    let start = Instant::now();
    let checked = match t.rediscover(plan, ctx).await {
        Ok(fresh) => t.drift(plan, &fresh),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        return refused(t, Some(plan.clone()), e, start);
    }
    ctx.say(t.plan_text(plan).trim_end());
    let (outcome, result) = execute(t, plan, ctx).await;
    Finished {
        plan: Some(plan.clone()),
        outcome,
        result,
    }
}
