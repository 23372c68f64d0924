//! The `provhost` binary: everything lives in the library.

/// mimalloc: the server allocates per request on many threads, where glibc's allocator spends
/// its time in locks and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    provhost::main()
}
