//! slipway-roll: roll an Auto Scaling group onto a new launch template version, or an ECS
//! service onto a new image.
//! One of the names of slipway's one program (see `slipway::program`).

fn main() -> std::process::ExitCode {
    slipway::program::Program::Roll.run(std::env::args_os().collect())
}
