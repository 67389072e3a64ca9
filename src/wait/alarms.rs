//! The alarm probe: CloudWatch alarms (metric or composite) read together in one
//! DescribeAlarms call per poll. It is a watch: polled until the gate ends, so an alarm
//! going into ALARM fails the gate at once, naming the alarm, its reason and when. An
//! alarm that does not exist is bad input. The roll driver watches alarms with it too.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::cloud;
use super::engine::Check;
use super::gate::Probe;
use crate::cloud::{Alarm, AlarmState, Alarms};
use crate::config::MissingData;
use crate::error::{Error, Result};

/// The named alarms, watched.
pub struct AlarmProbe {
    port: Arc<dyn Alarms>,
    names: Vec<String>,
    missing_data: MissingData,
    interval: Duration,
}

impl AlarmProbe {
    pub fn new(port: Arc<dyn Alarms>, names: Vec<String>, missing_data: MissingData, interval: Duration) -> Self {
        AlarmProbe {
            port,
            names,
            missing_data,
            interval,
        }
    }

    /// Reads the alarms once; names that do not exist are bad input (listing them).
    pub async fn read(&self) -> std::result::Result<Vec<Alarm>, ReadError> {
        let found = self.port.describe(&self.names).await.map_err(ReadError::Cloud)?;
        check_exist(&self.names, &found).map_err(ReadError::Missing)?;
        Ok(found)
    }
}

/// Why the alarms could not be read.
pub enum ReadError {
    Cloud(crate::cloud::CloudError),
    Missing(Error),
}

/// Refuses (bad input) when some of `names` are not among `found`, listing them.
pub fn check_exist(names: &[String], found: &[Alarm]) -> Result<()> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !found.iter().any(|a| &a.name == *n))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "CloudWatch alarm(s) not found: {} (health.alarms or --alarm)",
            missing.join(", ")
        ),
        "check the names and the region: `aws cloudwatch describe-alarms --alarm-names NAME` shows an alarm",
    ))
}

/// Whether an alarm in this state fails a roll or a wait.
pub fn failing(state: &AlarmState, missing_data: MissingData) -> bool {
    match state {
        AlarmState::Alarm => true,
        AlarmState::Ok => false,
        // An unknown state is treated like missing data: failing only when told so.
        AlarmState::InsufficientData | AlarmState::Unknown(_) => missing_data == MissingData::Fail,
    }
}

/// One look at the alarms: Failed naming the first failing alarm, or Done.
pub fn verdict(alarms: &[Alarm], missing_data: MissingData) -> Check<String> {
    if let Some(bad) = alarms.iter().find(|a| failing(&a.state, missing_data)) {
        return Check::Failed(bad.describe());
    }
    let quiet: Vec<String> = alarms
        .iter()
        .filter(|a| a.state != AlarmState::Ok)
        .map(|a| format!("{} {} (ignored)", a.name, a.state))
        .collect();
    let ok = alarms.len() - quiet.len();
    let mut detail = format!("{ok}/{} alarm(s) OK", alarms.len());
    if !quiet.is_empty() {
        detail.push_str(&format!("; {}", quiet.join(", ")));
    }
    Check::Done(detail)
}

#[async_trait]
impl Probe for AlarmProbe {
    fn kind(&self) -> &'static str {
        "alarm"
    }

    fn name(&self) -> String {
        self.names.join(", ")
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        match self.read().await {
            Ok(found) => Ok(verdict(&found, self.missing_data)),
            Err(ReadError::Missing(e)) => Err(e),
            Err(ReadError::Cloud(e)) => Ok(cloud::after_error(&e)),
        }
    }

    fn watch(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimAlarms;
    use crate::wait::{gate, Outcome, Progress};
    use tokio_util::sync::CancellationToken;

    fn probe(alarms: &SimAlarms, names: &[&str], missing: MissingData) -> Box<dyn Probe> {
        let names = names.iter().map(|n| n.to_string()).collect();
        Box::new(AlarmProbe::new(
            Arc::new(alarms.clone()),
            names,
            missing,
            Duration::from_secs(5),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_is_watched_until_the_gate_ends_and_fails_it_naming_reason_and_time() {
        let alarms = SimAlarms::new();
        alarms.put("web-5xx", AlarmState::Ok);
        alarms.set_all_after(Duration::from_secs(12), AlarmState::Alarm);
        // A probe that takes 60s to get healthy keeps the gate open; the alarm is polled meanwhile.
        struct Slow(tokio::time::Instant);
        #[async_trait]
        impl Probe for Slow {
            fn kind(&self) -> &'static str {
                "slow"
            }
            fn name(&self) -> String {
                "slow".into()
            }
            fn interval(&self) -> Duration {
                Duration::from_secs(5)
            }
            async fn poll(&mut self) -> Result<Check<String>> {
                Ok(if self.0.elapsed() >= Duration::from_secs(60) {
                    Check::Done("up".into())
                } else {
                    Check::Pending("booting".into())
                })
            }
        }
        let probes = vec![
            probe(&alarms, &["web-5xx"], MissingData::Ignore),
            Box::new(Slow(tokio::time::Instant::now())) as Box<dyn Probe>,
        ];
        let report = gate(
            probes,
            Duration::from_secs(300),
            &CancellationToken::new(),
            &mut Progress::hidden(),
        )
        .await
        .unwrap();
        assert_eq!(report.outcome, Outcome::Failed);
        let cause = report.cause.unwrap();
        assert!(
            cause.contains("alarm web-5xx is ALARM since 2026-01-01T00:00:12Z"),
            "{cause}"
        );
        assert!(report.elapsed <= Duration::from_secs(18), "{:?}", report.elapsed);
    }

    #[tokio::test(start_paused = true)]
    async fn missing_data_is_ignored_unless_told_and_missing_alarms_are_bad_input() {
        let alarms = SimAlarms::new();
        alarms.put("quiet", AlarmState::InsufficientData);
        let run = |missing| {
            let p = probe(&alarms, &["quiet"], missing);
            async move {
                gate(
                    vec![p],
                    Duration::from_secs(30),
                    &CancellationToken::new(),
                    &mut Progress::hidden(),
                )
                .await
            }
        };
        assert_eq!(run(MissingData::Ignore).await.unwrap().outcome, Outcome::Healthy);
        assert_eq!(run(MissingData::Fail).await.unwrap().outcome, Outcome::Failed);
        let p = probe(&alarms, &["quiet", "nope"], MissingData::Ignore);
        let err = gate(
            vec![p],
            Duration::from_secs(30),
            &CancellationToken::new(),
            &mut Progress::hidden(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("not found: nope"), "{err}");
    }
}
