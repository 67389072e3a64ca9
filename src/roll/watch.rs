//! The alarm gate and the bake, for every target: the alarms are read before any change
//! (missing names are bad input, one already in ALARM refuses the roll), watched from the
//! first step until the end of the bake while the steps run (a failing alarm trips the
//! steps' cancellation, and the driver reports the alarm instead of the interruption),
//! and the bake keeps watching the alarms and the extra probes for a while once the new
//! version takes all traffic. All polling goes through `wait` (the engine and the gate).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::calls::{self, Ctx};
use crate::cloud::{Alarm, Alarms};
use crate::config::{self, MissingData};
use crate::error::{Error, Result};
use crate::wait::alarms::{check_exist, failing, AlarmProbe, ReadError};
use crate::wait::{self, Check, Outcome as GateOutcome, Pacing, Progress, Span};

/// What a plan says about alarms and the bake: the alarms as they were when planned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub alarms: Vec<Alarm>,
    #[serde(default)]
    pub alarms_missing_data: MissingData,
    #[serde(default)]
    pub bake: config::Duration,
}

impl Watch {
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.bake.std().is_zero()
    }

    /// Lines for the plan text (nothing when there are no alarms and no bake).
    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.alarms.is_empty() {
            let list: Vec<String> = self
                .alarms
                .iter()
                .map(|a| format!("{} ({})", a.name, a.state))
                .collect();
            out.push_str(&format!(
                "  alarms watched from the first change until the end: {}\n",
                list.join(", ")
            ));
        }
        if !self.bake.std().is_zero() {
            out.push_str(&format!(
                "  bake for {} once the new version takes all traffic (alarms and health URLs watched)\n",
                self.bake
            ));
        }
        out
    }
}

/// The most alarms AWS takes in an instance refresh's AlarmSpecification and in a CodeDeploy
/// deployment's alarmConfiguration. Sources: autoscaling 2011-01-01 model,
/// AlarmSpecification.Alarms ("You can specify up to 10 alarms."); codedeploy 2014-10-06
/// model, AlarmConfiguration.alarms ("A maximum of 10 alarms can be added."). ECS's
/// DeploymentAlarms states no count (ecs 2014-11-13 model), so an ECS deployment gets all.
pub const AWS_MAX_ALARMS: usize = 10;

/// The alarms handed to an instance refresh or a CodeDeploy deployment: the first
/// [`AWS_MAX_ALARMS`]. slipway watches every one of them itself either way.
pub fn for_aws(alarms: &[String]) -> Vec<String> {
    alarms.iter().take(AWS_MAX_ALARMS).cloned().collect()
}

/// What to say when not every alarm can go to AWS: which do, and that slipway watches all.
pub fn for_aws_note(alarms: &[String], platform: &str) -> Option<String> {
    (alarms.len() > AWS_MAX_ALARMS).then(|| {
        format!(
            "{platform} takes at most {AWS_MAX_ALARMS} alarms (AWS's limit): it gets {}; slipway watches all {} itself, \
             so {} roll back only while slipway runs",
            for_aws(alarms).join(", "),
            alarms.len(),
            alarms[AWS_MAX_ALARMS..].join(", ")
        )
    })
}

/// Names in order, each once.
pub fn dedup(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn port(ctx: &Ctx) -> Result<Arc<dyn Alarms>> {
    ctx.alarm_port
        .clone()
        .ok_or_else(|| Error::failed("alarms are configured but this roll has no CloudWatch client"))
}

/// Reads the alarms before any change; names that do not exist are bad input.
pub async fn read(ctx: &Ctx) -> Result<Watch> {
    let mut watch = Watch {
        alarms: Vec::new(),
        alarms_missing_data: ctx.alarms_missing_data,
        bake: config::Duration(ctx.bake),
    };
    if ctx.alarms.is_empty() {
        return Ok(watch);
    }
    let port = port(ctx)?;
    let names = &ctx.alarms;
    let found = calls::retry("DescribeAlarms", &ctx.cancel, || port.describe(names)).await?;
    check_exist(names, &found)?;
    // In the order asked for.
    watch.alarms = names
        .iter()
        .filter_map(|n| found.iter().find(|a| &a.name == n).cloned())
        .collect();
    Ok(watch)
}

/// The alarm that refuses a roll before its first change, if any.
pub fn refusing(watch: &Watch) -> Option<&Alarm> {
    watch
        .alarms
        .iter()
        .find(|a| failing(&a.state, watch.alarms_missing_data))
}

/// The refusal for an alarm already failing before the first change.
pub fn refusal(alarm: &Alarm) -> Error {
    Error::failed_with_help(
        format!("{}; refusing to roll while it is", alarm.describe()),
        "roll once the alarm is OK again (or remove it from health.alarms if it does not watch this service)",
    )
}

/// Longer than any roll: the watch ends when the roll does.
const FOREVER: Duration = Duration::from_secs(30 * 24 * 3600);

/// The alarms are read at least this far apart: one DescribeAlarms call covers up to 100
/// alarms, and at this pace a roll makes at most about 16 a minute (CloudWatch's budget is
/// shared with dashboards and other tools), while an alarm still stops a roll within 4s.
pub const ALARM_FLOOR: Duration = Duration::from_secs(4);

/// How often a roll polling every `poll` reads its alarms.
pub fn alarm_interval(poll: Duration) -> Duration {
    poll.max(ALARM_FLOOR)
}

/// Watches the alarms every `alarm_interval(poll)` for as long as a roll runs.
pub struct Watcher {
    probe: AlarmProbe,
    poll: Duration,
    missing_data: MissingData,
}

/// What stopped the watch: an alarm (its name) and the roll's error.
pub struct Tripped {
    pub alarm: Option<String>,
    pub error: Error,
}

impl Watcher {
    /// None when the roll watches no alarms.
    pub fn of(ctx: &Ctx) -> Option<Watcher> {
        if ctx.alarms.is_empty() {
            return None;
        }
        let port = ctx.alarm_port.clone()?;
        Some(Watcher {
            probe: AlarmProbe::new(
                port,
                ctx.alarms.clone(),
                ctx.alarms_missing_data,
                alarm_interval(ctx.poll),
            ),
            poll: alarm_interval(ctx.poll),
            missing_data: ctx.alarms_missing_data,
        })
    }

    /// Polls until `stop` fires (None) or an alarm fails, goes missing or cannot be read
    /// (Some). The first look is one interval in: the alarms were read just before.
    pub async fn run(&self, stop: &CancellationToken) -> Option<Tripped> {
        let pacing = Pacing::new(self.poll, FOREVER);
        if !wait::sleep_until(tokio::time::Instant::now() + pacing.next_interval(), stop).await {
            return None;
        }
        let tripped: Mutex<Option<String>> = Mutex::new(None);
        let (probe, slot, missing_data) = (&self.probe, &tripped, self.missing_data);
        let result = wait::until("alarms", &pacing, stop, &mut Progress::hidden(), move || async move {
            match probe.read().await {
                Ok(found) => match found.iter().find(|a| failing(&a.state, missing_data)) {
                    Some(bad) => {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(bad.name.clone());
                        Ok(Check::Failed(bad.describe()))
                    }
                    None => Ok(Check::Pending(format!("{} alarm(s) not in ALARM", found.len()))),
                },
                Err(ReadError::Missing(e)) => Ok(Check::Failed(format!("{e} (deleted during the roll?)"))),
                Err(ReadError::Cloud(e)) => Ok(wait::cloud::after_error(&e)),
            }
        })
        .await;
        let alarm = tripped.into_inner().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(Error::Interrupted { .. }) if stop.is_cancelled() => None,
            Ok(()) => None,
            Err(error) => Some(Tripped { alarm, error }),
        }
    }
}

/// The bake: the alarms keep being watched (by the running `Watcher`) and the extra
/// probes are watched for `ctx.bake`; a probe failing, or unhealthy on
/// `wait::WATCH_MISSES` looks in a row, fails it.
pub async fn bake(ctx: &mut Ctx) -> Result<()> {
    let (time, probes) = (ctx.bake, std::mem::take(&mut ctx.probes));
    let (probes, result) = bake_on(ctx, time, "bake", probes).await;
    ctx.probes = probes;
    result
}

/// A bake of `time` over `probes` (the alarms still watched by the running `Watcher`),
/// named `what` in its messages ("bake", "bake at 10%"); the probes are handed back for later gates.
pub async fn bake_on(
    ctx: &mut Ctx,
    time: Duration,
    what: &str,
    mut probes: Vec<Box<dyn crate::wait::Probe>>,
) -> (Vec<Box<dyn crate::wait::Probe>>, Result<()>) {
    ctx.phase(&format!("{what} for {}", config::Duration(time)));
    let cancel = ctx.cancel.clone();
    let report = match wait::gate_on(&mut probes, Span::bake(time), &cancel, &mut ctx.progress).await {
        Ok(report) => report,
        Err(e) => return (probes, Err(e)),
    };
    let cause = report.cause.clone().unwrap_or_default();
    let result = match report.outcome {
        GateOutcome::Healthy | GateOutcome::Planned => {
            ctx.say(&format!("{what} done: healthy for {}", config::Duration(time)));
            Ok(())
        }
        GateOutcome::Failed | GateOutcome::TimedOut => Err(Error::failed(format!("the {what} failed: {cause}"))),
        GateOutcome::Interrupted => Err(Error::interrupted(Some(format!("during the {what}")))),
    };
    (probes, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_gets_at_most_ten_alarms_and_the_note_names_the_rest() {
        let names: Vec<String> = (1..=12).map(|i| format!("a{i}")).collect();
        assert_eq!(for_aws(&names), names[..AWS_MAX_ALARMS]);
        assert_eq!(for_aws(&names[..3]), names[..3]);
        assert_eq!(for_aws_note(&names[..10], "x"), None, "ten fit");
        let note = for_aws_note(&names, "an instance refresh").unwrap();
        assert!(
            note.starts_with("an instance refresh takes at most 10 alarms"),
            "{note}"
        );
        assert!(
            note.contains("it gets a1, a2, a3, a4, a5, a6, a7, a8, a9, a10;"),
            "{note}"
        );
        assert!(note.contains("watches all 12 itself, so a11, a12 roll back"), "{note}");
    }
}
