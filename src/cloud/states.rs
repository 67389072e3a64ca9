//! AWS states as enums: instance lifecycle and health, target health, instance refresh
//! status, ECS deployment status and rollout state, CloudWatch alarm state. Each has an explicit `Unknown` arm
//! holding a value AWS may add later, so code matches states exhaustively and decides on
//! purpose what an unknown one means, instead of comparing strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An enum of AWS's names for a state, with `Unknown(String)` for names added later.
macro_rules! aws_state {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of slipway does not know.
            Unknown(String),
        }

        impl $name {
            /// AWS's name for it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Unknown(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(String::deserialize(d)?.as_str().into())
            }
        }
    };
}

aws_state! {
    /// An Auto Scaling instance's lifecycle state.
    Lifecycle {
        Pending = "Pending",
        PendingWait = "Pending:Wait",
        PendingProceed = "Pending:Proceed",
        Quarantined = "Quarantined",
        InService = "InService",
        Terminating = "Terminating",
        TerminatingWait = "Terminating:Wait",
        TerminatingProceed = "Terminating:Proceed",
        Terminated = "Terminated",
        Detaching = "Detaching",
        Detached = "Detached",
        EnteringStandby = "EnteringStandby",
        Standby = "Standby",
    }
}

impl Lifecycle {
    /// On its way out of the group, or gone. An unknown state is not (it is waited on).
    pub fn leaving(&self) -> bool {
        match self {
            Lifecycle::Terminating
            | Lifecycle::TerminatingWait
            | Lifecycle::TerminatingProceed
            | Lifecycle::Terminated
            | Lifecycle::Detaching
            | Lifecycle::Detached => true,
            Lifecycle::Pending
            | Lifecycle::PendingWait
            | Lifecycle::PendingProceed
            | Lifecycle::Quarantined
            | Lifecycle::InService
            | Lifecycle::EnteringStandby
            | Lifecycle::Standby
            | Lifecycle::Unknown(_) => false,
        }
    }
}

aws_state! {
    /// An Auto Scaling instance's health status.
    Health {
        Healthy = "Healthy",
        Unhealthy = "Unhealthy",
    }
}

aws_state! {
    /// A load balancer target's health state.
    TargetState {
        Initial = "initial",
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        UnhealthyDraining = "unhealthy.draining",
        Unused = "unused",
        Draining = "draining",
        Unavailable = "unavailable",
    }
}

impl TargetState {
    /// Deregistered and still finishing requests.
    pub fn draining(&self) -> bool {
        match self {
            TargetState::Draining | TargetState::UnhealthyDraining => true,
            TargetState::Initial
            | TargetState::Healthy
            | TargetState::Unhealthy
            | TargetState::Unused
            | TargetState::Unavailable
            | TargetState::Unknown(_) => false,
        }
    }
}

aws_state! {
    /// An instance refresh's status.
    RefreshStatus {
        Pending = "Pending",
        InProgress = "InProgress",
        Successful = "Successful",
        Failed = "Failed",
        Cancelling = "Cancelling",
        Cancelled = "Cancelled",
        RollbackInProgress = "RollbackInProgress",
        RollbackFailed = "RollbackFailed",
        RollbackSuccessful = "RollbackSuccessful",
        Baking = "Baking",
    }
}

aws_state! {
    /// An ECS deployment's status.
    DeploymentStatus {
        Primary = "PRIMARY",
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

aws_state! {
    /// An ECS deployment's rollout state.
    RolloutState {
        InProgress = "IN_PROGRESS",
        Completed = "COMPLETED",
        Failed = "FAILED",
    }
}

aws_state! {
    /// Who deploys an ECS service (its deploymentController type).
    Controller {
        Ecs = "ECS",
        CodeDeploy = "CODE_DEPLOY",
        External = "EXTERNAL",
    }
}

aws_state! {
    /// A CloudWatch alarm's state.
    AlarmState {
        Ok = "OK",
        Alarm = "ALARM",
        InsufficientData = "INSUFFICIENT_DATA",
    }
}

aws_state! {
    /// An ECS service deployment's status (DescribeServiceDeployments).
    ServiceDeploymentStatus {
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        Successful = "SUCCESSFUL",
        Stopped = "STOPPED",
        StopRequested = "STOP_REQUESTED",
        RollbackRequested = "ROLLBACK_REQUESTED",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
        RollbackFailed = "ROLLBACK_FAILED",
    }
}

aws_state! {
    /// The lifecycle stage of an ECS service deployment.
    LifecycleStage {
        ReconcileService = "RECONCILE_SERVICE",
        PreScaleUp = "PRE_SCALE_UP",
        ScaleUp = "SCALE_UP",
        PostScaleUp = "POST_SCALE_UP",
        TestTrafficShift = "TEST_TRAFFIC_SHIFT",
        PostTestTrafficShift = "POST_TEST_TRAFFIC_SHIFT",
        ProductionTrafficShift = "PRODUCTION_TRAFFIC_SHIFT",
        PostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT",
        BakeTime = "BAKE_TIME",
        CleanUp = "CLEAN_UP",
    }
}

aws_state! {
    /// A deployment lifecycle hook's status.
    HookStatus {
        InProgress = "IN_PROGRESS",
        AwaitingAction = "AWAITING_ACTION",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        TimedOut = "TIMED_OUT",
    }
}

aws_state! {
    /// An ECS deployment strategy (deploymentConfiguration.strategy).
    NativeStrategy {
        Rolling = "ROLLING",
        BlueGreen = "BLUE_GREEN",
        Canary = "CANARY",
        Linear = "LINEAR",
    }
}

aws_state! {
    /// A CodeDeploy deployment's status.
    CdStatus {
        Created = "Created",
        Queued = "Queued",
        InProgress = "InProgress",
        Baking = "Baking",
        Ready = "Ready",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Stopped = "Stopped",
    }
}

impl CdStatus {
    /// Over: succeeded, failed or stopped. An unknown status is not (it is waited on).
    pub fn ended(&self) -> bool {
        match self {
            CdStatus::Succeeded | CdStatus::Failed | CdStatus::Stopped => true,
            CdStatus::Created
            | CdStatus::Queued
            | CdStatus::InProgress
            | CdStatus::Baking
            | CdStatus::Ready
            | CdStatus::Unknown(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_round_trip_and_new_ones_are_kept() {
        assert_eq!(Lifecycle::from("Terminating:Wait"), Lifecycle::TerminatingWait);
        assert_eq!(Lifecycle::TerminatingWait.as_str(), "Terminating:Wait");
        let later = Lifecycle::from("Hibernating");
        assert_eq!(later, Lifecycle::Unknown("Hibernating".into()));
        assert_eq!(later.to_string(), "Hibernating");
        assert!(!later.leaving(), "an unknown state is waited on, not taken as gone");
        assert!(TargetState::from("unhealthy.draining").draining());
        let json = serde_json::to_string(&RolloutState::Completed).unwrap();
        assert_eq!(json, "\"COMPLETED\"");
        let back: RolloutState = serde_json::from_str("\"ROLLING_BACK\"").unwrap();
        assert_eq!(back, RolloutState::Unknown("ROLLING_BACK".into()));
        assert!(CdStatus::from("Stopped").ended());
        assert!(!CdStatus::from("Ready").ended());
        assert!(!CdStatus::from("Paused").ended(), "an unknown status is waited on");
    }
}
