//! Secrets: a type that never prints, and the server secret kept on disk.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// A value that must not reach logs: `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The shortest secret or API key accepted: 32 characters.
pub const MIN_SECRET_LEN: usize = 32;

/// Reads the secret kept at `path`, or creates it: 32 random bytes in hex,
/// written to a file that is owner-only (mode 0600) from the moment it exists,
/// so no other user can read it even between create and chmod.
pub fn load_or_create(path: &Path) -> anyhow::Result<Secret> {
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing.trim().len() >= MIN_SECRET_LEN
    {
        return Ok(Secret::new(existing.trim()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    // A file left by an older version may have wider permissions: narrow them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    file.write_all(fresh.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all().with_context(|| format!("syncing {}", path.display()))?;
    Ok(Secret::new(fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[redacted]");
    }

    #[cfg(unix)]
    #[test]
    fn the_secret_file_is_owner_only_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/beacon.secret");
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        assert_eq!(load_or_create(&path).unwrap(), first);
    }
}
