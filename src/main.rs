use std::process::ExitCode;

fn main() -> ExitCode {
    ksinstall::cli::main()
}
