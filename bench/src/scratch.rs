//! What a run creates and removes again: its scratch directory and its PostgreSQL database.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// A scratch directory, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn create(name: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// A PostgreSQL database created for this run, dropped on drop.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let mut url = url::Url::parse(admin_url).context("--database-url is not a valid URL")?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            bail!("--database-url must start with postgres://");
        }
        url.set_path(&format!("/{name}"));
        let mut admin = diesel::pg::PgConnection::establish(admin_url).with_context(|| {
            format!("cannot connect to {}", tokenhub::store::mask_url(admin_url))
        })?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let dropped = diesel::pg::PgConnection::establish(&self.admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut admin| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin)
                .map_err(|e| e.to_string())
            });
        match dropped {
            Ok(_) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("warning: cannot drop database {}: {e}", self.name),
        }
    }
}
