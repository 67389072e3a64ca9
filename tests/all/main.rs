//! Integration tests: the binaries run as users run them, against the testbed's real
//! programs (moto) and local stand-ins for GitHub's endpoints.

mod support;

mod act;
mod action;
mod action_outputs;
mod alarms_moto;
mod bake;
mod bake_guards;
mod bluegreen_moto;
mod build;
mod build_guards;
mod codedeploy_ec2_moto;
mod codedeploy_moto;
mod credentials;
mod deployments;
mod ecs_native_wire;
mod ecs_wire;
mod env_cli;
mod env_errors;
mod help;
mod iam;
mod iam_enforced;
mod iam_enforced_codedeploy;
mod lint;
mod notify;
mod regions;
mod roll_alarms_cli;
mod roll_alarms_sim;
mod roll_bluegreen_cli;
mod roll_bluegreen_sim;
mod roll_canary;
mod roll_cli;
mod roll_codedeploy_ec2_sim;
mod roll_codedeploy_sim;
mod roll_ecs_moto;
mod roll_ecs_native;
mod roll_ecs_sim;
mod roll_harness;
mod roll_harness_codedeploy_ec2;
mod roll_moto;
mod roll_report;
mod roll_resume;
mod roll_sim;
mod wait_aws;
mod wait_http;
