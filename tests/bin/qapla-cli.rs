//! The `qapla` command line, built inside the tests crate so that the tests run the real process
//! (`CARGO_BIN_EXE_qapla-cli`) with an environment of their own: the same entry point as
//! `shared/cli/src/main.rs`.

fn main() -> std::process::ExitCode {
    qapla_cli::main()
}
