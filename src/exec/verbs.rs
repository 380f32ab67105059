//! How a verb reaches its hosts: the connection options every verb that
//! connects takes, and the engine built from them (its run log, known
//! hosts, secrets kept out of the output).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Engine, EngineOptions, DEFAULT_FORKS};
use super::knownhosts::{HostKeyPolicy, KnownHosts};
use super::redact::Redactor;
use super::runlog::{Progress, RunLog};
use super::transport::ConnectOptions;
use crate::model::Secret;

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
    let log_dir = conn.log_dir.clone().unwrap_or_else(|| {
        crate::args::installer_dir(&crate::args::default_conf_dir()).join("logs")
    });
    let log = RunLog::create(&log_dir, verb, redactor.clone())
        .map_err(|e| anyhow::anyhow!("cannot create the run log in {}: {e}", log_dir.display()))?;
    super::logger::attach(&log);
    let progress = Progress::new(redactor, conn.quiet, conn.verbose);
    Ok(Engine::new(nodes, opts, log, progress)?)
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
