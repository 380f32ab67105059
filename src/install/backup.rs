//! `ksinstall etcd backup`: a snapshot taken now by the first etcd member's
//! own backup script (the one its timer runs, so both make the same kind
//! of file in the same place), then fetched to the taskbox and checked
//! against the member's sha256 of it. The snapshot holds every Secret of
//! the cluster: the local copy is 0600.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use super::run::RunOptions;
use crate::bundle::hash::sha256_bytes;
use crate::exec::shell::sh_quote;
use crate::exec::verbs::engine_for;
use crate::exec::{Action, HostCtx, HostFail};
use crate::model::Cluster;
use crate::render::ETCD_BACKUP_SCRIPT;

/// Takes a snapshot on the first etcd member and keeps a copy in `out_dir`
/// (default: the installer directory's backups/).
pub fn run(
    cluster: Cluster,
    opts: &RunOptions,
    out_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let Some(member) = cluster.etcd().first().map(|n| n.name.clone()) else {
        anyhow::bail!("no [etcd] host in the inventory: nothing to back up");
    };
    let idx = cluster
        .nodes
        .iter()
        .position(|n| n.name == member)
        .expect("an etcd member is a node");
    let engine = engine_for(cluster.nodes.clone(), &opts.conn, "Backup", None)?;
    let got: Mutex<Option<(String, Vec<u8>, String)>> = Mutex::new(None);
    let step = engine.step("etcd backup", &[idx], |ctx| {
        let path = snapshot(ctx)?;
        if path.is_empty() {
            return Ok(()); // a dry run: nothing was taken
        }
        let sum = ctx
            .query(
                &format!("sha256sum {} | cut -d' ' -f1", sh_quote(&path)),
                Some(std::time::Duration::from_secs(300)),
            )?
            .stdout;
        let data = ctx.fetch(&path)?;
        *got.lock().expect("no panics hold this lock") =
            Some((path, data, String::from_utf8_lossy(&sum).trim().to_string()));
        Ok(())
    });
    if let Some(h) = step.failures().next() {
        eprintln!(
            "[ERROR {}] etcd backup on {}: {}",
            h.kind.unwrap_or("Failed"),
            h.host,
            h.message
        );
        return Ok(ExitCode::from(1));
    }
    let Some((remote, data, want)) = got.into_inner().expect("no panics hold this lock") else {
        println!("Plan: run {ETCD_BACKUP_SCRIPT} on {member} and fetch the snapshot; nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    };
    let have = sha256_bytes(&data);
    anyhow::ensure!(
        have == want,
        "the snapshot fetched from {member}:{remote} does not match its sha256 there ({have} here, {want} there): run the backup again"
    );
    let dir = out_dir.unwrap_or_else(|| opts.installer_dir.join("backups"));
    let name = remote
        .trim_end_matches("/snapshot.db")
        .rsplit('/')
        .next()
        .unwrap_or("etcd")
        .replace(':', "-");
    let local = dir.join(format!("{name}-{member}.db"));
    super::state::write_private(&local, &data)?;
    println!(
        "etcd snapshot of {member}: {remote} ({} bytes)\ncopied to {} (mode 0600)\nsha256 {have}",
        data.len(),
        local.display()
    );
    engine.close_all();
    Ok(ExitCode::SUCCESS)
}

/// Runs the member's backup script; the path of the new snapshot.
fn snapshot(ctx: &mut HostCtx) -> Result<String, HostFail> {
    let out = ctx.perform(Action {
        describe: "take an etcd snapshot".into(),
        script: ETCD_BACKUP_SCRIPT.into(),
        stdin: None,
        timeout: Some(std::time::Duration::from_secs(300)),
        mutates: true,
        sensitive: false,
    })?;
    let Some(out) = out else {
        return Ok(String::new()); // dry run
    };
    if out.rc != 0 {
        return Err(HostFail::Failed(format!(
            "{ETCD_BACKUP_SCRIPT} exit {}: {} (is etcd installed and healthy on it?)",
            out.rc,
            out.stderr_text().trim()
        )));
    }
    ctx.set_changed();
    let text = out.stdout_text();
    Ok(text.lines().last().unwrap_or_default().trim().to_string())
}
