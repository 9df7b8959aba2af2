//! The `airlock` binary: see `airlock --help`.

fn main() -> std::process::ExitCode {
    airlock::cli::main()
}
