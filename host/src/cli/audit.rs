//! `provhost audit list|show|export|verify|import|anchor`: read, stream and check the audit
//! trail, and take signed checkpoints of its heads to keep outside the store.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::{DataDir, print_json};
use crate::audit::{AuditRecord, Checkpoint, verify_chain};
use crate::model::parse_rfc3339;
use crate::store::{AuditFilter, Store};

/// How `audit list` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns for a person.
    Table,
    /// One JSON array.
    Json,
    /// One JSON record per line.
    Jsonl,
}

/// `provhost audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List records, oldest first.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only about this person.
        #[arg(long)]
        person: Option<String>,
        /// Only of this plugin.
        #[arg(long)]
        plugin: Option<String>,
        /// Only about this entitlement action.
        #[arg(long)]
        action: Option<String>,
        /// Only with this decision or outcome (allowed, forbidden, excluded, completed, trap, success, …).
        #[arg(long)]
        outcome: Option<String>,
        /// Only caused by this API key id.
        #[arg(long)]
        key: Option<String>,
        /// Only of this kind (invocation, action-state, approval, rejection, key, system, delivery;
        /// host-call, commit and note in chains written before audit format 2).
        #[arg(long)]
        kind: Option<String>,
        /// Only at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_rfc3339)]
        since: Option<String>,
        /// Only before this time (RFC 3339).
        #[arg(long, value_parser = parse_rfc3339)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one record with the invocation it belongs to, as JSON.
    Show {
        /// The record's id.
        id: String,
    },
    /// Stream records as JSON lines, for a SIEM or an archive; each tenant's chain in order.
    Export {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
        /// Start at this record of the chain.
        #[arg(long, default_value_t = 1)]
        from_seq: u64,
    },
    /// Recompute the hash chains and report the first record where one breaks.
    Verify {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
        /// Verify an exported JSONL file instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Also check the store's chains against checkpoints `audit anchor` printed (JSON lines),
        /// so that a removed tail or a chain rewritten from the start shows.
        #[arg(long, requires = "secret_file", conflicts_with = "file")]
        anchor: Option<PathBuf>,
        /// The secret the checkpoints were signed with.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Print a signed checkpoint of each chain's head (JSON lines), to keep outside the store and
    /// check later with `audit verify --anchor`.
    Anchor {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
        /// A file holding the operator's secret (at least 16 bytes) to sign with; keep it outside
        /// the data directory.
        #[arg(long)]
        secret_file: PathBuf,
    },
    /// Import an exported chain (JSONL) into this store, e.g. an archive; it must verify.
    Import {
        /// The exported file.
        file: PathBuf,
    },
}

/// The operator's checkpoint secret, from a file.
fn read_secret(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read the secret file {}", path.display()))?;
    let secret = text.trim_ascii().to_vec();
    if secret.len() < 16 {
        anyhow::bail!("the secret in {} is {} bytes; use at least 16", path.display(), secret.len());
    }
    Ok(secret)
}

/// Checks each checkpoint in `path` (of `tenant`, or all): its signature, and that the store's
/// chain still holds the record it names. Prints what it finds; whether all held.
fn check_anchors(store: &Store, path: &PathBuf, secret: &[u8], tenant: Option<&str>) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut held = true;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let checkpoint: Checkpoint =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a checkpoint", path.display(), n + 1))?;
        if tenant.is_some_and(|t| t != checkpoint.tenant) {
            continue;
        }
        let last = store.audit_head(&checkpoint.tenant)?.map_or(0, |(seq, _)| seq);
        let found = store.audit_hash_at(&checkpoint.tenant, checkpoint.seq)?;
        match checkpoint.check_signature(secret).and_then(|()| checkpoint.check_chain(found.as_deref(), last)) {
            Ok(()) => println!(
                "provhost: tenant '{}': record {} matches the checkpoint of {}",
                checkpoint.tenant, checkpoint.seq, checkpoint.at
            ),
            Err(why) => {
                held = false;
                eprintln!("provhost: tenant '{}': checkpoint {}:{}: {why}", checkpoint.tenant, path.display(), n + 1);
            }
        }
    }
    Ok(held)
}

fn table(records: &[AuditRecord]) {
    println!(
        "{:<5} {:<24} {:<12} {:<14} {:<16} {:<36} MESSAGE",
        "SEQ", "AT", "KIND", "DECISION", "AUDIT ACTION", "ACTION"
    );
    for r in records {
        let e = &r.entry;
        let mut message = e.message.replace('\n', " ");
        if message.chars().count() > 100 {
            message = message.chars().take(99).collect::<String>() + "…";
        }
        println!(
            "{:<5} {:<24} {:<12} {:<14} {:<16} {:<36} {message}",
            r.seq,
            r.at,
            e.kind,
            e.decision,
            e.audit_action.as_deref().unwrap_or("-"),
            e.action.as_deref().unwrap_or("-")
        );
    }
}

fn read_export(path: &PathBuf) -> anyhow::Result<Vec<AuditRecord>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .filter(|(_, line)| line.as_ref().map(|l| !l.trim().is_empty()).unwrap_or(true))
        .map(|(n, line)| {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&line).with_context(|| format!("{}:{}: not an audit record", path.display(), n + 1))
        })
        .collect()
}

fn tenants(store: &Store, tenant: Option<String>) -> anyhow::Result<Vec<String>> {
    Ok(match tenant {
        Some(t) => vec![t],
        None => store.audit_tenants()?,
    })
}

impl AuditCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            AuditCommand::List { tenant, person, plugin, action, outcome, key, kind, since, until, limit, format } => {
                let filter =
                    AuditFilter { tenant, person, plugin, action, decision: outcome, key_id: key, kind, since, until };
                let records = data.open_store()?.audit(&filter, limit, 0)?;
                match format {
                    Format::Table => table(&records),
                    Format::Json => print_json(&records)?,
                    Format::Jsonl => {
                        let mut out = std::io::stdout().lock();
                        for r in &records {
                            writeln!(out, "{}", serde_json::to_string(r)?)?;
                        }
                    }
                }
            }
            AuditCommand::Show { id } => {
                let store = data.open_store()?;
                let record = store.audit_record(&id)?;
                let invocation = match &record.entry.invocation {
                    Some(inv) => {
                        let filter = AuditFilter {
                            tenant: Some(record.tenant.clone()),
                            kind: Some("invocation".into()),
                            ..Default::default()
                        };
                        store
                            .audit(&filter, usize::MAX >> 1, 0)?
                            .into_iter()
                            .find(|r| r.entry.invocation.as_deref() == Some(inv))
                    }
                    None => None,
                };
                print_json(&json!({ "record": record, "invocation": invocation }))?;
            }
            AuditCommand::Export { tenant, from_seq } => {
                let store = data.open_store()?;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let tenants = tenants(&store, tenant)?;
                let mut total = 0;
                for tenant in &tenants {
                    total += store.audit_head(tenant)?.map_or(0, |(seq, _)| seq.saturating_sub(from_seq.max(1)) + 1);
                }
                let progress = data.progress(Some(total), "exporting audit records");
                for tenant in tenants {
                    store.audit_chain(&tenant, from_seq, |r| {
                        progress.advance(1);
                        let line = serde_json::to_string(&r).expect("audit records serialise");
                        writeln!(out, "{line}")
                            .map_err(|e| crate::store::StoreError::Conflict(format!("writing the export: {e}")))
                    })?;
                }
                out.flush()?;
            }
            AuditCommand::Anchor { tenant, secret_file } => {
                let secret = read_secret(&secret_file)?;
                let store = data.open_store()?;
                let at = crate::model::now_rfc3339();
                for tenant in tenants(&store, tenant)? {
                    let Some((seq, hash)) = store.audit_head(&tenant)? else { continue };
                    let checkpoint = Checkpoint::sign(&secret, &tenant, (seq, &hash), &at);
                    println!("{}", serde_json::to_string(&checkpoint).expect("checkpoints serialise"));
                }
            }
            AuditCommand::Verify { tenant, file: Some(file), .. } => {
                let records: Vec<AuditRecord> = read_export(&file)?
                    .into_iter()
                    .filter(|r| tenant.as_ref().is_none_or(|t| &r.tenant == t))
                    .collect();
                let Some(first) = records.first() else { anyhow::bail!("{} holds no audit records", file.display()) };
                match verify_chain(&records, Some((first.seq, &first.prev_hash))) {
                    Ok(n) => println!("provhost: {n} records in {} verify (from record {})", file.display(), first.seq),
                    Err(b) => {
                        eprintln!(
                            "provhost: {} is broken at record {} ({}): {}",
                            file.display(),
                            b.seq,
                            b.id,
                            b.reason
                        );
                        return Ok(ExitCode::from(super::EXIT_ERROR));
                    }
                }
            }
            AuditCommand::Verify { tenant, file: None, anchor, secret_file } => {
                let store = data.open_store()?;
                let mut broken = false;
                if let (Some(anchor), Some(secret_file)) = (anchor, secret_file) {
                    broken |= !check_anchors(&store, &anchor, &read_secret(&secret_file)?, tenant.as_deref())?;
                }
                let tenants = tenants(&store, tenant)?;
                let progress = data.progress(Some(tenants.len() as u64), "verifying tenants' chains");
                for tenant in tenants {
                    let v = store.verify_audit(&tenant)?;
                    progress.advance(1);
                    match &v.broken {
                        None => println!("provhost: tenant '{tenant}': {} records verify", v.verified),
                        Some(b) => {
                            broken = true;
                            eprintln!(
                                "provhost: tenant '{tenant}': the audit chain breaks at record {} ({}): {}; {} records before it verify",
                                b.seq, b.id, b.reason, v.verified
                            );
                        }
                    }
                }
                if broken {
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
            AuditCommand::Import { file } => {
                let progress = data.progress(None, "importing audit records");
                let records = read_export(&file)?;
                let n = data.create_store()?.import_audit(&records)?;
                drop(progress);
                println!("provhost: imported {n} audit records from {}", file.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
