//! slipway-env: which environment does this GitHub event deploy to, and with what settings.
//! One of the names of slipway's one program (see `slipway::program`).

fn main() -> std::process::ExitCode {
    slipway::program::Program::Env.run(std::env::args_os().collect())
}
