//! The ad-hoc verbs `run` and `copy`, over the engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Change, Engine, EngineOptions, HostFail, StepReport, DEFAULT_FORKS};
use super::knownhosts::{HostKeyPolicy, KnownHosts};
use super::nodes::{node_from_inventory, select};
use super::redact::Redactor;
use super::runlog::{Progress, RunLog};
use super::transport::ConnectOptions;
use crate::inventory::ini;
use crate::model::Secret;

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

/// Half an hour: well over the slowest step of an install (a large image
/// import or package install on a slow disk), well under "forever".
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 1800;

/// How to reach hosts: shared by every verb that connects.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// Hosts worked on at once.
    #[arg(short = 'f', long, default_value_t = DEFAULT_FORKS)]
    pub forks: usize,
    /// Print what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds allowed for TCP connect, and for the SSH handshake.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds one command on a host may run in install, add-nodes, reset
    /// and remove-node before it is killed, where the command has no limit
    /// of its own (0: none). A hung apt-get then fails its phase instead
    /// of holding the run forever. `run` takes -t instead.
    #[arg(long, default_value_t = DEFAULT_COMMAND_TIMEOUT, value_name = "SECS")]
    pub command_timeout: u64,
    /// known_hosts file (default: the installer directory's known_hosts,
    /// beside conf/; `~/.ssh/known_hosts` only when named here).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Refuse hosts whose key is not in known_hosts (default: record it).
    #[arg(long)]
    pub strict_host_keys: bool,
    /// File holding the passphrase of encrypted private keys.
    #[arg(long, value_name = "FILE")]
    pub key_passphrase_file: Option<PathBuf>,
    /// Directory of run logs. Default: the installer directory's logs/
    /// (beside conf/), whatever the current directory.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// No per-host progress lines.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Every operation on the screen as it runs (the log has them anyway).
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    pub verbose: bool,
}

impl ConnArgs {
    /// The installer directory's defaults for what was not given: the run
    /// logs in its `logs/`, the host keys in its `known_hosts` (a rebuilt
    /// host set stays apart from the user's own ~/.ssh/known_hosts, which
    /// `--known-hosts` names when wanted).
    pub fn in_installer(mut self, installer_dir: &Path) -> ConnArgs {
        self.log_dir = self.log_dir.or_else(|| Some(installer_dir.join("logs")));
        self.known_hosts = self
            .known_hosts
            .or_else(|| Some(installer_dir.join("known_hosts")));
        self
    }
}

/// An engine over `nodes`, connecting as `conn` says, logging to
/// `<log_dir>/<Verb>[date].log`.
pub fn engine_for(
    nodes: Vec<crate::model::Node>,
    conn: &ConnArgs,
    verb: &str,
    command_timeout: Option<Duration>,
) -> anyhow::Result<Engine> {
    let kh_path = conn.known_hosts.clone().unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".ssh").join("known_hosts")
    });
    let policy = if conn.strict_host_keys {
        HostKeyPolicy::Strict
    } else {
        HostKeyPolicy::TrustOnFirstUse
    };
    let known_hosts = Arc::new(KnownHosts::load(&kh_path, policy)?);
    let mut connect = ConnectOptions::new(known_hosts);
    connect.connect_timeout = Duration::from_secs(conn.connect_timeout.max(1));
    if let Some(f) = &conn.key_passphrase_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        connect.key_passphrase = Some(Secret::new(text.trim_end_matches(['\n', '\r'])));
    }
    let mut opts = EngineOptions::new(connect);
    opts.forks = conn.forks.max(1);
    opts.dry_run = conn.dry_run;
    opts.command_timeout = command_timeout;
    let redactor: Redactor = super::engine::redactor_for(&nodes, &opts.connect);
    let log_dir = conn
        .log_dir
        .clone()
        .unwrap_or_else(|| crate::cli::installer_dir(&crate::cli::default_conf_dir()).join("logs"));
    let log = RunLog::create(&log_dir, verb, redactor.clone())
        .map_err(|e| anyhow::anyhow!("cannot create the run log in {}: {e}", log_dir.display()))?;
    super::logger::attach(&log);
    let progress = Progress::new(redactor, conn.quiet, conn.verbose);
    Ok(Engine::new(nodes, opts, log, progress)?)
}

fn build_engine(args: &ExecArgs, verb: &str) -> anyhow::Result<(Engine, Vec<usize>)> {
    // --conf and -i mean what they mean for every other verb.
    let conf = args
        .conf
        .clone()
        .unwrap_or_else(crate::cli::default_conf_dir);
    let path = args
        .inventory
        .clone()
        .unwrap_or_else(|| conf.join("hosts.ini"));
    let conn = args
        .conn
        .clone()
        .in_installer(&crate::cli::installer_dir(&conf));
    let inv = ini::load(&path).map_err(|d| {
        let mut r = crate::diag::Report::default();
        r.push(d);
        crate::diag::Invalid(r)
    })?;
    for w in &inv.warnings {
        eprintln!("{w}");
    }
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
    let data = super::Blob::file(src)
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        conn: ConnArgs,
    }

    #[test]
    fn host_keys_and_logs_default_to_the_installer_directory() {
        let c = Cli::parse_from(["x"])
            .conn
            .in_installer(Path::new("/srv/ks"));
        assert_eq!(c.known_hosts, Some(PathBuf::from("/srv/ks/known_hosts")));
        assert_eq!(c.log_dir, Some(PathBuf::from("/srv/ks/logs")));
        let c = Cli::parse_from(["x", "--known-hosts", "/root/.ssh/known_hosts"])
            .conn
            .in_installer(Path::new("/srv/ks"));
        assert_eq!(c.known_hosts, Some(PathBuf::from("/root/.ssh/known_hosts")));
    }
}
