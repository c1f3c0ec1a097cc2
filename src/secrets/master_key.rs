//! The master key: where it comes from, its format, and the key file a SQLite hub writes for
//! itself.
//!
//! Format: 32 random bytes written as 64 hexadecimal characters (`openssl rand -hex 32`), in
//! `secrets.key` (`TOKENHUB_SECRETS__KEY`) or in the file `secrets.key_file`. Surrounding
//! whitespace (the newline `echo` or `openssl` leaves) is ignored. No setting → a SQLite hub uses
//! `DATABASE_PATH.key` beside its database, writing a new key there on its first start; a
//! PostgreSQL hub refuses to start, since every instance must share one key.
//!
//! The key never appears in a message: errors name the setting and the file, never the content.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

use super::keys::Keys;
use crate::config::{ConfigError, Settings};
use crate::store::{sqlite_path, BackendKind};

/// Bytes of the master key.
const KEY_BYTES: usize = 32;

/// The hub's master key. Wiped from memory when dropped; `Debug` shows no part of it.
#[derive(Clone)]
pub struct MasterKey(Box<[u8; KEY_BYTES]>);

impl MasterKey {
    /// 32 bytes from the operating system's random source.
    pub fn random() -> MasterKey {
        let mut key = Box::new([0u8; KEY_BYTES]);
        rand::rngs::OsRng.fill_bytes(&mut key[..]);
        MasterKey(key)
    }

    /// Reads the documented format; the error says what is wrong without repeating the value.
    pub fn from_hex(text: &str) -> Result<MasterKey, String> {
        let text = text.trim_ascii();
        let expected =
            "must be 64 hexadecimal characters (32 bytes, e.g. from `openssl rand -hex 32`)";
        if text.len() != 2 * KEY_BYTES {
            return Err(format!(
                "{expected}, got {} characters",
                text.chars().count()
            ));
        }
        let mut key = Box::new([0u8; KEY_BYTES]);
        if hex::decode_to_slice(text, &mut key[..]).is_err() {
            return Err(format!("{expected}, got other characters than 0-9 and a-f"));
        }
        Ok(MasterKey(key))
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn to_hex(&self) -> String {
        hex::encode(&self.0[..])
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

/// A secret configuration value: read like a string, shown (`Debug`, and serialized by `config
/// check`) as `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> SecretString {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

/// Where the master key was found.
enum Origin {
    Setting,
    File(PathBuf),
    Created(PathBuf),
    /// SQLite without a key yet (only when asked not to create one).
    NotYetCreated(PathBuf),
}

struct Found {
    key: Option<MasterKey>,
    origin: Origin,
    /// Said at start (a warning), and by `config check`.
    warning: Option<String>,
}

/// The master key as every command that opens the store loads it: from `secrets.key`, from
/// `secrets.key_file`, or (SQLite only) from the key file beside the database, created on first
/// use. Call after the logger is set up: a loose key file is reported as a warning.
pub fn load_keys(settings: &Settings) -> Result<Keys, ConfigError> {
    let found = find(settings, true)?;
    if let Some(warning) = &found.warning {
        tracing::warn!("{warning}");
    }
    if let Origin::Created(path) = &found.origin {
        tracing::warn!(
            path = %path.display(),
            "created a new master key file beside the SQLite database: back it up together with the database"
        );
    }
    let key = found
        .key
        .expect("a master key exists once creating one is allowed");
    Ok(Keys::new(key))
}

/// For `config check`: where the master key comes from, checked as at start but without creating
/// a key file.
pub fn describe_master_key(settings: &Settings) -> Result<String, ConfigError> {
    let found = find(settings, false)?;
    let mut text = match &found.origin {
        Origin::Setting => "master key: secrets.key (TOKENHUB_SECRETS__KEY)".to_owned(),
        Origin::File(path) | Origin::Created(path) => {
            format!("master key: file {}", path.display())
        }
        Origin::NotYetCreated(path) => format!(
            "master key: file {}, created at the first start",
            path.display()
        ),
    };
    if let Some(warning) = found.warning {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    Ok(text)
}

fn find(settings: &Settings, create: bool) -> Result<Found, ConfigError> {
    let secrets = &settings.secrets;
    if secrets.key.is_some() && secrets.key_file.is_some() {
        return Err(ConfigError(
            "secrets.key: set either secrets.key (TOKENHUB_SECRETS__KEY) or secrets.key_file, not both"
                .into(),
        ));
    }
    if let Some(key) = &secrets.key {
        let key = MasterKey::from_hex(key.expose())
            .map_err(|why| ConfigError(format!("secrets.key: {why}")))?;
        return Ok(Found {
            key: Some(key),
            origin: Origin::Setting,
            warning: None,
        });
    }
    if let Some(path) = &secrets.key_file {
        let (key, warning) = read_key_file(path, "secrets.key_file")?;
        return Ok(Found {
            key: Some(key),
            origin: Origin::File(path.clone()),
            warning,
        });
    }
    match settings.database.backend {
        BackendKind::Sqlite => {}
        BackendKind::Postgres => {
            return Err(ConfigError(
                "secrets.key_file or TOKENHUB_SECRETS__KEY: a PostgreSQL hub needs a master key, \
                 the same on every instance, and none is set (create one with `openssl rand -hex 32`)"
                    .into(),
            ))
        }
    }
    let path = PathBuf::from(format!(
        "{}.key",
        sqlite_path(settings.database.url.expose())
    ));
    let setting = format!(
        "secrets.key_file (unset: the SQLite default {})",
        path.display()
    );
    if path.exists() {
        let (key, warning) = read_key_file(&path, &setting)?;
        return Ok(Found {
            key: Some(key),
            origin: Origin::File(path),
            warning,
        });
    }
    if !create {
        return Ok(Found {
            key: None,
            origin: Origin::NotYetCreated(path),
            warning: None,
        });
    }
    let (key, origin) = create_key_file(&path, &setting)?;
    Ok(Found {
        key: Some(key),
        origin,
        warning: None,
    })
}

/// The key in a file, and a warning when other users may read or change the file. A warning and
/// not a refusal: a container secret is often mounted readable by all (it keeps the host file's
/// mode), and inside the container only the hub's user exists.
fn read_key_file(path: &Path, setting: &str) -> Result<(MasterKey, Option<String>), ConfigError> {
    let bad = |why: String| ConfigError(format!("{setting}: {why}"));
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let key = MasterKey::from_hex(&text);
    text.zeroize();
    let key = key.map_err(|why| bad(format!("{} {why}", path.display())))?;
    Ok((key, loose_permissions(path)))
}

#[cfg(unix)]
fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the master key file {} is open to other users (mode {mode:04o}): restrict it to the hub's user (chmod 600)",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn loose_permissions(_path: &Path) -> Option<String> {
    None
}

/// Writes a new key to `path` unless another process does so first, in which case that key is
/// used. The key goes into a private temporary file that is then hard-linked into place: the link
/// fails if `path` exists, so no process overwrites another's key, and nobody ever reads a
/// half-written one.
fn create_key_file(path: &Path, setting: &str) -> Result<(MasterKey, Origin), ConfigError> {
    let bad = |why: String| ConfigError(format!("{setting}: {why}"));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let key = MasterKey::random();
    let written = write_private(&temporary, &key);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(bad(format!(
            "cannot create a master key file in {}: {e}",
            dir.display()
        )));
    }
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            // The new directory entry survives a crash only once the directory is synced.
            if let Ok(dir) = File::open(&dir) {
                let _ = dir.sync_all();
            }
            Ok((key, Origin::Created(path.to_path_buf())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let (key, _) = read_key_file(path, setting)?;
            Ok((key, Origin::File(path.to_path_buf())))
        }
        Err(e) => Err(bad(format!(
            "cannot create {}: {e} (create it yourself: `openssl rand -hex 32 > {0}; chmod 600 {0}`)",
            path.display()
        ))),
    }
}

fn write_private(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = key.to_hex();
    text.push('\n');
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    text.zeroize();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// As at start: the configuration validated, then the key loaded.
    fn load(config: &Config) -> Result<Keys, ConfigError> {
        load_keys(&Settings::from_config(config.clone())?)
    }

    fn describe(config: &Config) -> Result<String, ConfigError> {
        describe_master_key(&Settings::from_config(config.clone())?)
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn sqlite_config(dir: &Path) -> Config {
        let mut config = Config::default();
        config.database.url = format!("sqlite://{}", dir.join("hub.db").display());
        config
    }

    #[test]
    fn the_format_is_64_hex_characters() {
        assert!(MasterKey::from_hex(KEY).is_ok());
        assert!(MasterKey::from_hex(&format!("  {}\n", KEY.to_uppercase())).is_ok());
        let short = MasterKey::from_hex(&KEY[..62]).unwrap_err();
        assert!(
            short.contains("64 hexadecimal") && short.contains("62"),
            "{short}"
        );
        let not_hex = MasterKey::from_hex(&KEY.replace('0', "g")).unwrap_err();
        assert!(not_hex.contains("0-9 and a-f"), "{not_hex}");
        assert!(!not_hex.contains("g1g2"), "{not_hex}");
    }

    #[test]
    fn a_wrong_key_is_named_and_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = sqlite_config(dir.path());
        config.secrets.key = Some(SecretString::new(&KEY[..40]));
        let err = load(&config).unwrap_err().0;
        assert!(err.starts_with("secrets.key: "), "{err}");
        assert!(!err.contains(&KEY[..40]), "{err}");

        let file = dir.path().join("short.key");
        std::fs::write(&file, &KEY[..40]).unwrap();
        let mut config = sqlite_config(dir.path());
        config.secrets.key_file = Some(file);
        let err = load(&config).unwrap_err().0;
        assert!(err.starts_with("secrets.key_file: "), "{err}");
        assert!(!err.contains(&KEY[..40]), "{err}");
    }

    #[test]
    fn a_configured_key_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = sqlite_config(dir.path());
        config.secrets.key_file = Some(dir.path().join("absent.key"));
        let err = load(&config).unwrap_err().0;
        assert!(err.starts_with("secrets.key_file: cannot read"), "{err}");
        assert!(!dir.path().join("absent.key").exists());
    }

    #[test]
    fn key_and_key_file_together_are_refused() {
        let mut config = Config::default();
        config.secrets.key = Some(SecretString::new(KEY));
        config.secrets.key_file = Some("/run/secrets/master_key".into());
        let err = load(&config).unwrap_err().0;
        assert!(
            err.starts_with("secrets.key: ") && err.contains("not both"),
            "{err}"
        );
    }

    #[test]
    fn postgres_without_a_key_names_both_settings() {
        let mut config = Config::default();
        config.database.url = "postgres://tokenhub@127.0.0.1:1/tokenhub".into();
        for err in [
            load(&config).unwrap_err().0,
            describe(&config).unwrap_err().0,
        ] {
            assert!(
                err.contains("secrets.key_file") && err.contains("TOKENHUB_SECRETS__KEY"),
                "{err}"
            );
        }
        config.secrets.key = Some(SecretString::new(KEY));
        load(&config).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn sqlite_creates_a_private_key_file_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = sqlite_config(dir.path());
        let path = dir.path().join("hub.db.key");
        let described = describe(&config).unwrap();
        assert!(
            described.contains("created at the first start"),
            "{described}"
        );
        assert!(!path.exists(), "config check creates nothing");

        let first = load(&config).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content.trim().len(), 64);
        let second = load(&config).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        assert_eq!(first.fingerprint("UID1"), second.fingerprint("UID1"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("hub.db.key")]);
    }

    /// Two processes starting together: the second does not replace the first's key.
    #[test]
    fn an_existing_key_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db.key");
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        let (key, origin) = create_key_file(&path, "test").unwrap();
        assert!(matches!(origin, Origin::File(_)));
        assert_eq!(key.to_hex(), KEY);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{KEY}\n"));
    }

    #[cfg(unix)]
    #[test]
    fn a_loose_key_file_gets_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        std::fs::write(&file, KEY).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut config = sqlite_config(dir.path());
        config.secrets.key_file = Some(file.clone());
        let described = describe(&config).unwrap();
        assert!(
            described.contains("warning:") && described.contains("0644"),
            "{described}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let described = describe(&config).unwrap();
        assert!(!described.contains("warning"), "{described}");
    }

    #[test]
    fn secret_strings_never_print() {
        let secret = SecretString::new(KEY);
        assert_eq!(format!("{secret:?}"), "****");
        assert_eq!(
            toml::to_string(
                &[("key", &secret)]
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()
            )
            .unwrap()
            .trim(),
            "key = \"****\""
        );
    }
}
