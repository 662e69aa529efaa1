//! Prints the `QAPLA_CHANNELS` entry of a channel: its name and the SHA-256 digest of its key.
//!
//!     qapla-channel <name> [created|transmitted]   (the key is read from standard input)
//!
//! The key is read from stdin, not the command line, so it stays out of shell history and `ps`.

use qapla::auth::{valid_channel_name, ApiKey, Channel, OrderTrigger};
use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: qapla-channel <name> [created|transmitted]  (key on standard input)";
    let (name, trigger) = match args.as_slice() {
        [name] => (name, OrderTrigger::Created),
        [name, t] if t == "created" => (name, OrderTrigger::Created),
        [name, t] if t == "transmitted" => (name, OrderTrigger::Transmitted),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    if !valid_channel_name(name) {
        eprintln!("qapla-channel: the name must be 1-64 letters, digits, '.', '_' or '-'");
        return ExitCode::from(2);
    }
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("qapla-channel: cannot read the key from standard input: {e}");
        return ExitCode::from(1);
    }
    // A trailing newline from `echo` or a terminal is not part of the key.
    let key = input.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        eprintln!("qapla-channel: no key on standard input\n{usage}");
        return ExitCode::from(2);
    }
    println!("{}", Channel::entry(name, &ApiKey::new(key), trigger));
    ExitCode::SUCCESS
}
