//! `tokenhub outbox [--json]`: what the hub still has to push, per partner (pending entries, the
//! age of the oldest, and the drops by reason), read from the database every instance shares.

use clap::Args;

use crate::config::Settings;
use crate::secrets::load_keys;
use crate::store::outbox::Backlog;

#[derive(Args, Debug)]
pub struct OutboxArgs {
    /// Print JSON (an array of {partner, platform_id, pending, oldest_age_seconds, dropped}).
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Settings, args: OutboxArgs) -> anyhow::Result<()> {
    load_keys(&config)?;
    let store = super::open_store(&config).await?;
    let backlog = crate::service::push::backlog(&store).await?;
    let now = chrono::Utc::now();
    let age = |b: &Backlog| {
        b.oldest
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
    };
    if args.json {
        let rows: Vec<_> = backlog
            .iter()
            .map(|b| {
                serde_json::json!({
                    "partner": b.partner,
                    "platform_id": b.platform_id,
                    "pending": b.pending,
                    "oldest_age_seconds": age(b),
                    "dropped": b.dropped.iter().map(|(r, n)| (r.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if backlog.is_empty() {
        println!("nothing pending, nothing dropped");
        return Ok(());
    }
    let mut rows = vec![["PARTNER", "PENDING", "OLDEST_AGE_S", "DROPPED"].map(String::from)];
    for b in &backlog {
        let dropped: Vec<String> = b.dropped.iter().map(|(r, n)| format!("{r}={n}")).collect();
        rows.push([
            b.partner.clone(),
            b.pending.to_string(),
            age(b).map_or_else(|| "-".to_owned(), |a| format!("{a:.1}")),
            if dropped.is_empty() {
                "-".to_owned()
            } else {
                dropped.join(",")
            },
        ]);
    }
    super::print_table(&rows);
    Ok(())
}
