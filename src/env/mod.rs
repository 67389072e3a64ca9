//! slipway-env: which environment a GitHub event deploys to, and with what settings.

pub mod command;
