//! The simulated CodeDeploy's port: `CodeDeploy` for the simulated ECS service (the
//! application and group of its settings, deployments created from an AppSpec, their
//! lifecycle events and task sets, StopDeployment and ContinueDeployment with AWS's
//! error codes).

use async_trait::async_trait;

use super::codedeploy::{roll_back, step, Dep, Phase, EVENTS};
use super::ecs::{SimEcs, State};
use crate::cloud::{
    CdDeployment, CdRevision, CdStatus, CloudError, CloudResult, CodeDeploy, DeploymentGroup, DeploymentTarget,
    Diagnostics, ErrorKind, LifecycleEvent, NewDeployment, TaskSet,
};

fn invalid(op: &str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(ErrorKind::Invalid, op, Some(code), message)
}

fn find<'a>(s: &'a mut State, op: &str, id: &str) -> CloudResult<(usize, &'a mut Dep)> {
    s.cd.deployments
        .iter_mut()
        .enumerate()
        .find(|(_, d)| d.id == id)
        .ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("DeploymentDoesNotExistException"),
                format!("The deployment {id} could not be found."),
            )
        })
}

/// The task definition an AppSpec names.
fn app_spec_task_definition(app_spec: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(app_spec).ok()?;
    v["Resources"].as_array()?.iter().find_map(|r| {
        r["TargetService"]["Properties"]["TaskDefinition"]
            .as_str()
            .map(str::to_string)
    })
}

#[async_trait]
impl CodeDeploy for SimEcs {
    async fn deployment_group(&self, application: &str, group: &str) -> CloudResult<Option<DeploymentGroup>> {
        self.call("GetDeploymentGroup", format!("{application}/{group}"), false, |s, _| {
            let c = &s.s.codedeploy;
            if application != c.application || group != c.group {
                return Ok(None);
            }
            Ok(Some(DeploymentGroup {
                application: c.application.clone(),
                name: c.group.clone(),
                config: Some(c.config.clone()),
                waits_for_ready: c.waits_for_ready,
                ready_wait_minutes: (c.ready_wait.as_secs() / 60) as i32,
                termination_wait_minutes: (c.termination_wait.as_secs() / 60) as i32,
                ecs_services: vec![(s.s.cluster.clone(), s.s.service.clone())],
                target_groups: vec![format!("{}-blue", s.s.service), format!("{}-green", s.s.service)],
                auto_rollback: c.auto_rollback,
                auto_scaling_groups: Vec::new(),
                last_successful: None,
            }))
        })
    }

    async fn create_deployment(&self, new: &NewDeployment) -> CloudResult<String> {
        let detail = format!("{}/{} config {:?}", new.application, new.group, new.config);
        self.call("CreateDeployment", detail, true, |s, at| {
            let op = "CreateDeployment";
            let c = s.s.codedeploy.clone();
            if new.application != c.application {
                return Err(invalid(op, "ApplicationDoesNotExistException", "No application found"));
            }
            if new.group != c.group {
                return Err(invalid(
                    op,
                    "DeploymentGroupDoesNotExistException",
                    "No deployment group found",
                ));
            }
            if s.cd.deployments.iter().any(|d| d.phase != Phase::Over) {
                return Err(invalid(
                    op,
                    "DeploymentLimitExceededException",
                    "The deployment group already has an active deployment",
                ));
            }
            let app_spec = match &new.revision {
                CdRevision::AppSpec(a) => a.as_str(),
                CdRevision::S3(_) => "",
            };
            let Some(td) = app_spec_task_definition(app_spec).and_then(|r| s.find(&r).map(|td| td.arn.clone())) else {
                return Err(invalid(
                    op,
                    "InvalidRevisionException",
                    "the AppSpec names no registered task definition",
                ));
            };
            s.cd.next += 1;
            let id = format!("d-SIM{:06}", s.cd.next);
            // The green task set: an ECS deployment that is not the primary.
            s.next += 1;
            let green = format!("ecs-svc/{:019}", 4_000_000_000_000_000_000u64 + s.next);
            s.deployments.push(super::ecs::Deployment {
                id: green.clone(),
                task_definition: td,
                primary: false,
                rollout: "IN_PROGRESS",
                reason: Some(format!("CodeDeploy deployment {id}")),
                failed: 0,
            });
            let mut events: Vec<(&'static str, Option<Diagnostics>)> = vec![("Pending", None); EVENTS.len()];
            events[0] = ("Succeeded", None);
            events[1] = ("InProgress", None);
            s.cd.peak = 0.0;
            s.cd.deployments.push(Dep {
                id: id.clone(),
                status: CdStatus::InProgress,
                config: new.config.clone().unwrap_or(c.config),
                green,
                phase: Phase::Install,
                events,
                weight: 0.0,
                error: None,
                rollback: None,
                continued: false,
            });
            step(s, at);
            Ok(id)
        })
    }

    async fn get_deployment(&self, id: &str) -> CloudResult<CdDeployment> {
        self.call("GetDeployment", id.into(), false, |s, _| {
            let (_, d) = find(s, "GetDeployment", id)?;
            Ok(CdDeployment {
                id: d.id.clone(),
                status: d.status.clone(),
                config: Some(d.config.clone()),
                error_code: d.error.as_ref().map(|e| e.0.clone()),
                error_message: d.error.as_ref().map(|e| e.1.clone()),
                rollback_deployment: d.rollback.clone(),
                revision: None,
                group: Some((s.s.codedeploy.application.clone(), s.s.codedeploy.group.clone())),
            })
        })
    }

    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>> {
        self.call("BatchGetDeploymentTargets", id.into(), false, |s, at| {
            let blue = s.deployments[0].id.clone();
            let desired = s.s.desired as i64;
            let count = |s: &State, dep: &str| {
                let tasks = s.tasks.iter().filter(|t| t.deployment == dep);
                let running = tasks.clone().filter(|t| s.running(t, at)).count() as i64;
                (running, tasks.count() as i64 - running)
            };
            let (blue_running, blue_pending) = count(s, &blue);
            let (_, d) = find(s, "BatchGetDeploymentTargets", id)?;
            let (weight, green, status) = (d.weight, d.green.clone(), d.status.clone());
            let events = d
                .events
                .iter()
                .zip(EVENTS)
                .map(|((status, diagnostics), name)| LifecycleEvent {
                    name: name.to_string(),
                    status: status.to_string(),
                    diagnostics: diagnostics.clone(),
                })
                .collect();
            let (green_running, green_pending) = count(s, &green);
            let mut task_sets = vec![TaskSet {
                id: blue,
                label: "Blue".into(),
                desired,
                running: blue_running,
                pending: blue_pending,
                traffic_weight: 100.0 - weight,
                target_group: Some(format!("{}-blue", s.s.service)),
            }];
            if !status.ended() {
                task_sets.push(TaskSet {
                    id: green,
                    label: "Green".into(),
                    desired,
                    running: green_running,
                    pending: green_pending,
                    traffic_weight: weight,
                    target_group: Some(format!("{}-green", s.s.service)),
                });
            }
            Ok(Some(DeploymentTarget {
                status: status.to_string(),
                events,
                task_sets,
                instances: Vec::new(),
            }))
        })
    }

    async fn active_deployments(&self, application: &str, group: &str) -> CloudResult<Vec<String>> {
        self.call("ListDeployments", format!("{application}/{group}"), false, |s, _| {
            Ok(s.cd
                .deployments
                .iter()
                .filter(|d| d.phase != Phase::Over)
                .map(|d| d.id.clone())
                .collect())
        })
    }

    async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> CloudResult<String> {
        let detail = format!("{id} autoRollbackEnabled={auto_rollback}");
        self.call("StopDeployment", detail, true, |s, at| {
            let op = "StopDeployment";
            let (i, d) = find(s, op, id)?;
            if d.phase == Phase::Over {
                return Err(invalid(
                    op,
                    "DeploymentAlreadyCompletedException",
                    format!("The deployment {id} has already completed."),
                ));
            }
            let error = ("MANUAL_STOP".to_string(), "the deployment was stopped".to_string());
            roll_back(s, i, at, CdStatus::Stopped, error, auto_rollback);
            Ok("Succeeded".into())
        })
    }

    async fn continue_deployment(&self, id: &str) -> CloudResult<()> {
        self.call("ContinueDeployment", id.into(), true, |s, at| {
            let op = "ContinueDeployment";
            let (_, d) = find(s, op, id)?;
            if d.status != CdStatus::Ready {
                return Err(invalid(
                    op,
                    "DeploymentIsNotInReadyStateException",
                    format!("The deployment {id} is not in a ready state."),
                ));
            }
            d.continued = true;
            step(s, at);
            Ok(())
        })
    }
}
