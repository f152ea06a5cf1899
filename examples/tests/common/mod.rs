//! Running the `migrate` binary from the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `migrate ARGS` in `cwd` to the end.
pub(crate) fn migrate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run migrate")
}

/// What it printed on stdout.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
