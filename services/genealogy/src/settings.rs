//! Settings of the genealogy target and opening its store from them: SQLite in the data
//! directory unless a MongoDB URL is given (the cluster's store).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use dzinza_kit::config::resolve_secret;
use secrecy::{ExposeSecret as _, SecretString};

use crate::service::DEFAULT_VITALS_CACHE;
use crate::store::mongo::MongoStore;
use crate::store::{DocumentStore, StoreError};

fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

/// Settings of the genealogy service (`DZINZA_GENEALOGY_*` environment variables or flags).
///
/// Field names carry the service's prefix: clap names an argument after its field, and every
/// service's settings are flattened into one `dzinza serve` command, where two fields of the
/// same name would clash.
#[derive(Debug, Clone, Default, Args)]
pub struct GenealogyArgs {
    /// MongoDB URL of the genealogy store (`mongodb://` or `mongodb+srv://`; a replica set or a
    /// sharded cluster, as commits use transactions; the database is the URL's path, default
    /// `dzinza`). Unset means the SQLite file `<data-dir>/genealogy.db`.
    #[arg(
        long = "genealogy-mongodb-url",
        env = "DZINZA_GENEALOGY_MONGODB_URL",
        hide_env_values = true,
        value_parser = secret
    )]
    pub genealogy_mongodb_url: Option<SecretString>,
    /// File holding the genealogy store's MongoDB URL (it may carry credentials).
    #[arg(
        long = "genealogy-mongodb-url-file",
        env = "DZINZA_GENEALOGY_MONGODB_URL_FILE"
    )]
    pub genealogy_mongodb_url_file: Option<PathBuf>,
    /// Memory for decoded vitals kept between requests, in MiB (a pedigree reads one per
    /// ancestor, ~4 KB each); 0 turns the cache off. Default 128.
    #[arg(
        long = "genealogy-vitals-cache-mib",
        env = "DZINZA_GENEALOGY_VITALS_CACHE_MIB",
        value_name = "MIB"
    )]
    pub genealogy_vitals_cache_mib: Option<u64>,
}

impl GenealogyArgs {
    /// Bytes of the service's cache of decoded vitals.
    pub fn vitals_cache_bytes(&self) -> u64 {
        self.genealogy_vitals_cache_mib
            .map_or(DEFAULT_VITALS_CACHE, |mib| mib.saturating_mul(1 << 20))
    }
}

/// Failures opening the store.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is unreadable.
    #[error(transparent)]
    Config(#[from] dzinza_kit::config::ConfigError),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The URL is not a MongoDB URL.
    #[error("DZINZA_GENEALOGY_MONGODB_URL must start with mongodb:// or mongodb+srv://")]
    BadUrl,
}

/// Which store the settings select: MongoDB when a URL is given (migrated only when
/// `migrate_now`; in a cluster `dzinza migrate` does it once per release), else SQLite in
/// `<data_dir>/genealogy.db` (always migrated: nobody else opens that file).
pub async fn open_store(
    args: &GenealogyArgs,
    data_dir: &Path,
    migrate_now: bool,
) -> Result<Arc<dyn DocumentStore>, SetupError> {
    let url = resolve_secret(
        "DZINZA_GENEALOGY_MONGODB_URL",
        args.genealogy_mongodb_url.clone(),
        args.genealogy_mongodb_url_file.as_deref(),
    )?;
    match url {
        Some(url) => {
            let url = url.expose_secret();
            if !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) {
                return Err(SetupError::BadUrl);
            }
            let store = MongoStore::connect(url).await?;
            if migrate_now {
                store.migrate().await?;
            }
            Ok(Arc::new(store))
        }
        None => Ok(crate::open_embedded(data_dir).await?),
    }
}

/// Whether the settings select MongoDB (for log lines and health check details).
pub fn uses_mongodb(args: &GenealogyArgs) -> bool {
    args.genealogy_mongodb_url.is_some() || args.genealogy_mongodb_url_file.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        genealogy: GenealogyArgs,
    }

    #[test]
    fn the_vitals_cache_is_128_mib_unless_set() {
        let default = Cli::try_parse_from(["t"]).unwrap();
        assert_eq!(default.genealogy.vitals_cache_bytes(), 128 << 20);
        let off = Cli::try_parse_from(["t", "--genealogy-vitals-cache-mib", "0"]).unwrap();
        assert_eq!(off.genealogy.vitals_cache_bytes(), 0);
        let set = Cli::try_parse_from(["t", "--genealogy-vitals-cache-mib", "512"]).unwrap();
        assert_eq!(set.genealogy.vitals_cache_bytes(), 512 << 20);
        assert!(Cli::try_parse_from(["t", "--genealogy-vitals-cache-mib", "-1"]).is_err());
    }

    #[tokio::test]
    async fn a_url_of_another_kind_is_refused_without_echoing_it() {
        let cli =
            Cli::try_parse_from(["t", "--genealogy-mongodb-url", "postgres://u:hunter2@db/x"])
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = open_store(&cli.genealogy, dir.path(), false)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, SetupError::BadUrl), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn the_url_file_is_read_and_a_mongodb_url_selects_mongodb() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        // Connecting sends nothing, so this works without a server.
        std::fs::write(&file, "mongodb://u:hunter2@127.0.0.1:9/genealogy\n").unwrap();
        let cli =
            Cli::try_parse_from(["t", "--genealogy-mongodb-url-file", file.to_str().unwrap()])
                .unwrap();
        assert!(uses_mongodb(&cli.genealogy));
        open_store(&cli.genealogy, dir.path(), false).await.unwrap();
        assert!(!dir.path().join("genealogy.db").exists(), "no SQLite file");
    }

    #[tokio::test]
    async fn without_a_url_the_store_is_sqlite_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli::try_parse_from(["t"]).unwrap();
        assert!(!uses_mongodb(&cli.genealogy));
        open_store(&cli.genealogy, dir.path(), false).await.unwrap();
        assert!(dir.path().join("genealogy.db").exists());
    }
}
