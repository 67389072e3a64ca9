//! The simulated EC2 CodeDeploy's ports: `CodeDeploy` (the group, deployments of S3
//! bundles, their instances and lifecycle events, StopDeployment with AWS's error codes)
//! and `ObjectStore` (the bundle bucket), sharing one state and one call log.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::server_deploy::{Object, ServerFaults, ServerSettings, ServerState, SERVER_EVENTS};
use super::Call;
use crate::cloud::{
    CdDeployment, CdRevision, CloudError, CloudResult, CodeDeploy, DeploymentGroup, DeploymentTarget, ErrorKind,
    InstanceTarget, LifecycleEvent, NewDeployment, ObjectStore, StoredObject,
};

struct Inner {
    state: ServerState,
    rng: StdRng,
    log: Vec<Call>,
}

/// The simulated EC2 deployment group and bundle bucket. Cloning shares the state.
#[derive(Clone)]
pub struct SimServer {
    inner: Arc<Mutex<Inner>>,
}

/// What the tests and the harness look at.
#[derive(Debug, Clone)]
pub struct ServerSnapshot {
    /// The revision key each instance serves (`partial:KEY` while one is half-installed).
    pub serving: Vec<String>,
    /// (id, status, rollback id) of every deployment, oldest first.
    pub deployments: Vec<(String, String, Option<String>)>,
    /// Keys stored in the bucket.
    pub objects: Vec<String>,
}

fn invalid(op: &str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(ErrorKind::Invalid, op, Some(code), message)
}

fn missing(op: &str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(ErrorKind::NotFound, op, Some(code), message)
}

impl SimServer {
    pub fn new(settings: ServerSettings, faults: ServerFaults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        SimServer {
            inner: Arc::new(Mutex::new(Inner {
                state: ServerState::new(settings, faults, Instant::now()),
                rng,
                log: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call<T>(
        &self,
        operation: &'static str,
        detail: String,
        mutating: bool,
        f: impl FnOnce(&mut ServerState, Instant) -> CloudResult<T>,
    ) -> CloudResult<T> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.state.advance(now);
        let roll: f64 = inner.rng.random();
        let result = if roll < inner.state.faults.throttle {
            Err(CloudError::new(
                ErrorKind::Throttled,
                operation,
                Some("ThrottlingException"),
                "Rate exceeded",
            ))
        } else {
            let r = f(&mut inner.state, now);
            inner.state.advance(now);
            r
        };
        let at = (now - inner.state.start).as_secs_f64();
        inner.log.push(Call::of(at, operation, detail, mutating, &result));
        result
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// The mutating calls that were carried out.
    pub fn mutations(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.mutating && c.error.is_none())
            .collect()
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: ServerFaults) {
        self.lock().state.faults = faults;
    }

    /// The state now.
    pub fn snapshot(&self) -> ServerSnapshot {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.state.advance(now);
        let s = &inner.state;
        ServerSnapshot {
            serving: s.serving.clone(),
            deployments: s
                .deployments
                .iter()
                .map(|d| (d.id.clone(), d.status.to_string(), d.rollback.clone()))
                .collect(),
            objects: s.objects.keys().map(|(_, k)| k.clone()).collect(),
        }
    }
}

fn find<'a>(s: &'a mut ServerState, op: &str, id: &str) -> CloudResult<(usize, &'a mut super::server_deploy::Dep)> {
    s.deployments
        .iter_mut()
        .enumerate()
        .find(|(_, d)| d.id == id)
        .ok_or_else(|| {
            missing(
                op,
                "DeploymentDoesNotExistException",
                format!("The deployment {id} could not be found."),
            )
        })
}

#[async_trait]
impl CodeDeploy for SimServer {
    async fn deployment_group(&self, application: &str, group: &str) -> CloudResult<Option<DeploymentGroup>> {
        self.call("GetDeploymentGroup", format!("{application}/{group}"), false, |s, _| {
            if application != s.s.application || group != s.s.group {
                return Ok(None);
            }
            Ok(Some(DeploymentGroup {
                application: s.s.application.clone(),
                name: s.s.group.clone(),
                config: Some(s.s.config.clone()),
                waits_for_ready: false,
                ready_wait_minutes: 0,
                termination_wait_minutes: 0,
                ecs_services: Vec::new(),
                target_groups: Vec::new(),
                auto_rollback: s.s.auto_rollback,
                auto_scaling_groups: vec![s.s.auto_scaling_group.clone()],
                last_successful: s.last_successful.clone(),
            }))
        })
    }

    async fn create_deployment(&self, new: &NewDeployment) -> CloudResult<String> {
        let detail = format!("{}/{} config {:?}", new.application, new.group, new.config);
        self.call("CreateDeployment", detail, true, |s, at| {
            let op = "CreateDeployment";
            if new.application != s.s.application {
                return Err(missing(op, "ApplicationDoesNotExistException", "No application found"));
            }
            if new.group != s.s.group {
                return Err(missing(
                    op,
                    "DeploymentGroupDoesNotExistException",
                    "No deployment group found",
                ));
            }
            if !s.active().is_empty() {
                return Err(invalid(
                    op,
                    "DeploymentLimitExceededException",
                    "The deployment group already has an active deployment",
                ));
            }
            let CdRevision::S3(revision) = &new.revision else {
                return Err(invalid(
                    op,
                    "InvalidRevisionException",
                    "an EC2 deployment needs an S3 revision",
                ));
            };
            let stored = s.objects.get(&(revision.bucket.clone(), revision.key.clone()));
            let matches = stored.is_some_and(|o| revision.etag.as_ref().is_none_or(|e| *e == o.etag));
            if !matches {
                return Err(invalid(
                    op,
                    "RevisionDoesNotExistException",
                    format!(
                        "The named revision s3://{}/{} does not exist",
                        revision.bucket, revision.key
                    ),
                ));
            }
            let previous = s.s.previous.as_ref().map(|p| p.key.as_str());
            let faulty = previous != Some(revision.key.as_str());
            let id = s.create(revision.clone(), faulty, at);
            if let Some(config) = &new.config {
                s.deployments.last_mut().expect("just created").config = config.clone();
            }
            Ok(id)
        })
    }

    async fn get_deployment(&self, id: &str) -> CloudResult<CdDeployment> {
        self.call("GetDeployment", id.into(), false, |s, now| {
            let lag = s.s.rollback_info_lag;
            let (_, d) = find(s, "GetDeployment", id)?;
            let rollback = d
                .rollback
                .clone()
                .filter(|_| d.rollback_at.is_some_and(|at| at + lag <= now));
            Ok(CdDeployment {
                id: d.id.clone(),
                status: d.status.clone(),
                config: Some(d.config.clone()),
                error_code: d.error.as_ref().map(|e| e.0.clone()),
                error_message: d.error.as_ref().map(|e| e.1.clone()),
                rollback_deployment: rollback,
                revision: Some(CdRevision::S3(d.revision.clone())),
                group: Some((s.s.application.clone(), s.s.group.clone())),
            })
        })
    }

    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>> {
        self.call("BatchGetDeploymentTargets", id.into(), false, |s, _| {
            let (_, d) = find(s, "BatchGetDeploymentTargets", id)?;
            let instances = d
                .targets
                .iter()
                .map(|t| InstanceTarget {
                    id: t.id.clone(),
                    status: t.status.to_string(),
                    events: t
                        .events
                        .iter()
                        .zip(SERVER_EVENTS)
                        .map(|((status, diagnostics), name)| LifecycleEvent {
                            name: name.to_string(),
                            status: status.to_string(),
                            diagnostics: diagnostics.clone(),
                        })
                        .collect(),
                })
                .collect();
            Ok(Some(DeploymentTarget {
                status: d.status.to_string(),
                events: Vec::new(),
                task_sets: Vec::new(),
                instances,
            }))
        })
    }

    async fn active_deployments(&self, application: &str, group: &str) -> CloudResult<Vec<String>> {
        self.call("ListDeployments", format!("{application}/{group}"), false, |s, _| {
            if application != s.s.application || group != s.s.group {
                return Err(missing(
                    "ListDeployments",
                    "DeploymentGroupDoesNotExistException",
                    "No deployment group found",
                ));
            }
            Ok(s.active())
        })
    }

    async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> CloudResult<String> {
        self.call(
            "StopDeployment",
            format!("{id} rollback {auto_rollback}"),
            true,
            |s, at| {
                let op = "StopDeployment";
                let (i, d) = find(s, op, id)?;
                if d.status.ended() {
                    return Err(invalid(
                        op,
                        "DeploymentAlreadyCompletedException",
                        format!("The deployment {id} has already completed"),
                    ));
                }
                d.status = crate::cloud::CdStatus::Stopped;
                d.error = Some(("MANUAL_STOP".into(), "The deployment was stopped by the user".into()));
                for t in &mut d.targets {
                    if t.status == "Pending" || t.status == "InProgress" {
                        t.status = "Skipped";
                        for e in &mut t.events {
                            if e.0 == "Pending" || e.0 == "InProgress" {
                                *e = ("Skipped", None);
                            }
                        }
                    }
                }
                if auto_rollback {
                    s.roll_back(i, at);
                }
                Ok("Pending".into())
            },
        )
    }

    async fn continue_deployment(&self, id: &str) -> CloudResult<()> {
        self.call("ContinueDeployment", id.into(), true, |_, _| {
            Err(invalid(
                "ContinueDeployment",
                "InvalidDeploymentStatusException",
                "an in-place EC2 deployment does not wait for ContinueDeployment",
            ))
        })
    }
}

#[async_trait]
impl ObjectStore for SimServer {
    async fn head(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>> {
        self.call("HeadObject", format!("s3://{bucket}/{key}"), false, |s, _| {
            if bucket != s.s.bucket {
                return Err(missing(
                    "HeadObject",
                    "NoSuchBucket",
                    format!("bucket {bucket} does not exist"),
                ));
            }
            Ok(s.objects.get(&(bucket.into(), key.into())).map(|o| StoredObject {
                etag: Some(o.etag.clone()),
                sha256: (!o.sha256.is_empty()).then(|| o.sha256.clone()),
                size: o.size,
            }))
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>, sha256: &str) -> CloudResult<String> {
        self.call("PutObject", format!("s3://{bucket}/{key}"), true, |s, _| {
            if bucket != s.s.bucket {
                return Err(missing(
                    "PutObject",
                    "NoSuchBucket",
                    format!("bucket {bucket} does not exist"),
                ));
            }
            // An ETag like S3's for a single-part upload: derived from the content.
            let etag = sha256.chars().take(32).collect::<String>();
            s.objects.insert(
                (bucket.into(), key.into()),
                Object {
                    etag: etag.clone(),
                    sha256: sha256.into(),
                    size: body.len() as i64,
                },
            );
            Ok(etag)
        })
    }
}
