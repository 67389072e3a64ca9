//! slipway: ship web applications to AWS from GitHub Actions and from a terminal.
//!
//! The binaries in src/bin are thin: they parse flags, call into this library and
//! render the outcome. See DESIGN.md for how the parts fit.

pub mod ami;
pub mod aws;
pub mod cli;
pub mod cloud;
pub mod commit;
pub mod config;
pub mod context;
pub mod env;
pub mod error;
pub mod github;
pub mod iam;
pub mod image;
pub mod notify;
pub mod program;
pub mod report;
pub mod roll;
pub mod secret;
pub mod signal;
pub mod sim;
pub mod trigger;
pub mod wait;

pub use error::{Error, Result};
