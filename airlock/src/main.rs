//! The `airlock` binary: see `airlock --help`.

/// The session check allocates many small, short-lived buffers per request (header maps,
/// records, the JSON answer); with glibc's allocator a fifth of its instructions went to
/// `malloc` and `free`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    airlock::cli::main()
}
