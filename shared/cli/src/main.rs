//! `qapla`: the operator's and support desk's command line over the table (see `qapla --help`
//! and docs/cli.md).

fn main() -> std::process::ExitCode {
    qapla_cli::main()
}
