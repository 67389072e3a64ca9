//! ECS native blue/green, canary and linear deployments in the simulated service: green
//! tasks start behind the alternate target group, test traffic moves, a PAUSE hook waits
//! for ContinueServiceDeployment, production traffic moves (all at once, canary then the
//! rest, or linear steps), the bake, then the blue tasks drain. A failing green fleet, a
//! ROLLBACK answer or StopServiceDeployment moves all traffic back to blue and removes
//! green. Production traffic on unhealthy tasks is recorded for the invariants.

use std::time::Duration;

use tokio::time::Instant;

use super::State;
use crate::cloud::{
    CloudError, CloudResult, DeploymentSettings, ErrorKind, HookAction, HookDetail, HookStatus, LifecycleStage,
    NativeStrategy, ServiceDeployment, ServiceDeploymentStatus as Status,
};

/// One native service deployment.
pub(super) struct Native {
    pub arn: String,
    pub settings: DeploymentSettings,
    /// The deployments (in `State::deployments`) of the new and the old revision.
    pub green: String,
    pub blue: String,
    pub status: Status,
    pub stage: LifecycleStage,
    /// When the current stage began.
    pub since: Instant,
    /// Production and test traffic on green, percent.
    pub production: f64,
    pub test: f64,
    pub hook: Option<(String, HookStatus)>,
    pub reason: Option<String>,
    pub rollback_reason: Option<String>,
    /// Green's failed tasks when it finished scaling up.
    failed_at_scale_up: Option<i32>,
}

impl Native {
    pub fn active(&self) -> bool {
        matches!(
            self.status,
            Status::Pending | Status::InProgress | Status::RollbackInProgress
        )
    }

    pub fn model(&self) -> ServiceDeployment {
        ServiceDeployment {
            arn: self.arn.clone(),
            status: self.status.clone(),
            status_reason: self.reason.clone(),
            stage: Some(self.stage.clone()),
            target_revision: Some(format!("{}/revision", self.arn)),
            production_percent: Some(self.production),
            test_percent: Some(self.test),
            hooks: self
                .hook
                .iter()
                .map(|(id, status)| HookDetail {
                    id: id.clone(),
                    target_type: "PAUSE".into(),
                    status: status.clone(),
                })
                .collect(),
            rollback_reason: self.rollback_reason.clone(),
        }
    }

    /// Production traffic on green `elapsed` into PRODUCTION_TRAFFIC_SHIFT, and when
    /// the next step is due (None when all traffic has moved).
    fn shift(&self, elapsed: Duration) -> (f64, Option<Duration>) {
        match (&self.settings.strategy, self.settings.canary, self.settings.linear) {
            (NativeStrategy::Canary, Some((percent, bake)), _) if elapsed < bake => (percent, Some(bake)),
            (NativeStrategy::Linear, _, Some((step, bake))) if step > 0.0 => {
                let steps = (elapsed.as_secs_f64() / bake.as_secs_f64().max(1.0)).floor() + 1.0;
                let share = (steps * step).min(100.0);
                (share, (share < 100.0).then(|| bake.mul_f64(steps)))
            }
            _ => (100.0, None),
        }
    }
}

impl State {
    /// The native deployment in progress, if any.
    pub(super) fn native_active(&self) -> Option<usize> {
        self.natives.iter().rposition(|n| n.active())
    }

    /// Starts a native deployment onto `task_definition` (green) from the primary (blue).
    pub(super) fn start_native(&mut self, settings: DeploymentSettings, task_definition: &str, at: Instant) -> String {
        let blue = self.deployments[0].id.clone();
        self.next += 1;
        let arn = format!(
            "arn:aws:ecs:us-east-1:123456789012:service-deployment/{}/{}/{:022}",
            self.s.cluster, self.s.service, self.next
        );
        self.natives.push(Native {
            arn,
            settings,
            green: String::new(),
            blue,
            status: Status::InProgress,
            stage: LifecycleStage::ReconcileService,
            since: at,
            production: 0.0,
            test: 0.0,
            hook: None,
            reason: None,
            rollback_reason: None,
            failed_at_scale_up: None,
        });
        // The green deployment; `step` sees the native deployment and runs it.
        let id = self.add_deployment(task_definition);
        let n = self.natives.len() - 1;
        self.natives[n].green = id.clone();
        self.step(at);
        id
    }

    /// When the native deployment's next timed change is due.
    pub(super) fn native_next(&self) -> Option<Instant> {
        let n = &self.natives[self.native_active()?];
        match n.stage {
            LifecycleStage::ProductionTrafficShift if n.status == Status::InProgress => n
                .shift(self.clock.saturating_duration_since(n.since))
                .1
                .map(|d| n.since + d),
            LifecycleStage::BakeTime if n.status == Status::InProgress => Some(n.since + n.settings.bake),
            _ => None,
        }
    }

    fn count(&self, deployment: &str, at: Instant) -> (i32, i32) {
        let tasks = self.tasks.iter().filter(|t| t.deployment == deployment);
        let live = tasks.clone().count() as i32;
        let healthy = tasks.filter(|t| self.healthy(t, at)).count() as i32;
        (live, healthy)
    }

    fn failed(&self, deployment: &str) -> i32 {
        self.deployments
            .iter()
            .find(|d| d.id == deployment)
            .map(|d| d.failed)
            .unwrap_or(0)
    }

    /// Moves all traffic back to blue and removes green.
    pub(super) fn roll_back_native(&mut self, n: usize, at: Instant, reason: &str) {
        let drain = at + self.s.drain;
        let native = &mut self.natives[n];
        native.status = Status::RollbackInProgress;
        native.rollback_reason = Some(reason.to_string());
        native.reason = Some(format!("Service deployment rolling back: {reason}"));
        native.production = 0.0;
        native.test = 0.0;
        if let Some((_, status)) = native.hook.as_mut().filter(|(_, s)| *s == HookStatus::AwaitingAction) {
            *status = HookStatus::Failed;
        }
        let (green, id) = (native.green.clone(), native.arn.clone());
        for t in self.tasks.iter_mut().filter(|t| t.deployment == green) {
            if t.stop_at.is_none_or(|s| s > drain) {
                t.stop_at = Some(drain);
            }
        }
        if let Some(d) = self.deployments.iter_mut().find(|d| d.id == green) {
            d.rollout = "FAILED";
            d.reason = Some(format!("service deployment rolled back: {reason}"));
        }
        self.event(at, format!("service deployment {id} is rolling back: {reason}."));
    }

    /// What ECS does for the native deployment `n` at `at`.
    pub(super) fn step_native(&mut self, n: usize, at: Instant) {
        let (green, blue) = (self.natives[n].green.clone(), self.natives[n].blue.clone());
        if self.natives[n].status == Status::RollbackInProgress {
            if self.count(&green, at).0 == 0 {
                self.deployments.retain(|d| d.id != green);
                if let Some(i) = self.deployments.iter().position(|d| d.id == blue) {
                    let d = self.deployments.remove(i);
                    self.deployments.insert(0, d);
                }
                self.deployments[0].primary = true;
                self.deployments[0].rollout = "COMPLETED";
                let native = &mut self.natives[n];
                native.status = Status::RollbackSuccessful;
                native.reason = Some("Service deployment rolled back successfully.".into());
                self.event(at, "has reached a steady state.".into());
            }
            return;
        }
        let desired = self.s.desired;
        let (live, healthy) = self.count(&green, at);
        let failed = self.failed(&green);
        // Green failing: during the scale-up the circuit breaker's threshold, after it any crash.
        match self.natives[n].failed_at_scale_up {
            None if failed >= self.s.threshold() => {
                return self.roll_back_native(n, at, "tasks failed to start");
            }
            Some(seen) if failed > seen => {
                return self.roll_back_native(n, at, "tasks of the new revision stopped");
            }
            _ => {}
        }
        loop {
            let native = &self.natives[n];
            let stage = native.stage.clone();
            let next = match stage {
                LifecycleStage::ReconcileService => Some(LifecycleStage::PreScaleUp),
                LifecycleStage::PreScaleUp => Some(LifecycleStage::ScaleUp),
                LifecycleStage::ScaleUp => {
                    if native.failed_at_scale_up.is_none() {
                        let index = self.deployments.iter().position(|d| d.id == green).unwrap_or(0);
                        for _ in live..desired {
                            self.launch(index, at);
                        }
                    }
                    (healthy >= desired).then_some(LifecycleStage::PostScaleUp)
                }
                LifecycleStage::PostScaleUp => {
                    self.natives[n].failed_at_scale_up = Some(failed);
                    Some(LifecycleStage::TestTrafficShift)
                }
                LifecycleStage::TestTrafficShift => {
                    self.natives[n].test = 100.0;
                    Some(LifecycleStage::PostTestTrafficShift)
                }
                LifecycleStage::PostTestTrafficShift => match &native.hook {
                    None if native.settings.pause_after_test_traffic => {
                        let id = format!("hook-{:08}", self.next);
                        self.natives[n].hook = Some((id, HookStatus::AwaitingAction));
                        None
                    }
                    // A hook nobody answers expires: ECS takes its timeoutConfiguration's
                    // action, ROLLBACK here (ecs 2014-11-13 model,
                    // DeploymentLifecycleHookTimeoutConfiguration; expiresAt in the
                    // hook's details).
                    Some((_, HookStatus::AwaitingAction)) => {
                        if at >= native.since + native.settings.pause_timeout {
                            self.roll_back_native(n, at, "lifecycle hook timed out (timeout action ROLLBACK)");
                        }
                        None
                    }
                    _ => Some(LifecycleStage::ProductionTrafficShift),
                },
                LifecycleStage::ProductionTrafficShift => {
                    let (share, due) = native.shift(at.saturating_duration_since(native.since));
                    self.natives[n].production = share;
                    due.is_none().then_some(LifecycleStage::PostProductionTrafficShift)
                }
                LifecycleStage::PostProductionTrafficShift => Some(LifecycleStage::BakeTime),
                LifecycleStage::BakeTime => {
                    (at >= native.since + native.settings.bake).then_some(LifecycleStage::CleanUp)
                }
                LifecycleStage::CleanUp => {
                    if self.count(&blue, at).0 == 0 {
                        self.deployments.retain(|d| d.id != blue);
                        if let Some(d) = self.deployments.iter_mut().find(|d| d.id == green) {
                            d.rollout = "COMPLETED";
                            d.reason = Some(format!("ECS deployment {green} completed."));
                            self.stable = d.task_definition.clone();
                        }
                        let native = &mut self.natives[n];
                        native.status = Status::Successful;
                        native.reason = Some("Service deployment completed successfully.".into());
                        self.event(at, "has reached a steady state.".into());
                    }
                    None
                }
                LifecycleStage::Unknown(_) => None,
            };
            let Some(next) = next else { break };
            if next == LifecycleStage::CleanUp {
                let drain = at + self.s.drain;
                for t in self
                    .tasks
                    .iter_mut()
                    .filter(|t| t.deployment == blue && t.stop_at.is_none())
                {
                    t.stop_at = Some(drain);
                }
            }
            let native = &mut self.natives[n];
            native.stage = next.clone();
            native.since = at;
            self.late_failure(&next, &green, at);
        }
    }

    /// The injected late failure: green's tasks exit 30s after the deployment enters this stage.
    fn late_failure(&mut self, stage: &LifecycleStage, green: &str, at: Instant) {
        if self.faults.fail_at_stage.as_ref() != Some(stage) {
            return;
        }
        // They keep serving until they exit, 30s on; then ECS notices.
        for t in self.tasks.iter_mut().filter(|t| t.deployment == green) {
            t.late = true;
            t.stop_at = Some(at + Duration::from_secs(30));
        }
    }

    /// Production traffic per task definition, percent (blue keeps what green has not).
    pub(super) fn production(&self) -> Vec<(String, f64)> {
        let td = |id: &str| {
            self.deployments
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.task_definition.clone())
                .unwrap_or_default()
        };
        match self.native_active().map(|n| &self.natives[n]) {
            Some(n) if n.production > 0.0 => {
                let mut out = vec![(td(&n.green), n.production)];
                if n.production < 100.0 {
                    out.push((td(&n.blue), 100.0 - n.production));
                }
                out
            }
            Some(n) => vec![(td(&n.blue), 100.0)],
            None => vec![(self.deployments[0].task_definition.clone(), 100.0)],
        }
    }

    /// Whether some production traffic goes to a revision with fewer healthy tasks than desired.
    pub(super) fn traffic_on_unhealthy(&self, at: Instant) -> bool {
        let Some(n) = self.native_active().map(|n| &self.natives[n]) else {
            return false;
        };
        let short = |id: &str| self.count(id, at).1 < self.s.desired;
        (n.production > 0.0 && short(&n.green)) || (n.production < 100.0 && short(&n.blue))
    }

    pub(super) fn find_native(&mut self, op: &str, arn: &str) -> CloudResult<usize> {
        self.natives.iter().position(|n| n.arn == arn).ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("ServiceDeploymentNotFoundException"),
                format!("Service deployment {arn} not found."),
            )
        })
    }

    /// StopServiceDeployment ROLLBACK.
    pub(super) fn stop_native(&mut self, arn: &str, at: Instant) -> CloudResult<()> {
        let op = "StopServiceDeployment";
        let n = self.find_native(op, arn)?;
        let native = &self.natives[n];
        if native.status != Status::InProgress || native.stage == LifecycleStage::CleanUp {
            return Err(CloudError::new(
                ErrorKind::Invalid,
                op,
                Some("InvalidParameterException"),
                format!(
                    "Service deployment {arn} cannot be rolled back: it is {} in {}.",
                    native.status, native.stage
                ),
            ));
        }
        self.roll_back_native(n, at, "stopped by StopServiceDeployment");
        self.step(at);
        Ok(())
    }

    /// ContinueServiceDeployment on the paused hook.
    pub(super) fn continue_native(
        &mut self,
        arn: &str,
        hook: &str,
        action: HookAction,
        at: Instant,
    ) -> CloudResult<()> {
        let op = "ContinueServiceDeployment";
        let n = self.find_native(op, arn)?;
        let waiting = matches!(&self.natives[n].hook, Some((id, HookStatus::AwaitingAction)) if id == hook);
        if !waiting || self.natives[n].status != Status::InProgress {
            return Err(CloudError::new(
                ErrorKind::Invalid,
                op,
                Some("InvalidParameterException"),
                format!("Lifecycle hook {hook} of {arn} is not awaiting an action."),
            ));
        }
        match action {
            HookAction::Continue => {
                if let Some((_, status)) = self.natives[n].hook.as_mut() {
                    *status = HookStatus::Succeeded;
                }
            }
            HookAction::Rollback => self.roll_back_native(n, at, "lifecycle hook answered ROLLBACK"),
        }
        self.step(at);
        Ok(())
    }
}

/// The test listener of the simulated service, as `health.test_urls` would see it, for
/// every way of deploying it: it routes to the new revision while that takes test traffic
/// (an ECS native deployment at or past its test traffic shift, or the replacement task
/// set of a CodeDeploy deployment) and answers as its tasks do: 503 with no healthy task,
/// 500 from an image injected as erroring (`EcsFaults::erroring_images`), 200 otherwise.
pub struct TestListener {
    pub sim: super::SimEcs,
    pub interval: Duration,
}

impl super::State {
    /// The ECS deployment behind the test listener now, if any.
    fn behind_test_listener(&self) -> Option<String> {
        if let Some(n) = self.native_active().map(|n| &self.natives[n]) {
            return (n.test >= 100.0).then(|| n.green.clone());
        }
        self.cd
            .deployments
            .iter()
            .find(|d| d.phase != crate::sim::codedeploy::Phase::Over)
            .map(|d| d.green.clone())
    }
}

#[async_trait::async_trait]
impl crate::wait::Probe for TestListener {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn name(&self) -> String {
        "the simulated test listener".into()
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> crate::Result<crate::wait::Check<String>> {
        use crate::wait::Check;
        Ok(self.sim.with_state(|s, at| {
            let Some(green) = s.behind_test_listener() else {
                return Check::Pending("HTTP 503: the new revision takes no test traffic yet".into());
            };
            if crate::sim::codedeploy::healthy_in(s, &green, at) == 0 {
                return Check::Pending("HTTP 503: no healthy task behind the test listener".into());
            }
            let td = s
                .deployments
                .iter()
                .find(|d| d.id == green)
                .map(|d| d.task_definition.clone())
                .unwrap_or_default();
            let image = s
                .find(&td)
                .and_then(|t| t.container(&s.s.container))
                .map(|c| c.image.clone())
                .unwrap_or_default();
            let short = td.rsplit('/').next().unwrap_or(&td).to_string();
            if s.faults.erroring_images.contains(&image) {
                Check::Failed(format!("HTTP 500 from {short} (expected 200)"))
            } else {
                Check::Done(format!("HTTP 200 from {short}"))
            }
        }))
    }
}
