use std::process::ExitCode;

use clap::Parser;

use lakehound::cli::{Cli, LogFormat};
use lakehound::{app, exit, logging};

fn main() -> ExitCode {
    let cli = Cli::parse(); // clap reports usage errors itself, with exit code 2
    logging::init(cli.verbose, cli.log_format);
    let result = app::run(&cli);
    let code = exit::code(&result);
    if let Err(err) = &result {
        let message = chain(err);
        // A scheduler reading JSON lines gets the failure as one too.
        match cli.log_format {
            LogFormat::Json => {
                tracing::error!(error = %message, exit_code = code, "lakehound failed")
            }
            LogFormat::Text => eprintln!("error: {message}"),
        }
    }
    ExitCode::from(code)
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
