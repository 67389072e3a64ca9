//! slipway: every command in one program. Started as `slipway-roll` (or any command's
//! name) it is that command; as `slipway` it takes the command first: `slipway roll`.

fn main() -> std::process::ExitCode {
    slipway::program::main()
}
