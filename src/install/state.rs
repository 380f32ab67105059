//! Which phases finished on which hosts, kept in the installer directory so
//! `install --resume` continues where a failed run stopped. Written
//! atomically after every phase, so a crash never leaves it half-written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// phase name -> hosts on which it finished
    pub done: BTreeMap<String, Vec<String>>,
}

impl State {
    pub fn path(installer_dir: &Path) -> PathBuf {
        installer_dir.join("state").join("install.json")
    }

    pub fn load(path: &Path) -> anyhow::Result<State> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not a ksinstall state file ({e}); remove it to start over",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Synced and renamed: a crash leaves the old record or the new one.
        write_private(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    pub fn is_done(&self, phase: &str, host: &str) -> bool {
        self.done
            .get(phase)
            .is_some_and(|h| h.iter().any(|x| x == host))
    }

    pub fn mark(&mut self, phase: &str, host: &str) {
        let hosts = self.done.entry(phase.to_string()).or_default();
        if !hosts.iter().any(|x| x == host) {
            hosts.push(host.to_string());
            hosts.sort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_marks_once() {
        let dir = std::env::temp_dir().join(format!("ksinstall-state-{}", std::process::id()));
        let path = State::path(&dir);
        let mut s = State::load(&path).unwrap();
        assert!(!s.is_done("etcd", "node1"));
        s.mark("etcd", "node1");
        s.mark("etcd", "node1");
        s.save(&path).unwrap();
        let back = State::load(&path).unwrap();
        assert_eq!(back.done["etcd"], ["node1"]);
        std::fs::write(&path, "garbage").unwrap();
        assert!(State::load(&path)
            .unwrap_err()
            .to_string()
            .contains("remove it"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// One run at a time per installer directory: two would race on `state/`
/// and on the hosts. Held (an advisory `flock`) until dropped; the kernel
/// lets go of it when the process ends, however it ends.
pub struct Lock {
    _file: std::fs::File,
}

impl Lock {
    pub fn path(installer_dir: &Path) -> PathBuf {
        installer_dir.join(".ksinstall.lock")
    }

    /// Takes the lock for `what` (the verb), or fails naming the holder.
    pub fn take(installer_dir: &Path, what: &str) -> anyhow::Result<Lock> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::io::AsRawFd;
        let path = Lock::path(installer_dir);
        std::fs::create_dir_all(installer_dir)?;
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            anyhow::bail!(
                "another ksinstall ({}) is working on {}: wait for it to end (nothing was changed by this one)",
                if holder.trim().is_empty() { "pid unknown".to_string() } else { holder.trim().to_string() },
                installer_dir.display()
            );
        }
        f.set_len(0)?;
        f.rewind()?;
        write!(f, "pid {}, {what}", std::process::id())?;
        Ok(Lock { _file: f })
    }
}

/// Writes a file only its owner reads (0600 from the start: a temp file
/// created with that mode beside it, synced, then renamed over it), so a
/// secret is never readable by others, even for a moment, and a crash
/// leaves the old file or the new one, never half of one.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod private_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_run_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let held = Lock::take(dir.path(), "install").unwrap();
        // flock locks belong to the open file: a second open is refused.
        let e = Lock::take(dir.path(), "reset").err().unwrap().to_string();
        assert!(
            e.contains(&format!("pid {}, install", std::process::id())),
            "{e}"
        );
        drop(held);
        Lock::take(dir.path(), "reset").unwrap();
    }

    #[test]
    fn private_files_are_0600_even_over_a_0644_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&p, b"secret").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
