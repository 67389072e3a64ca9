//! slipway-bake: bake an AMI with Packer and put it into a launch template version.
//! One of the names of slipway's one program (see `slipway::program`).

fn main() -> std::process::ExitCode {
    slipway::program::Program::Bake.run(std::env::args_os().collect())
}
