use std::process::ExitCode;

use clap::Parser;

use lakehound::{app, cli::Cli, exit, logging};

fn main() -> ExitCode {
    let cli = Cli::parse(); // clap reports usage errors itself, with exit code 2
    logging::init(cli.verbose, cli.log_format);
    let result = app::run(&cli);
    if let Err(err) = &result {
        eprintln!("error: {}", chain(err));
    }
    ExitCode::from(exit::code(&result))
}

/// "what failed: why: deeper cause", each level once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
