//! The ad-hoc verbs `run` and `copy` (Ansible's `ansible -m shell` and
//! `-m copy`), over the engine: nodes straight from an inventory, the
//! connection from the model's reading of the host variables; only
//! privilege escalation follows Ansible's ad-hoc rule (`-b`, or
//! `ansible_become=true`) instead of the installer's (always, for non-root).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::exec::engine::{Change, Engine, HostFail, StepReport};
use crate::exec::verbs::{engine_for, ConnArgs};
use crate::inventory::Inventory;
use crate::model::cluster::{node_from_vars, var_text, BECOME_PASS_VARS, BECOME_USER_VARS};
use crate::model::{Become, Connection, Node, Secret};

/// Host selection for the ad-hoc verbs.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// The conf directory. Default: the installer directory's conf/.
    #[arg(long, value_name = "DIR")]
    pub conf: Option<PathBuf>,
    /// Inventory file. Default: CONF/hosts.ini.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Hosts of this group (default: all).
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,
    /// Only these hosts or groups (comma-separated).
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Become root with sudo (password: ansible_become_pass).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// Seconds a command may run before it is killed (default: no limit).
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The node for inventory host `h`. `force_become` is `-b`. The bastion is
/// the first host of a `bastion` group, as in Kubespray inventories.
pub fn node_from_inventory(inv: &Inventory, h: usize, force_become: bool) -> Node {
    let read = |h: usize| {
        let vars = inv.host_vars(h);
        let node = node_from_vars(
            &inv.hosts[h].name,
            &vars,
            Vec::new(),
            Some(inv.hosts[h].line),
            &mut |_| {},
        );
        (node, vars)
    };
    let (mut node, vars) = read(h);
    let bastion = inv
        .hosts_named("bastion")
        .first()
        .copied()
        .filter(|&b| b != h);
    if let (Connection::Ssh(t), Some(b)) = (&mut node.connection, bastion) {
        if let Connection::Ssh(bt) = read(b).0.connection {
            t.bastion = Some(Box::new(bt));
        }
    }
    let login_user = match &node.connection {
        Connection::Ssh(t) => t.user.clone(),
        Connection::Local => crate::exec::engine::local_user(),
    };
    let wants_become = force_become || vars.get("ansible_become").is_some_and(|x| x.value.truthy());
    let become_user = var_text(&vars, BECOME_USER_VARS).unwrap_or_else(|| "root".to_string());
    node.become_ = (wants_become && become_user != login_user).then(|| Become {
        user: become_user,
        password: var_text(&vars, BECOME_PASS_VARS).map(Secret::new),
    });
    node
}

/// Hosts of `group` (default `all`), limited to `limit` (comma-separated
/// host or group names) when given. Unknown names are errors.
pub fn select(
    inv: &Inventory,
    group: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<usize>, String> {
    let group = group.unwrap_or("all");
    if inv.group(group).is_none() {
        if inv.host(group).is_some() {
            return Ok(vec![inv.host_id(group).unwrap()]);
        }
        return Err(format!(
            "no group or host {group:?} in {}",
            inv.path.display()
        ));
    }
    let mut hosts = inv.hosts_named(group);
    if let Some(limit) = limit {
        let mut keep = Vec::new();
        for name in limit.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(h) = inv.host_id(name) {
                keep.push(h);
            } else if inv.group(name).is_some() {
                keep.extend(inv.hosts_named(name));
            } else {
                return Err(format!(
                    "no host or group {name:?} in {}",
                    inv.path.display()
                ));
            }
        }
        hosts.retain(|h| keep.contains(h));
    }
    Ok(hosts)
}

fn build_engine(args: &ExecArgs, verb: &str) -> anyhow::Result<(Engine, Vec<usize>)> {
    // --conf and -i mean what they mean for every other verb.
    let conf = args
        .conf
        .clone()
        .unwrap_or_else(crate::args::default_conf_dir);
    let path = args
        .inventory
        .clone()
        .unwrap_or_else(|| conf.join("hosts.ini"));
    let conn = args
        .conn
        .clone()
        .in_installer(&crate::args::installer_dir(&conf));
    // Read as every other verb reads it (the legacy password rule too).
    let mut report = crate::diag::Report::default();
    let Some(inv) = crate::model::load::read_inventory(&path, &mut report) else {
        return Err(crate::diag::Invalid(report).into());
    };
    eprint!("{}", report.render());
    let hosts =
        select(&inv, args.group.as_deref(), args.limit.as_deref()).map_err(anyhow::Error::msg)?;
    if hosts.is_empty() {
        anyhow::bail!("no hosts matched");
    }
    let nodes: Vec<_> = (0..inv.hosts.len())
        .map(|h| node_from_inventory(&inv, h, args.become_))
        .collect();
    let engine = engine_for(nodes, &conn, verb, args.timeout.map(Duration::from_secs))?;
    Ok((engine, hosts))
}

/// Prints the summary table; returns the exit code: 0 when every host is
/// ok or changed, 2 when any failed, 4 when some were only unreachable.
fn summarize(engine: &Engine, report: &StepReport) -> ExitCode {
    if engine.dry_run() {
        let planned = engine.planned();
        println!("\nDRY RUN: {} change(s) not made", planned.len());
        for (host, what) in planned {
            println!("  {host}: would {what}");
        }
    }
    let width = report
        .hosts
        .iter()
        .map(|h| h.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("\n{:<width$}  {:<11}  DETAIL", "HOST", "STATUS");
    for h in &report.hosts {
        let detail = match (h.kind, h.rc) {
            (Some(k), _) if k != "Failed" => format!("{k}: {}", h.message),
            (_, Some(rc)) if h.message.is_empty() => format!("rc={rc}"),
            _ => h.message.clone(),
        };
        println!(
            "{:<width$}  {:<11}  {}",
            h.host,
            h.status.label(),
            detail.lines().next().unwrap_or("")
        );
    }
    let count = |s: &str| {
        report
            .hosts
            .iter()
            .filter(|h| h.status.label() == s)
            .count()
    };
    println!(
        "\nok={} changed={} failed={} unreachable={} skipped={}",
        count("ok"),
        count("changed"),
        count("failed"),
        count("unreachable"),
        count("skipped")
    );
    if let Some(p) = engine.log.path() {
        println!("log: {}", p.display());
    }
    if count("failed") > 0 {
        ExitCode::from(2)
    } else if count("unreachable") + count("skipped") > 0 {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    }
}

/// `ksinstall run -- CMD`
pub fn run(args: &ExecArgs, cmd: &[String]) -> anyhow::Result<ExitCode> {
    if cmd.is_empty() {
        anyhow::bail!("nothing to run: give the command after --");
    }
    let cmd = cmd.join(" ");
    let (engine, hosts) = build_engine(args, "Run")?;
    let report = engine.step("run", &hosts, |h| match h.exec(&cmd, None)? {
        None => Ok(()),
        Some(out) if out.timed_out => Err(HostFail::Failed(format!("timed out (rc={})", out.rc))),
        Some(out) if out.rc != 0 => Err(HostFail::Failed(format!(
            "rc={}{}",
            out.rc,
            out.stderr_text()
                .lines()
                .last()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))),
        Some(_) => Ok(()),
    });
    for h in &report.hosts {
        if h.rc.is_none() {
            continue;
        }
        println!(
            "{} | {} | rc={} >>",
            h.host,
            h.status.label().to_uppercase(),
            h.rc.unwrap_or(-1)
        );
        print!("{}", h.stdout);
        if !h.stdout.is_empty() && !h.stdout.ends_with('\n') {
            println!();
        }
        if !h.stderr.is_empty() {
            eprint!("{}", h.stderr);
        }
    }
    let code = summarize(&engine, &report);
    engine.close_all();
    Ok(code)
}

/// `ksinstall copy SRC DEST`
pub fn copy(
    args: &ExecArgs,
    src: &Path,
    dest: &str,
    mode: Option<&str>,
    owner: Option<&str>,
) -> anyhow::Result<ExitCode> {
    // Hashed once here, then streamed to each host from disk.
    let data = crate::exec::Blob::file(src)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", src.display()))?;
    let mode = match mode {
        Some(m) => Some(
            u32::from_str_radix(m, 8)
                .map_err(|_| anyhow::anyhow!("--mode must be octal, like 0644: {m}"))?,
        ),
        None => None,
    };
    let dest = if dest.ends_with('/') {
        let name = src
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("{} has no file name", src.display()))?;
        format!("{dest}{}", name.to_string_lossy())
    } else {
        dest.to_string()
    };
    if !dest.starts_with('/') {
        anyhow::bail!("DEST must be an absolute path: {dest}");
    }
    let (engine, hosts) = build_engine(args, "Copy")?;
    let report = engine.step("copy", &hosts, |h| {
        let c = h.upload_blob(&data, &dest, mode, owner)?;
        h.set_message(match c {
            Change::Unchanged => "unchanged",
            Change::Changed => "written",
            Change::WouldChange => "would write",
        });
        Ok(())
    });
    let code = summarize(&engine, &report);
    engine.close_all();
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run` and `copy` read hosts.ini as `install` does: the legacy
    /// install.sh rule makes a non-root line's sudo password its SSH
    /// password too. They read the file raw before, and logged in without it.
    #[test]
    fn the_ad_hoc_verbs_read_the_inventory_as_the_installer_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.ini");
        std::fs::write(
            &path,
            "[all]\nnode1 ansible_host=192.168.0.3 ip=192.168.0.3 ansible_user=ubuntu ansible_become_pass=S3cret\n",
        )
        .unwrap();
        let mut report = crate::diag::Report::default();
        let inv = crate::model::load::read_inventory(&path, &mut report).unwrap();
        assert!(
            report.render().contains("LegacyPasswordCopy"),
            "{}",
            report.render()
        );
        let node = node_from_inventory(&inv, 0, false);
        let Connection::Ssh(t) = &node.connection else {
            panic!("{node:?}")
        };
        assert_eq!(t.password.as_ref().map(|p| p.expose()), Some("S3cret"));
    }
}
