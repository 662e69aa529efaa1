//! The `qapla` command line, built inside the tests crate so that the tests run the real process
//! (`CARGO_BIN_EXE_qapla-cli`) with an environment of their own: the same entry point as
//! `shared/src/bin/qapla.rs`.

fn main() -> std::process::ExitCode {
    qapla::aws::cli::main()
}
