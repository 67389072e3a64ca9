//! Waiting until things are healthy: the one polling engine, and the probes slipway-wait
//! combines (HTTP endpoints, target groups, Auto Scaling groups, ECS services).

pub mod engine;
pub mod gate;
pub mod progress;

pub use engine::{human, jittered, sleep_until, until, Check, Pacing};
pub use gate::{gate, GateReport, Outcome, Probe, ProbeReport, ProbeState};
pub use progress::Progress;
