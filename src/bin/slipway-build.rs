//! slipway-build: build a container image and push it to ECR, or promote the one already
//! built for this commit.
//! One of the names of slipway's one program (see `slipway::program`).

fn main() -> std::process::ExitCode {
    slipway::program::Program::Build.run(std::env::args_os().collect())
}
