use std::process::ExitCode;

use clap::Parser;

use lakehound::{app, cli::Cli, logging};

fn main() -> ExitCode {
    let cli = Cli::parse(); // clap reports usage errors itself, with exit code 2
    logging::init(cli.verbose, cli.log_format);
    match app::run(&cli) {
        Ok(app::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(app::Outcome::Partial) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {}", chain(&err));
            ExitCode::from(if err.is_usage() { 2 } else { 3 })
        }
    }
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
