//! Integration tests: the binaries run as users run them, against the testbed's real
//! programs (moto) and local stand-ins for GitHub's endpoints.

mod support;

mod credentials;
mod env_cli;
mod env_errors;
mod roll_cli;
mod roll_harness;
mod roll_moto;
mod roll_sim;
