//! The ports implemented by the simulator, with AWS's validation rules and error codes
//! for the cases the roll meets.

use async_trait::async_trait;

use super::model::{template_id, State};
use super::refresh::Refresh;
use super::{Settings, Sim};
use crate::cloud::{
    Activity, AutoScaling, CloudError, CloudResult, ErrorKind, Group, GroupInstance, InstanceRefresh,
    LaunchTemplateSpec, LaunchTemplates, LoadBalancing, RefreshSpec, TargetGroup, TargetHealth, TemplateVersion,
};

fn invalid(op: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(ErrorKind::Invalid, op, Some("ValidationError"), message)
}

/// IrreversibleInstanceRefreshFault: "The request failed because a desired configuration
/// was not found or an incompatible launch template ... or launch template version
/// ($Latest or $Default) is present on the Auto Scaling group." (autoscaling model)
fn irreversible(op: &str) -> CloudError {
    CloudError::new(
        ErrorKind::Invalid,
        op,
        Some("IrreversibleInstanceRefresh"),
        "The request failed because an incompatible launch template version ($Latest or $Default) is present on the Auto Scaling group.",
    )
}

fn check_group(state: &State, op: &str, name: &str) -> CloudResult<()> {
    if name == state.settings.group {
        Ok(())
    } else {
        Err(invalid(op, format!("AutoScalingGroup name not found - {name}")))
    }
}

fn tg_index(state: &State, op: &str, arn: &str) -> CloudResult<usize> {
    state
        .settings
        .target_groups
        .iter()
        .position(|n| Settings::target_group_arn(n) == arn)
        .ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("TargetGroupNotFound"),
                format!("One or more target groups not found: {arn}"),
            )
        })
}

fn matches_template(state: &State, spec: &LaunchTemplateSpec) -> bool {
    let s = &state.settings;
    spec.name.as_deref() == Some(s.template.as_str()) || spec.id.as_deref() == Some(template_id(&s.template).as_str())
}

#[async_trait]
impl AutoScaling for Sim {
    async fn describe_group(&self, name: &str) -> CloudResult<Option<Group>> {
        self.call("DescribeAutoScalingGroups", name.into(), false, |s, now| {
            if name != s.settings.group {
                return Ok(None);
            }
            let instances = s
                .instances
                .iter()
                .map(|i| GroupInstance {
                    id: i.id.clone(),
                    lifecycle_state: s.lifecycle(i, now).into(),
                    health_status: if i.unhealthy { "Unhealthy" } else { "Healthy" }.into(),
                    launch_template_version: Some(i.version.to_string()),
                    availability_zone: Some("us-east-1a".into()),
                })
                .collect();
            Ok(Some(Group {
                name: s.settings.group.clone(),
                min: s.min,
                max: s.max,
                desired: s.desired,
                launch_template: Some(s.spec()),
                instances,
                target_group_arns: s
                    .settings
                    .target_groups
                    .iter()
                    .map(|n| Settings::target_group_arn(n))
                    .collect(),
                health_check_grace_period: s.settings.grace.as_secs() as i32,
                health_check_type: if s.settings.target_groups.is_empty() {
                    "EC2"
                } else {
                    "ELB"
                }
                .into(),
            }))
        })
    }

    async fn activities_in_progress(&self, name: &str) -> CloudResult<Vec<Activity>> {
        self.call("DescribeScalingActivities", name.into(), false, |s, now| {
            check_group(s, "DescribeScalingActivities", name)?;
            Ok(s.instances
                .iter()
                .filter_map(|i| {
                    let (verb, state) = match s.lifecycle(i, now) {
                        "Pending" => ("Launching a new EC2 instance", "InProgress"),
                        "Terminating" => ("Terminating EC2 instance", "InProgress"),
                        _ => return None,
                    };
                    Some(Activity {
                        id: format!("act-{}", &i.id[2..]),
                        description: format!("{verb}: {}", i.id),
                        status_code: state.into(),
                        status_message: None,
                        progress: Some(50),
                    })
                })
                .collect())
        })
    }

    async fn update_size(
        &self,
        name: &str,
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> CloudResult<()> {
        let detail = format!("{name} min={min:?} max={max:?} desired={desired:?}");
        self.call("UpdateAutoScalingGroup", detail, true, |s, _| {
            let op = "UpdateAutoScalingGroup";
            check_group(s, op, name)?;
            let (mn, mx, d) = (min.unwrap_or(s.min), max.unwrap_or(s.max), desired.unwrap_or(s.desired));
            if mn > mx {
                return Err(invalid(
                    op,
                    format!("Max bound, {mx}, must be greater than or equal to min bound, {mn}"),
                ));
            }
            if d > mx || d < mn {
                return Err(invalid(
                    op,
                    format!("Desired capacity:{d} must be between the specified min size:{mn} and max size:{mx}"),
                ));
            }
            (s.min, s.max, s.desired) = (mn, mx, d);
            Ok(())
        })
    }

    async fn set_launch_template(&self, name: &str, template: &LaunchTemplateSpec) -> CloudResult<()> {
        let detail = format!("{name} launch template version {}", template.version);
        self.call("UpdateAutoScalingGroup", detail, true, |s, _| {
            let op = "UpdateAutoScalingGroup";
            check_group(s, op, name)?;
            if !matches_template(s, template) || s.resolve(&template.version).is_none() {
                return Err(invalid(
                    op,
                    format!("launch template version {} does not exist", template.version),
                ));
            }
            s.lt_version = template.version.clone();
            Ok(())
        })
    }

    async fn terminate_instance(&self, instance_id: &str, decrement: bool) -> CloudResult<()> {
        let detail = format!("{instance_id} decrement={decrement}");
        self.call("TerminateInstanceInAutoScalingGroup", detail, true, |s, now| {
            let op = "TerminateInstanceInAutoScalingGroup";
            let Some(idx) = s.instances.iter().position(|i| i.id == instance_id) else {
                // As the AWS adapter reports AWS's "Instance Id not found" ValidationError.
                return Err(CloudError::not_found(
                    op,
                    format!("Instance Id not found - No managed instance found for instance ID: {instance_id}"),
                ));
            };
            if s.instances[idx].terminating.is_some() {
                return Ok(());
            }
            if decrement {
                if s.desired - 1 < s.min {
                    return Err(invalid(
                        op,
                        format!(
                            "Currently, desired capacity equals min size ({}); cannot decrement it",
                            s.min
                        ),
                    ));
                }
                s.desired -= 1;
            }
            s.terminate(idx, now);
            Ok(())
        })
    }

    async fn start_refresh(&self, name: &str, spec: &RefreshSpec) -> CloudResult<String> {
        let detail = format!(
            "{name} version {} min {}% max {}% warmup {:?} skip_matching={} auto_rollback={} alarms={:?} bake_time={:?}",
            spec.launch_template.version,
            spec.min_healthy_percentage,
            spec.max_healthy_percentage,
            spec.instance_warmup,
            spec.skip_matching,
            spec.auto_rollback,
            spec.alarms,
            spec.bake_time
        );
        self.call("StartInstanceRefresh", detail, true, |s, now| {
            let op = "StartInstanceRefresh";
            check_group(s, op, name)?;
            if let Some(r) = s.refreshes.first().filter(|r| r.active()) {
                return Err(CloudError::new(
                    ErrorKind::Other,
                    op,
                    Some("InstanceRefreshInProgress"),
                    format!("An Instance Refresh is already in progress and blocks the execution of this Instance Refresh: {}", r.id),
                ));
            }
            let (mn, mx) = (spec.min_healthy_percentage, spec.max_healthy_percentage);
            if !(0..=100).contains(&mn) || !(100..=200).contains(&mx) || (mn == 100 && mx == 100) || mx - mn > 100 {
                return Err(invalid(op, format!("invalid MinHealthyPercentage {mn} / MaxHealthyPercentage {mx}")));
            }
            let Some(target) = s
                .resolve(&spec.launch_template.version)
                .filter(|_| matches_template(s, &spec.launch_template))
            else {
                return Err(invalid(op, format!("launch template version {} does not exist", spec.launch_template.version)));
            };
            // "A rollback is not supported ... [when] The Auto Scaling group uses the launch
            // template's $Latest or $Default version" (autoscaling 2011-01-01 model,
            // RefreshPreferences.AutoRollback): the group's version, not the desired one;
            // refused with IrreversibleInstanceRefreshFault (code IrreversibleInstanceRefresh).
            if spec.auto_rollback && s.lt_version.starts_with('$') {
                return Err(irreversible(op));
            }
            let previous_version = s.resolve(&s.lt_version).unwrap_or(s.default_version);
            let total = s
                .instances
                .iter()
                .filter(|i| i.terminating.is_none() && (!spec.skip_matching || i.version != target))
                .count() as i32;
            let id = format!("{:08x}-0000-4000-8000-{:012x}", s.refreshes.len() + 1, now.elapsed().as_nanos() as u64 & 0xfff);
            s.refreshes.insert(
                0,
                Refresh {
                    id: id.clone(),
                    status: "Pending".into(),
                    reason: None,
                    spec: spec.clone(),
                    target,
                    previous_spec: s.spec(),
                    previous_version,
                    started: now,
                    warmup: spec.instance_warmup.map(|w| std::time::Duration::from_secs(w as u64)).unwrap_or(s.settings.grace),
                    total,
                    to_update: total,
                    percentage: 0,
                    baked_at: None,
                },
            );
            Ok(id)
        })
    }

    async fn describe_refreshes(&self, name: &str, id: Option<&str>) -> CloudResult<Vec<InstanceRefresh>> {
        self.call("DescribeInstanceRefreshes", name.into(), false, |s, _| {
            check_group(s, "DescribeInstanceRefreshes", name)?;
            Ok(s.refreshes
                .iter()
                .filter(|r| id.is_none_or(|id| r.id == id))
                .map(Refresh::view)
                .collect())
        })
    }

    async fn cancel_refresh(&self, name: &str) -> CloudResult<()> {
        self.call("CancelInstanceRefresh", name.into(), true, |s, _| {
            let op = "CancelInstanceRefresh";
            check_group(s, op, name)?;
            match s
                .refreshes
                .first_mut()
                .filter(|r| matches!(r.status.as_str(), "InProgress" | "Pending" | "Baking"))
            {
                Some(r) => {
                    r.status = "Cancelled".into();
                    Ok(())
                }
                None => Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("ActiveInstanceRefreshNotFound"),
                    "No in progress or pending Instance Refresh found",
                )),
            }
        })
    }

    async fn rollback_refresh(&self, name: &str) -> CloudResult<()> {
        self.call("RollbackInstanceRefresh", name.into(), true, |s, _| {
            let op = "RollbackInstanceRefresh";
            check_group(s, op, name)?;
            let mut spec = s.spec();
            match s
                .refreshes
                .first_mut()
                .filter(|r| r.status == "InProgress" || r.status == "Pending")
            {
                // The same rule as AutoRollback (RollbackInstanceRefresh's documentation).
                Some(r) if r.previous_spec.version.starts_with('$') => Err(irreversible(op)),
                Some(r) => {
                    r.roll_back(&mut spec, "rollback requested".into());
                    s.lt_version = spec.version;
                    Ok(())
                }
                None => Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("ActiveInstanceRefreshNotFound"),
                    "No in progress Instance Refresh found to roll back",
                )),
            }
        })
    }
}

#[async_trait]
impl LoadBalancing for Sim {
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>> {
        self.call("DescribeTargetGroups", arn.into(), false, |s, _| {
            let Ok(idx) = tg_index(s, "DescribeTargetGroups", arn) else {
                return Ok(None);
            };
            let st = &s.settings;
            Ok(Some(TargetGroup {
                arn: arn.to_string(),
                name: st.target_groups[idx].clone(),
                deregistration_delay: st.deregistration_delay.as_secs() as i32,
                healthy_threshold: st.healthy_threshold as i32,
                health_check_interval: st.check_interval.as_secs() as i32,
            }))
        })
    }

    async fn target_health(&self, arn: &str) -> CloudResult<Vec<TargetHealth>> {
        self.call("DescribeTargetHealth", arn.into(), false, |s, now| {
            let tg = tg_index(s, "DescribeTargetHealth", arn)?;
            Ok(s.instances
                .iter()
                .filter_map(|i| {
                    let state = s.target_state(i, tg, now)?;
                    let reason = match state {
                        "initial" => Some("Elb.RegistrationInProgress"),
                        "unhealthy" => Some("Target.ResponseCodeMismatch"),
                        "draining" => Some("Target.DeregistrationInProgress"),
                        _ => None,
                    };
                    Some(TargetHealth {
                        id: i.id.clone(),
                        port: Some(80),
                        state: state.into(),
                        reason: reason.map(str::to_string),
                        description: None,
                    })
                })
                .collect())
        })
    }

    async fn deregister(&self, arn: &str, targets: &[(String, Option<i32>)]) -> CloudResult<()> {
        let ids: Vec<&str> = targets.iter().map(|(id, _)| id.as_str()).collect();
        let detail = format!("{arn} {}", ids.join(","));
        self.call("DeregisterTargets", detail, true, |s, now| {
            let tg = tg_index(s, "DeregisterTargets", arn)?;
            for inst in s.instances.iter_mut().filter(|i| ids.contains(&i.id.as_str())) {
                inst.dereg.entry(tg).or_insert(now);
            }
            Ok(())
        })
    }
}

#[async_trait]
impl LaunchTemplates for Sim {
    async fn template_version(&self, template: &str, version: &str) -> CloudResult<Option<TemplateVersion>> {
        self.call(
            "DescribeLaunchTemplateVersions",
            format!("{template} {version}"),
            false,
            |s, _| {
                let name = &s.settings.template;
                let id = template_id(name);
                if template != name && template != id {
                    return Ok(None);
                }
                Ok(s.resolve(version).map(|number| TemplateVersion {
                    template_id: id,
                    template_name: name.clone(),
                    number,
                    image_id: s.versions.get(&number).cloned(),
                    default: number == s.default_version,
                }))
            },
        )
    }
}
