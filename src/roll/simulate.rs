//! `--simulate`: the simulated cloud built from slipway.yml.
