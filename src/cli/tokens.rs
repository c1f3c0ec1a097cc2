//! `tokenhub tokens import|export`: the management API's token files (NDJSON or CSV, tokens or
//! hub policy) through the same services, with the operator as actor in the change log. A
//! progress bar when stderr is a terminal; plain counts otherwise.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;
use crate::domain::access::{parse_party_key, PartyAccess};
use crate::domain::datetime::parse_ocpi_datetime;
use crate::domain::token::TokenType;
use crate::service::policy_import::PolicyImport;
use crate::service::token_files::{self, FileFormat, RecordSplitter};
use crate::service::token_import::{self, FileError, Import, LineError, RecordSink};
use crate::store::token_search::TokenFilter;
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Import tokens (each line as its eMSP's PUT) or, with --policy, hub-policy lines.
    Import(ImportArgs),
    /// Export the pushed tokens, in creation order.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file (NDJSON or CSV with a header line; docs/design.md §5).
    file: PathBuf,
    /// ndjson or csv; default: csv for a .csv file, else ndjson.
    #[arg(long)]
    format: Option<String>,
    /// Accept only lines of this party, as CC*PID (repeatable); others are line errors.
    #[arg(long = "party", value_name = "CC*PID")]
    parties: Vec<String>,
    /// Check and count every line; store nothing.
    #[arg(long)]
    dry_run: bool,
    /// The file holds hub-policy lines (a token key and its whole policy), not tokens.
    #[arg(long)]
    policy: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// ndjson (default) or csv.
    #[arg(long)]
    format: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only this owner, as CC*PID.
    #[arg(long, value_name = "CC*PID")]
    party: Option<String>,
    /// Only this token type, e.g. RFID.
    #[arg(long = "type", value_name = "TYPE")]
    token_type: Option<String>,
    /// Only this uid (any case).
    #[arg(long)]
    uid: Option<String>,
    /// Only tokens whose eMSP `valid` is this (true or false).
    #[arg(long)]
    valid: Option<bool>,
    /// Only tokens the hub blocks (true) or does not (false).
    #[arg(long)]
    blocked: Option<bool>,
    /// Only this `group_id`.
    #[arg(long)]
    group_id: Option<String>,
    /// Only tokens whose effective token changed at or after this OCPI DateTime.
    #[arg(long)]
    changed_since: Option<String>,
}

pub async fn run(config: Settings, command: TokensCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        TokensCommand::Import(args) => import(config, args).await,
        TokensCommand::Export(args) => export(config, args).await,
    }
}

fn format_flag(value: Option<&str>, default: FileFormat) -> anyhow::Result<FileFormat> {
    value
        .map(|f| FileFormat::parse("--format", f).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()
        .map(|f| f.unwrap_or(default))
}

/// A bar over `total` bytes on a terminal; hidden otherwise (the counts are printed at the end).
fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Bytes read per step: large enough that reading costs nothing beside the writes.
const CHUNK: usize = 256 * 1024;

async fn feed<S: RecordSink>(
    file: &mut std::fs::File,
    format: FileFormat,
    max_record: usize,
    sink: &mut S,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let mut splitter = RecordSplitter::new(format, max_record);
    let mut buffer = vec![0; CHUNK];
    let mut last = 0;
    let bad = |e: FileError| match e {
        FileError::Bad(e) => anyhow::anyhow!("the file is not a valid {format:?} file: {e}"),
        FileError::Store(e) => anyhow::Error::new(e),
    };
    loop {
        // A one-off command: a blocking read between two store jobs holds nothing up.
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        bar.inc(n as u64);
        let records = splitter
            .push(&buffer[..n])
            .map_err(|e| anyhow::anyhow!("the file is not a valid {format:?} file: {e}"))?;
        for (number, record) in records {
            last = number;
            sink.record(number, &record).await.map_err(bad)?;
        }
        bar.set_message(format!("line {last}"));
    }
    if let Some((number, record)) = splitter.finish() {
        last = number;
        sink.record(number, &record).await.map_err(bad)?;
    }
    Ok(last)
}

fn report_errors(errors: &[LineError], invalid: u64) -> anyhow::Result<()> {
    for e in errors {
        let field = if e.field.is_empty() {
            String::new()
        } else {
            format!("{}: ", e.field)
        };
        eprintln!("line {}: {field}{}", e.line, e.message);
    }
    if invalid > 0 {
        anyhow::bail!("{invalid} line(s) refused (every valid line was applied)");
    }
    Ok(())
}

async fn import(config: Settings, args: ImportArgs) -> anyhow::Result<()> {
    let default = match args.file.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => FileFormat::Csv,
        _ => FileFormat::Ndjson,
    };
    let format = format_flag(args.format.as_deref(), default)?;
    let access = PartyAccess::from_list("--party", &args.parties)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    let mut file = std::fs::File::open(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let store = super::open_store(&config).await?;
    let bar = progress(size);
    let max_record = config.http.max_body_bytes;
    let dry = if args.dry_run { " (dry run)" } else { "" };
    if args.policy {
        let mut import = PolicyImport::new(store, access, format, args.dry_run, "operator".into());
        let lines = feed(&mut file, format, max_record, &mut import, &bar).await?;
        let done = import.finish().await?;
        bar.finish_and_clear();
        let c = &done.counts;
        eprintln!(
            "{lines} lines{dry}: {} changed, {} unchanged, {} invalid; {} pushes queued",
            c.changed, c.unchanged, c.invalid, done.pushes
        );
        report_errors(&done.errors, c.invalid)
    } else {
        let mut import = Import::new(
            store,
            access,
            format,
            args.dry_run,
            config.http.max_future_skew,
        );
        let lines = feed(&mut file, format, max_record, &mut import, &bar).await?;
        let done = import.finish("operator".into()).await?;
        bar.finish_and_clear();
        let c = &done.counts;
        eprintln!(
            "{lines} lines{dry}: {} created, {} replaced, {} unchanged, {} stale, {} invalid",
            c.created, c.replaced, c.unchanged, c.stale, c.invalid
        );
        if !done.stale_lines.is_empty() {
            let shown: Vec<String> = done.stale_lines.iter().map(u64::to_string).collect();
            eprintln!(
                "stale (older than stored, skipped): lines {}",
                shown.join(", ")
            );
        }
        report_errors(&done.errors, c.invalid)
    }
}

fn export_filter(args: &ExportArgs) -> anyhow::Result<TokenFilter> {
    let flag = |e: crate::domain::ValidationError| anyhow::anyhow!("--{}: {}", e.field, e.message);
    Ok(TokenFilter {
        uid: args.uid.clone(),
        group_id: args.group_id.clone(),
        owner: args
            .party
            .as_deref()
            .map(|p| parse_party_key("party", p))
            .transpose()
            .map_err(flag)?,
        token_type: args
            .token_type
            .as_deref()
            .map(|t| TokenType::parse("type", t))
            .transpose()
            .map_err(flag)?,
        valid: args.valid,
        blocked: args.blocked,
        changed_since: args
            .changed_since
            .as_deref()
            .map(|t| parse_ocpi_datetime("changed-since", t))
            .transpose()
            .map_err(flag)?,
        ..TokenFilter::default()
    })
}

async fn export(config: Settings, args: ExportArgs) -> anyhow::Result<()> {
    let format = format_flag(args.format.as_deref(), FileFormat::Ndjson)?;
    let filter = export_filter(&args)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let store = super::open_store(&config).await?;
    let bar = progress(0);
    if format == FileFormat::Csv {
        out.write_all(&token_files::csv_record(token_files::TOKEN_COLUMNS))?;
    }
    let (mut after, mut count) = (0, 0_u64);
    loop {
        let (docs, next) =
            token_import::export_page(&store, &PartyAccess::All, filter.clone(), after, 1000)
                .await?;
        for doc in &docs {
            match format {
                FileFormat::Ndjson => {
                    serde_json::to_writer(&mut out, doc)?;
                    out.write_all(b"\n")?;
                }
                FileFormat::Csv => out.write_all(&token_files::token_to_csv(doc))?,
            }
        }
        count += docs.len() as u64;
        bar.set_message(format!("{count} tokens"));
        bar.tick();
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    eprintln!("{count} tokens exported");
    Ok(())
}
