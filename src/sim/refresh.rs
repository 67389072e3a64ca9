//! Instance refresh in the simulator: replaces instances not on the target version,
//! never letting healthy capacity drop below MinHealthyPercentage nor the group grow
//! beyond MaxHealthyPercentage; a new instance counts once healthy and warmed up. A new
//! instance failing its health checks fails the refresh (and rolls it back with
//! AutoRollback); a rollback is the same walk back to the previous version. With a
//! BakeTime the refresh stays `Baking` that long once every instance is replaced (it can
//! still be rolled back), then succeeds.

use std::time::Duration;

use tokio::time::Instant;

use super::model::State;
use crate::cloud::{InstanceRefresh, LaunchTemplateSpec, RefreshSpec};

pub(super) struct Refresh {
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub spec: RefreshSpec,
    /// The version instances are moved to (the previous one while rolling back).
    pub target: i64,
    pub previous_spec: LaunchTemplateSpec,
    pub previous_version: i64,
    pub started: Instant,
    pub warmup: Duration,
    pub total: i32,
    pub to_update: i32,
    pub percentage: i32,
    /// While `Baking`: when the bake ends.
    pub baked_at: Option<Instant>,
}

impl Refresh {
    pub fn active(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Baking" | "RollbackInProgress"
        )
    }

    pub fn view(&self) -> InstanceRefresh {
        InstanceRefresh {
            id: self.id.clone(),
            status: self.status.as_str().into(),
            status_reason: self.reason.clone(),
            percentage_complete: Some(self.percentage),
            instances_to_update: Some(self.to_update),
        }
    }

    /// Turns the refresh around: back to the previous version.
    pub fn roll_back(&mut self, state_spec: &mut LaunchTemplateSpec, reason: String) {
        self.status = "RollbackInProgress".into();
        self.reason = Some(reason);
        self.baked_at = None;
        self.target = self.previous_version;
        *state_spec = self.previous_spec.clone();
    }
}

/// Steps the active refresh at `at`; true when one is active (it then owns capacity).
pub(super) fn step(state: &mut State, at: Instant) -> bool {
    let Some(r) = state.refreshes.first() else {
        return false;
    };
    if !r.active() {
        return false;
    }
    let baked_at = r.baked_at;
    if r.status == "Pending" {
        state.refreshes[0].status = "InProgress".into();
    }
    if let Some(until) = baked_at {
        if at >= until {
            let r = &mut state.refreshes[0];
            r.status = "Successful".into();
            r.baked_at = None;
            return false;
        }
        return true;
    }
    // A new instance that failed its health checks fails the refresh.
    let r = &state.refreshes[0];
    if r.status == "InProgress" && state.replaced.iter().any(|(t, v)| *t >= r.started && *v == r.target) {
        let reason = format!(
            "instances launched from version {} failed their health checks and were replaced",
            r.target
        );
        if r.spec.auto_rollback {
            let mut spec = state.spec();
            state.refreshes[0].roll_back(&mut spec, format!("{reason}; rolling back"));
            state.lt_version = spec.version;
        } else {
            state.refreshes[0].status = "Failed".into();
            state.refreshes[0].reason = Some(reason);
            return false;
        }
    }
    let r = &state.refreshes[0];
    let (target, warmup) = (r.target, r.warmup);
    let desired = state.desired;
    let cap = (desired * r.spec.max_healthy_percentage / 100).max(desired);
    let min_healthy = (desired * r.spec.min_healthy_percentage + 99) / 100;
    loop {
        let ready = |s: &State, idx: usize| {
            let i = &s.instances[idx];
            s.healthy(i, at) && s.in_service_at(i).is_some_and(|t| t + warmup <= at)
        };
        let alive: Vec<usize> = (0..state.instances.len())
            .filter(|&i| state.instances[i].terminating.is_none())
            .collect();
        let (new, old): (Vec<usize>, Vec<usize>) = alive.iter().partition(|&&i| state.instances[i].version == target);
        let new_ready = new.iter().filter(|&&i| ready(state, i)).count() as i32;
        let old_healthy: Vec<usize> = old
            .iter()
            .copied()
            .filter(|&i| state.healthy(&state.instances[i], at))
            .collect();
        let healthy = old_healthy.len() as i32 + new_ready;
        let n = alive.len() as i32;
        let r = &mut state.refreshes[0];
        r.to_update = (desired - new_ready.min(desired)).max(0);
        r.percentage = if r.total == 0 {
            100
        } else {
            (100 * (r.total - r.to_update.min(r.total)) / r.total).clamp(0, 100)
        };
        let leaving = state
            .instances
            .iter()
            .any(|i| i.terminating.is_some() && i.version != target);
        if old.is_empty() && new_ready >= desired && !leaving {
            let r = &mut state.refreshes[0];
            r.percentage = 100;
            r.to_update = 0;
            if r.status == "RollbackInProgress" {
                r.status = "RollbackSuccessful".into();
                state.lt_version = r.previous_spec.version.clone();
            } else {
                match r.spec.bake_time.filter(|b| *b > 0) {
                    Some(bake) => {
                        r.status = "Baking".into();
                        r.baked_at = Some(at + Duration::from_secs(bake as u64));
                    }
                    None => r.status = "Successful".into(),
                }
                state.lt_version = r.spec.launch_template.version.clone();
            }
            // Surplus new instances (beyond desired) go.
            let surplus: Vec<usize> = new.iter().copied().skip(desired as usize).collect();
            for idx in surplus {
                state.terminate(idx, at);
            }
            return false;
        }
        if n < cap && (new.len() as i32) < desired {
            state.launch(target, at);
            continue;
        }
        if let Some(&idx) = old.iter().find(|&&i| !state.healthy(&state.instances[i], at)) {
            state.terminate(idx, at);
            continue;
        }
        if let Some(&idx) = old_healthy.first() {
            if healthy > min_healthy && (n > desired || n >= cap) {
                state.terminate(idx, at);
                continue;
            }
        }
        break;
    }
    true
}
