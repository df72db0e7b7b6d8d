//! `gridwhistle backup` and `gridwhistle restore`: the database and the attachment store into one directory, and back.
//!
//! A backup runs while the server serves. The database comes first, as one consistent snapshot: SQLite's `VACUUM INTO` (an online copy), PostgreSQL's `pg_dump --format=custom` (one repeatable-read transaction; the PostgreSQL client tools must be installed). The attachments come after it: a blob is written and synced before the row that names it commits, and blobs never change, so every blob the snapshot names is there to copy. Uploads in flight are copied as they are; one the snapshot shows further along than its copied part is restarted by its client.
//! A restore goes into an empty database of the same kind (SQLite: a file that does not exist yet; PostgreSQL: a database without tables), then migrates it, so a backup of an older version is brought up to this one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database};
use serde::{Deserialize, Serialize};

use crate::config::GlobalArgs;

const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "gridwhistle.db";
const POSTGRES_FILE: &str = "gridwhistle.pgdump";
const ATTACHMENTS: &str = "attachments";

/// What a backup directory holds, written last, so a directory without it is not a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database file in the directory.
    pub database: String,
    /// Files of the attachment store copied (blobs and uploads in flight).
    pub files: u64,
    pub version: String,
}

/// The SQLite file a `sqlite://` URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("not a SQLite URL")?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!("an in-memory SQLite database has nothing to back up or restore");
    }
    Ok(PathBuf::from(path))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Runs a PostgreSQL client tool off the async threads, failing with what it printed.
async fn run_tool(program: &'static str, args: Vec<String>) -> anyhow::Result<()> {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(program).args(&args).output()
    })
    .await?
    .with_context(|| format!("cannot run {program}: are the PostgreSQL client tools installed?"))?;
    if !output.status.success() {
        bail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// [`copy_tree`] off the async threads.
async fn copy_store(from: PathBuf, to: PathBuf) -> anyhow::Result<u64> {
    tokio::task::spawn_blocking(move || copy_tree(&from, &to))
        .await?
        .context("cannot copy the attachment store")
}

/// Copies every file under `from` into the same place under `to`, keeping files already there (blobs are named by their content); answers how many were copied.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<u64> {
    if !from.exists() {
        return Ok(0);
    }
    let mut copied = 0;
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_tree(&entry.path(), &target)?;
        } else if !target.exists() {
            std::fs::copy(entry.path(), &target)?;
            copied += 1;
        }
    }
    Ok(copied)
}

/// Backs the database and the attachment store of `global` up into `to`, a directory that must not exist yet.
pub async fn backup(global: &GlobalArgs, to: &Path) -> anyhow::Result<Manifest> {
    if to.exists() {
        bail!(
            "{} exists: a backup goes into a new directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let url = global.resolved_database_url();
    let (backend, database) = if is_postgres(&url) {
        let file = to.join(POSTGRES_FILE).to_string_lossy().into_owned();
        let args = [
            "--format=custom",
            "--no-owner",
            "--file",
            &file,
            "--dbname",
            &url,
        ];
        run_tool("pg_dump", args.map(str::to_owned).to_vec()).await?;
        ("postgres", POSTGRES_FILE)
    } else {
        let source = sqlite_path(&url)?;
        if !source.exists() {
            bail!("no database at {}", source.display());
        }
        let db = Database::connect(url.as_str()).await?;
        let target = to.join(SQLITE_FILE).to_string_lossy().replace('\'', "''");
        db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
            .await
            .context("the SQLite snapshot failed")?;
        db.close().await?;
        ("sqlite", SQLITE_FILE)
    };
    let files = copy_store(global.data_dir.join(ATTACHMENTS), to.join(ATTACHMENTS)).await?;
    let manifest = Manifest {
        backend: backend.to_owned(),
        database: database.to_owned(),
        files,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    std::fs::write(to.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

/// Restores the backup in `from` into the empty database and the attachment store of `global`, then migrates the database.
pub async fn restore(global: &GlobalArgs, from: &Path) -> anyhow::Result<Manifest> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("{} holds no backup manifest", from.display()))?,
    )?;
    let url = global.resolved_database_url();
    match (manifest.backend.as_str(), is_postgres(&url)) {
        ("postgres", true) => {
            let db = Database::connect(url.as_str()).await?;
            let tables = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM information_schema.tables WHERE table_schema = 'public'",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or_default();
            db.close().await?;
            if tables > 0 {
                bail!("the database is not empty: restore into a new database");
            }
            let file = from.join(&manifest.database).to_string_lossy().into_owned();
            let args = ["--no-owner", "--exit-on-error", "--dbname", &url, &file];
            run_tool("pg_restore", args.map(str::to_owned).to_vec()).await?;
        }
        ("sqlite", false) => {
            let target = sqlite_path(&url)?;
            if target.exists() {
                bail!("{} exists: restore into a new file", target.display());
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::copy(from.join(&manifest.database), &target)?;
        }
        (backend, postgres) => {
            let into = if postgres { "PostgreSQL" } else { "SQLite" };
            bail!("a {backend} backup cannot be restored into a {into} database")
        }
    }
    copy_store(from.join(ATTACHMENTS), global.data_dir.join(ATTACHMENTS)).await?;
    let opened = crate::storage::Store::connect(&url, global.pool_settings()).await?;
    opened.migrate().await?;
    opened.close().await?;
    Ok(manifest)
}
