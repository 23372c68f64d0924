//! `provhost audit list|show|export|verify|import|anchor`: read, stream and check the audit
//! trail, and take signed checkpoints of its heads to keep outside the store, each recorded in
//! its chain as well.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::{DataDir, print_json};
use crate::api::Paging;
use crate::audit::{AuditRecord, ChainStart, Checkpoint, verify_chain};
use crate::model::parse_rfc3339;
use crate::store::{AuditFilter, Store, Verification};

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
        /// Only of this kind (invocation, action-state, approval, rejection, key, system, delivery, replay, checkpoint;
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
        /// so that a removed tail, a removed prefix or a chain rewritten from the start shows; a
        /// chain that does not start at record 1 verifies only with a checkpoint taken of it.
        #[arg(long, requires = "secret_file", conflicts_with = "file")]
        anchor: Option<PathBuf>,
        /// The secret the checkpoints were signed with.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Print a signed checkpoint of where each chain starts and of its head (JSON lines), to keep
    /// outside the store and check later with `audit verify --anchor`; each is also recorded in
    /// its chain, where the console shows the last one.
    Anchor {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
        /// A file holding the operator's secret (at least 16 bytes) to sign with; keep it outside
        /// the data directory.
        #[arg(long)]
        secret_file: PathBuf,
        /// Vouch that the tenant's chain starts at this record: for an archive imported from an
        /// export that starts there. Without it, a chain that does not start at record 1 is not
        /// signed.
        #[arg(long, requires = "tenant", value_name = "SEQ")]
        starts_at: Option<u64>,
        /// Who takes the checkpoint, as its record in the chain names them; by default the
        /// operating-system user running the command.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
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

/// What checking a store's chains against checkpoints found.
struct Anchored {
    /// Whether every checkpoint held.
    held: bool,
    /// The tenants whose chain start a checkpoint vouches for.
    covered: BTreeSet<String>,
}

/// Checks each checkpoint in `path` (of `tenant`, or all): its signature, and that the store's
/// chain still starts where it says and holds the record it names. Prints what it finds.
fn check_anchors(store: &dyn Store, path: &PathBuf, secret: &[u8], tenant: Option<&str>) -> anyhow::Result<Anchored> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut held, mut covered) = (true, BTreeSet::new());
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let checkpoint: Checkpoint =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a checkpoint", path.display(), n + 1))?;
        if tenant.is_some_and(|t| t != checkpoint.tenant) {
            continue;
        }
        let start = store.audit_start(&checkpoint.tenant)?;
        let last = store.audit_head(&checkpoint.tenant)?.map_or(0, |head| head.seq);
        let found = store.audit_hash_at(&checkpoint.tenant, checkpoint.seq)?;
        let checked = checkpoint
            .check_signature(secret)
            .and_then(|()| checkpoint.check_chain(start.as_ref(), found.as_deref(), last));
        match checked {
            Ok(()) => {
                println!(
                    "provhost: tenant '{}': record {} matches the checkpoint of {}",
                    checkpoint.tenant, checkpoint.seq, checkpoint.at
                );
                if start.as_ref().is_some_and(|s| checkpoint.covers(s)) {
                    covered.insert(checkpoint.tenant.clone());
                }
            }
            Err(why) => {
                held = false;
                eprintln!("provhost: tenant '{}': checkpoint {}:{}: {why}", checkpoint.tenant, path.display(), n + 1);
            }
        }
    }
    Ok(Anchored { held, covered })
}

/// Prints what verifying one tenant's chain found; whether it holds. A chain that does not start
/// at record 1 holds only if a checkpoint taken of it says it starts there (`covered`).
fn report(v: &Verification, covered: bool) -> bool {
    let tenant = &v.tenant;
    let Some(start) = &v.start else {
        println!("provhost: tenant '{tenant}': no audit records");
        return true;
    };
    let first = start.seq;
    if let Some(b) = &v.broken {
        let before = match v.verified {
            0 => "no record before it verifies".to_owned(),
            n => format!("records {first} to {} before it verify", first + n - 1),
        };
        eprintln!(
            "provhost: tenant '{tenant}': the audit chain breaks at record {} ({}): {}; {before}",
            b.seq, b.id, b.reason
        );
        return false;
    }
    let last = first + v.verified - 1;
    if v.is_whole() {
        println!("provhost: tenant '{tenant}': records 1 to {last} verify");
        true
    } else if covered {
        println!(
            "provhost: tenant '{tenant}': records {first} to {last} verify; the chain starts at record {first}, as a checkpoint taken of it says"
        );
        true
    } else {
        eprintln!(
            "provhost: tenant '{tenant}': records {first} to {last} verify, but the chain starts at record {first}: records 1 to {} are not in this store, and nothing in it can show why. If this store is an archive imported from record {first}, check it with a checkpoint taken of it (audit verify --anchor FILE --secret-file F); otherwise they were removed",
            first - 1
        );
        false
    }
}

/// `start`, where `tenant`'s chain starts, if a checkpoint may vouch for it: record 1, or the
/// record an archive was imported from, when the operator says so with `--starts-at`; otherwise
/// why not.
fn signable(start: ChainStart, tenant: &str, starts_at: Option<u64>) -> Result<ChainStart, String> {
    if start.is_genesis() || starts_at == Some(start.seq) && start.seq > 1 {
        Ok(start)
    } else if start.seq == 1 {
        Err("its first record does not continue the genesis hash; `audit verify` shows the break".into())
    } else {
        Err(format!(
            "its chain starts at record {}, not 1, and a checkpoint would vouch that it starts there; sign it only if this store is an archive imported from record {}: audit anchor --tenant {tenant} --starts-at {}",
            start.seq, start.seq, start.seq
        ))
    }
}

/// The operating-system user running the command, as `USER` or `LOGNAME` names them.
fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "an unnamed operating-system user".into())
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

fn tenants(store: &dyn Store, tenant: Option<String>) -> anyhow::Result<Vec<String>> {
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
                        // Read one record at a time, so that a tenant's many large records are never held at once.
                        let mut found = None;
                        store.audit_each(&filter, Paging::ALL, &mut |r| {
                            if r.entry.invocation.as_deref() == Some(inv) {
                                found = Some(r);
                                ControlFlow::Break(())
                            } else {
                                ControlFlow::Continue(())
                            }
                        })?;
                        found
                    }
                    None => None,
                };
                print_json(&json!({ "record": record, "invocation": invocation }))?;
            }
            AuditCommand::Export { tenant, from_seq } => {
                let store = data.open_store()?;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let tenants = tenants(&*store, tenant)?;
                let mut total = 0;
                for tenant in &tenants {
                    total += store.audit_head(tenant)?.map_or(0, |head| head.seq.saturating_sub(from_seq.max(1)) + 1);
                }
                let progress = data.progress(Some(total), "exporting audit records");
                for tenant in tenants {
                    store.audit_chain(&tenant, from_seq, &mut |r| {
                        progress.advance(1);
                        let line = serde_json::to_string(&r).expect("audit records serialise");
                        writeln!(out, "{line}")
                            .map(|()| ControlFlow::Continue(()))
                            .map_err(|e| crate::store::StoreError::Conflict(format!("writing the export: {e}")))
                    })?;
                }
                out.flush()?;
            }
            AuditCommand::Anchor { tenant, secret_file, starts_at, by } => {
                let secret = read_secret(&secret_file)?;
                let store = data.open_store()?;
                let at = crate::model::now_rfc3339();
                let by = by.unwrap_or_else(user);
                let mut refused = false;
                for tenant in tenants(&*store, tenant)? {
                    let Some(head) = store.audit_head(&tenant)? else { continue };
                    let start = store.audit_start(&tenant)?.unwrap_or_else(ChainStart::genesis);
                    match signable(start, &tenant, starts_at) {
                        Ok(first) => {
                            let checkpoint = Checkpoint::sign(&secret, &tenant, first, head, &at);
                            store.record_checkpoint(&checkpoint, &by).with_context(|| {
                                format!(
                                    "tenant '{tenant}': the checkpoint of record {} was not recorded",
                                    checkpoint.seq
                                )
                            })?;
                            println!("{}", serde_json::to_string(&checkpoint).expect("checkpoints serialise"));
                        }
                        Err(why) => {
                            refused = true;
                            eprintln!("provhost: tenant '{tenant}': not signed: {why}");
                        }
                    }
                }
                if refused {
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
            AuditCommand::Verify { tenant, file: Some(file), .. } => {
                let records: Vec<AuditRecord> = read_export(&file)?
                    .into_iter()
                    .filter(|r| tenant.as_ref().is_none_or(|t| &r.tenant == t))
                    .collect();
                let Some(first) = records.first() else { anyhow::bail!("{} holds no audit records", file.display()) };
                let start = match first.seq {
                    1 => ChainStart::genesis(),
                    seq => ChainStart { seq, prev_hash: first.prev_hash.clone() },
                };
                match verify_chain(&records, &start) {
                    Ok(n) => {
                        let (from, to) = (first.seq, first.seq + n - 1);
                        print!("provhost: records {from} to {to} in {} verify", file.display());
                        if from > 1 {
                            print!(
                                "; the first continues record {} (hash {}), which the file does not hold: the export before it, or the store, must end with that hash",
                                from - 1,
                                first.prev_hash
                            );
                        }
                        println!();
                    }
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
                let Anchored { mut held, covered } = match (anchor, secret_file) {
                    (Some(anchor), Some(secret_file)) => {
                        check_anchors(&*store, &anchor, &read_secret(&secret_file)?, tenant.as_deref())?
                    }
                    _ => Anchored { held: true, covered: BTreeSet::new() },
                };
                let tenants = tenants(&*store, tenant)?;
                let progress = data.progress(Some(tenants.len() as u64), "verifying tenants' chains");
                for tenant in tenants {
                    let v = store.verify_audit(&tenant)?;
                    progress.advance(1);
                    held &= report(&v, covered.contains(&tenant));
                }
                if !held {
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
