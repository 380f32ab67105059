//! From the files on disk to a `Cluster`: which inventory, which conf
//! directory, all-in-one or multi-node, and the legacy rewrites on the way.

use std::path::{Path, PathBuf};

use super::cluster::{Cluster, Mode};
use super::legacy;
use crate::config::{self, kubekey};
use crate::diag::{Diagnostic, Report};
use crate::inventory::ini;

#[derive(Debug, Clone)]
pub struct Sources {
    /// The conf directory (vars.yml / common.yaml / plugin-*.yaml).
    pub conf_dir: PathBuf,
    /// hosts.ini or a KubeKey config-sample.yaml; default `<conf_dir>/hosts.ini`.
    pub inventory: Option<PathBuf>,
    pub mode: Mode,
}

impl Sources {
    pub fn inventory_path(&self) -> PathBuf {
        self.inventory
            .clone()
            .unwrap_or_else(|| self.conf_dir.join("hosts.ini"))
    }
}

fn is_kubekey_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

/// Loads everything; all problems found go to `report`. `None` only when
/// nothing usable could be read.
pub fn load(src: &Sources, report: &mut Report) -> Option<Cluster> {
    let mut cfg = config::load_dir(&src.conf_dir, report)?;
    if src.mode == Mode::AllInOne {
        return Some(Cluster::all_in_one(cfg));
    }
    let path = src.inventory_path();
    if is_kubekey_file(&path) {
        let kk = match kubekey::read(&path) {
            Ok(kk) => kk,
            Err(d) => {
                report.push(d);
                return None;
            }
        };
        report.extend(kk.notes.iter().cloned());
        cfg = config::apply_kubekey(cfg, &path, &kk, report);
        return Some(Cluster::from_kubekey(path, &kk, cfg));
    }
    let inv = read_inventory(&path, report)?;
    Some(Cluster::from_inventory(&inv, cfg, report))
}

/// hosts.ini as every verb reads it: with the legacy install.sh's rewrite
/// (a non-root line's sudo password is its SSH password too, said in a
/// warning), parse warnings in `report`.
pub fn read_inventory(path: &Path, report: &mut Report) -> Option<crate::inventory::Inventory> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report.push(
                Diagnostic::error(
                    "InventoryFile",
                    format!("cannot read the inventory: {e}. Copy conf/hosts.ini from the installer and list your machines in it."),
                )
                .at(path, None),
            );
            return None;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let (rewritten, changed) = legacy::copy_become_password(&text);
    for line in changed {
        let text_line = rewritten.lines().nth(line - 1).unwrap_or("");
        if text_line.contains("ansible_connection=local") {
            continue; // no SSH on that line: the copy changes nothing
        }
        let host = text_line.split_whitespace().next().unwrap_or("?");
        report.push(
            Diagnostic::warning(
                "LegacyPasswordCopy",
                format!(
                    "'{host}': its ansible_become_pass is also used as its SSH password (the legacy install.sh rule for non-root lines). \
                     Set ansible_ssh_pass on the line to make this explicit."
                ),
            )
            .at(path, Some(line)),
        );
    }
    let parsed = if bytes == rewritten.as_bytes() {
        ini::parse(path, &bytes)
    } else {
        ini::parse(path, rewritten.as_bytes())
    };
    let inv = match parsed {
        Ok(inv) => inv,
        Err(d) => {
            report.push(d);
            return None;
        }
    };
    report.extend(inv.warnings.iter().cloned());
    Some(inv)
}
