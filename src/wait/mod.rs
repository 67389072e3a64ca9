//! Waiting until things are healthy: the one polling engine, and the probes slipway-wait
//! combines (HTTP endpoints, target groups, Auto Scaling groups, ECS services, alarms).

pub mod alarms;
pub mod asg;
pub mod cloud;
pub mod command;
pub mod ecs;
pub mod engine;
pub mod gate;
pub mod http;
pub mod job;
pub mod progress;
pub mod redact;
pub mod target_group;

pub use engine::{human, jittered, sleep_until, until, Check, Pacing};
pub use gate::{gate, gate_on, GateReport, Outcome, Probe, ProbeReport, ProbeState, Span, WATCH_MISSES};
pub use progress::Progress;

#[cfg(test)]
mod scripted_tests;
#[cfg(test)]
mod watch_tests;
