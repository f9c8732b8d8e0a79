//! The `pushgate` command: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

/// jemalloc instead of the system's allocator: a send's buffers are allocated on one thread
/// and freed on another, where glibc's `malloc` and `free` took about a quarter of the CPU
/// of a notification (the README's benchmarks). The workspace builds it with
/// `override_allocator_on_supported_platforms`, so that the C code linked in (SQLite,
/// aws-lc) allocates through it too.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    pushgate::cli::main()
}
