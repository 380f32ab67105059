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
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
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
