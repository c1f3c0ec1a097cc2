//! `tokenhub serve` (the default command): apply migrations, then serve until a signal.

use clap::Args;

use crate::config::Settings;
use crate::secrets::load_keys;
use crate::startup::Application;

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Base URL the hub advertises (default http:// + the bound address).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

pub async fn serve(config: Settings) -> anyhow::Result<()> {
    // Before the store: a PostgreSQL hub without a key stops here, even with its database down.
    let keys = load_keys(&config)?;
    let app = Application::build(config.clone(), keys).await?;
    // The log line carries what an operator checks (the advertised URL, the database); the
    // stdout line below is the contract for scripts that start the hub on port 0. Worded
    // differently so that a terminal showing both does not read as a double start.
    tracing::info!(
        url = %app.public_url(),
        port = app.port(),
        // `DatabaseUrl` prints masked.
        database = %config.database.url,
        "tokenhub started"
    );
    println!("tokenhub listening on http://127.0.0.1:{}", app.port());
    app.run_until_stopped().await?;
    tracing::info!("tokenhub stopped");
    Ok(())
}
