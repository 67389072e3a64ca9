//! The CloudWatch alarms port: the state of named alarms (metric and composite), read
//! before a roll and watched while it runs.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{AlarmState, CloudResult};

/// One alarm as the roll sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub state: AlarmState,
    /// CloudWatch's explanation of the state, e.g. "Threshold Crossed: 1 datapoint ...".
    pub reason: String,
    /// When the state last changed (ISO 8601, UTC), when CloudWatch said.
    pub updated: Option<String>,
    /// A composite alarm (made of other alarms) rather than a metric alarm.
    pub composite: bool,
}

impl Alarm {
    /// `alarm web-5xx is ALARM since 2026-11-23T13:02:11Z: Threshold Crossed: ...`.
    pub fn describe(&self) -> String {
        let since = self
            .updated
            .as_deref()
            .map(|t| format!(" since {t}"))
            .unwrap_or_default();
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", self.reason)
        };
        format!("alarm {} is {}{since}{reason}", self.name, self.state)
    }
}

/// At most this many names go into one DescribeAlarms call (AWS's limit).
pub const NAMES_PER_CALL: usize = 100;

#[async_trait]
pub trait Alarms: Send + Sync {
    /// The named alarms that exist, metric and composite (a name that does not exist is
    /// simply absent from the answer).
    async fn describe(&self, names: &[String]) -> CloudResult<Vec<Alarm>>;
}
