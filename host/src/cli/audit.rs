//! `omnify audit verify`, `omnify audit export` and `omnify audit
//! public-key`, on a data directory whose server is stopped (the store is
//! locked while a server runs; use the API's `/audit/verify` then).
//! `public-key` and `verify --checkpoints <export> --public-key <key>` work
//! with a running server too, and the latter with no data directory at all.

use anyhow::Context;
use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use omnify_control::audit::checkpoint::{self, AuditSigner, SIGNING_KEY_FILE};
use omnify_control::audit::{self, Verification, exported};
use omnify_control::store::{RedbStore, Storage};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `omnify audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chains; report the first entry that was edited,
    /// removed or reordered.
    Verify(VerifyArgs),
    /// Sign a tenant's head, then print its chain and checkpoints as JSON
    /// Lines.
    Export(ExportArgs),
    /// Print the public key that checks this host's audit checkpoints.
    PublicKey(PublicKeyArgs),
}

/// Arguments of `omnify audit public-key`.
#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// The data directory.
    #[arg(long, env = "OMNIFY_DATA_DIR", default_value = "omnify-data")]
    data_dir: PathBuf,
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
    /// An exported copy (`omnify audit export`, `GET …/audit/export`) kept
    /// elsewhere: check it with the public key, and the store, if the data
    /// directory holds one, against its signed checkpoints.
    #[arg(long, value_name = "EXPORT")]
    checkpoints: Option<PathBuf>,
    /// The host's audit public key (`omnify audit public-key`), 64 hex
    /// digits; read from the data directory when not given.
    #[arg(long, requires = "checkpoints")]
    public_key: Option<String>,
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
        data_dir.join(omnify_control::store::redb::DATABASE_FILE).exists(),
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

/// The public key of the signing key in `data_dir`, if there is one.
fn own_public_key(data_dir: &Path) -> anyhow::Result<Option<VerifyingKey>> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(checkpoint::public_key_of(&path)?))
}

/// Print one verification; whether it is broken.
fn report(label: &str, result: &Verification) -> bool {
    let counted = match result.checkpoints {
        0 => format!("{} entries", result.entries),
        n => format!("{} entries, {n} signed checkpoints", result.entries),
    };
    match &result.first_bad {
        None => {
            println!("{label}: ok ({counted})");
            false
        }
        Some(problem) => {
            println!("{label}: BROKEN at entry {}: {}", problem.seq, problem.reason);
            true
        }
    }
}

fn exit_code(broken: bool) -> ExitCode {
    if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `verify` of the store's chains, with their stored checkpoints.
fn verify_store(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data_dir)?;
    let key = own_public_key(&args.data_dir)?;
    if key.is_none() {
        eprintln!("no audit signing key in the data directory: checkpoints' signatures are not checked");
    }
    let tx = store.read()?;
    let chains = match &args.tenant {
        Some(tenant) => vec![tenant.clone()],
        None => audit::chains(&*tx)?,
    };
    let mut broken = false;
    for chain in chains {
        broken |= report(&chain, &audit::verify_with(&*tx, &chain, key.as_ref())?);
    }
    Ok(exit_code(broken))
}

/// `verify --checkpoints`: the exported copy with the public key, then the
/// store (when there is one) against the copy's checkpoints.
fn verify_copy(args: &VerifyArgs, copy_path: &Path) -> anyhow::Result<ExitCode> {
    let key = match &args.public_key {
        Some(text) => checkpoint::parse_public_key(text)?,
        None => own_public_key(&args.data_dir)?.with_context(|| {
            format!(
                "no audit signing key in {}: pass the host's --public-key",
                args.data_dir.display()
            )
        })?,
    };
    let text =
        std::fs::read_to_string(copy_path).with_context(|| format!("cannot read {}", copy_path.display()))?;
    let mut chains = exported::parse(&text)?;
    if let Some(tenant) = &args.tenant {
        chains.retain(|chain, _| chain == tenant);
    }
    anyhow::ensure!(!chains.is_empty(), "{} holds no audit chain", copy_path.display());
    let mut broken = false;
    for (tenant, chain) in &chains {
        broken |= report(
            &format!("{tenant} (exported copy)"),
            &exported::verify_copy(tenant, chain, &key),
        );
    }
    if !args
        .data_dir
        .join(omnify_control::store::redb::DATABASE_FILE)
        .exists()
    {
        eprintln!(
            "{} holds no Omnify store: only the exported copy was checked",
            args.data_dir.display()
        );
        return Ok(exit_code(broken));
    }
    let store = open(&args.data_dir)?;
    let tx = store.read()?;
    for (tenant, chain) in &chains {
        broken |= report(
            &format!("{tenant} (store)"),
            &exported::verify_store_against(&*tx, tenant, chain, &key)?,
        );
    }
    Ok(exit_code(broken))
}

/// Run the command; fails when a chain is broken.
pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => match &args.checkpoints {
            Some(copy) => verify_copy(&args, copy),
            None => verify_store(&args),
        },
        AuditCommand::Export(args) => {
            let store = open(&args.data_dir)?;
            let signer = AuditSigner::open_or_create(&args.data_dir.join(SIGNING_KEY_FILE))?;
            audit::queries::sign_head(&store, &args.tenant, &signer)?;
            let tx = store.read()?;
            print!("{}", audit::export(&*tx, &args.tenant)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::PublicKey(args) => {
            let path = args.data_dir.join(SIGNING_KEY_FILE);
            let key = checkpoint::public_key_of(&path).with_context(|| {
                format!(
                    "no audit signing key in {} (a host makes it on first start)",
                    args.data_dir.display()
                )
            })?;
            println!("{}", hex::encode(key.as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
    }
}
