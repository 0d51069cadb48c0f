//! `omnify audit verify` and `omnify audit export`, on a data directory
//! whose server is stopped (the store is locked while a server runs; use the
//! API's `/audit/verify` then).

use crate::audit;
use crate::store::{RedbStore, Storage};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `omnify audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chains; report the first entry that was edited,
    /// removed or reordered.
    Verify(VerifyArgs),
    /// Print a tenant's chain as JSON Lines.
    Export(ExportArgs),
}

/// Arguments of `omnify audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this tenant's chain.
    #[arg(long)]
    tenant: Option<String>,
    /// The data directory.
    #[arg(long, env = "OMNIFY_DATA_DIR", default_value = "omnify-data")]
    data_dir: PathBuf,
}

/// Arguments of `omnify audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The data directory.
    #[arg(long, env = "OMNIFY_DATA_DIR", default_value = "omnify-data")]
    data_dir: PathBuf,
}

fn open(data_dir: &Path) -> anyhow::Result<RedbStore> {
    anyhow::ensure!(
        data_dir.join(crate::store::redb::DATABASE_FILE).exists(),
        "{} holds no Omnify store",
        data_dir.display()
    );
    RedbStore::open(data_dir).with_context(|| {
        format!(
            "cannot open the store in {} (if a server is running on it, use its API: \
             GET /v1/tenants/<tenant>/audit/verify)",
            data_dir.display()
        )
    })
}

/// Run the command; fails when a chain is broken.
pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => {
            let store = open(&args.data_dir)?;
            let tx = store.read()?;
            let chains = match args.tenant {
                Some(tenant) => vec![tenant],
                None => audit::chains(&*tx)?,
            };
            let mut broken = false;
            for chain in chains {
                let result = audit::verify(&*tx, &chain)?;
                match result.first_bad {
                    None => println!("{chain}: ok ({} entries)", result.entries),
                    Some(problem) => {
                        broken = true;
                        println!("{chain}: BROKEN at entry {}: {}", problem.seq, problem.reason);
                    }
                }
            }
            Ok(if broken {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        AuditCommand::Export(args) => {
            let store = open(&args.data_dir)?;
            let tx = store.read()?;
            print!("{}", audit::export(&*tx, &args.tenant)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
