//! slipway-wait: wait until load-balancer targets, Auto Scaling instances, ECS deployments
//! and HTTP endpoints are healthy, fail fast when they will not be, and say exactly why.
//! One of the names of slipway's one program (see `slipway::program`).

fn main() -> std::process::ExitCode {
    slipway::program::Program::Wait.run(std::env::args_os().collect())
}
