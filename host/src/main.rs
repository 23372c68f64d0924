//! The `provhost` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    provhost::main()
}
