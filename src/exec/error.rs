//! Every way reaching or using a host can fail, each with its own kind so
//! that the operator is told what to fix. No variant ever holds a secret.

use std::fmt;

/// A recorded host key and the different one the host now presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub host: String,
    /// The host as known_hosts stores it (`10.0.0.1`, `[10.0.0.1]:2222`):
    /// what `ssh-keygen -R` takes.
    pub entry: String,
    pub known_hosts: String,
    pub line: usize,
    pub key_type: String,
    /// SHA256 fingerprints, as OpenSSH prints them.
    pub expected: String,
    pub got: String,
}

/// Why a host could not be reached or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// TCP connect answered with RST: nothing listens there (sshd down?).
    Refused { addr: String },
    /// TCP connect or the SSH handshake got no answer in time.
    TimedOut {
        addr: String,
        what: String,
        secs: u64,
    },
    /// No route to the host or network (ICMP unreachable).
    NoRoute { addr: String, detail: String },
    /// The name did not resolve.
    Resolve { addr: String, detail: String },
    /// SSH protocol failure before authentication (kex, banner...).
    Handshake { addr: String, detail: String },
    /// No authentication method worked.
    AuthFailed {
        user: String,
        addr: String,
        tried: Vec<String>,
        offered: String,
    },
    /// The key file could not be used (missing, unreadable, wrong passphrase).
    KeyFile { path: String, detail: String },
    /// The host presented a key different from the one recorded.
    HostKeyChanged(Box<KeyChange>),
    /// The host key is not recorded and `--strict-host-keys` is on.
    HostKeyUnknown {
        host: String,
        known_hosts: String,
        key_type: String,
        got: String,
    },
    /// The host key is marked `@revoked`.
    HostKeyRevoked { host: String, got: String },
    /// sudo asked again after the password: the become password is wrong.
    SudoWrongPassword { user: String },
    /// sudo asked for a password and the inventory has none.
    SudoPasswordMissing { user: String },
    /// The login user may not run commands with sudo.
    SudoNotAllowed { user: String, detail: String },
    /// sudoers has `requiretty`.
    SudoNeedsTty { user: String },
    /// Something else went wrong starting the privileged shell.
    SudoFailed { user: String, detail: String },
    /// The connection broke while in use (reset, EOF, link cut).
    ConnectionLost { detail: String },
    /// An operation did not finish within its time limit.
    OpTimedOut { what: String, secs: u64 },
    /// A stop was asked for (SIGINT/SIGTERM) before this command started.
    Interrupted,
    /// A command's output went over the cap the engine reads.
    OutputTooLarge {
        stream: String,
        bytes: u64,
        cap: u64,
    },
    /// Anything else (local I/O, protocol violations).
    Other(String),
}

impl ExecError {
    /// True when the host could not be reached at all or the connection
    /// died: the outcome is `unreachable` rather than `failed`.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ExecError::Refused { .. }
                | ExecError::TimedOut { .. }
                | ExecError::NoRoute { .. }
                | ExecError::Resolve { .. }
                | ExecError::ConnectionLost { .. }
                // No reply by the command's own limit plus the grace: the
                // host or the link is gone (a command that merely ran too
                // long is killed remotely and reported as timed_out).
                | ExecError::OpTimedOut { .. }
        ) || self.closed_before_banner()
    }

    /// The peer closed the connection before saying a word of SSH (a dying
    /// host or proxy, a full sshd `MaxStartups`): as Ansible counts
    /// `kex_exchange_identification: Connection closed`, unreachable, not a
    /// handshake disagreement such as no common cipher.
    fn closed_before_banner(&self) -> bool {
        matches!(self, ExecError::Handshake { detail, .. } if detail.contains("banner"))
    }

    /// Short stable name of the kind, for summaries and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecError::Refused { .. } => "ConnectionRefused",
            ExecError::TimedOut { .. } => "ConnectTimeout",
            ExecError::NoRoute { .. } => "NoRoute",
            ExecError::Resolve { .. } => "Resolve",
            ExecError::Handshake { .. } => "Handshake",
            ExecError::AuthFailed { .. } => "AuthFailed",
            ExecError::KeyFile { .. } => "KeyFile",
            ExecError::HostKeyChanged(_) => "HostKeyChanged",
            ExecError::HostKeyUnknown { .. } => "HostKeyUnknown",
            ExecError::HostKeyRevoked { .. } => "HostKeyRevoked",
            ExecError::SudoWrongPassword { .. } => "SudoWrongPassword",
            ExecError::SudoPasswordMissing { .. } => "SudoPasswordMissing",
            ExecError::SudoNotAllowed { .. } => "SudoNotAllowed",
            ExecError::SudoNeedsTty { .. } => "SudoNeedsTty",
            ExecError::SudoFailed { .. } => "SudoFailed",
            ExecError::ConnectionLost { .. } => "ConnectionLost",
            ExecError::OpTimedOut { .. } => "Timeout",
            ExecError::Interrupted => "Interrupted",
            ExecError::OutputTooLarge { .. } => "OutputTooLarge",
            ExecError::Other(_) => "Error",
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Refused { addr } => write!(
                f,
                "connection refused by {addr}: the host is up but nothing listens on that port (is sshd running? is ansible_port right?)"
            ),
            ExecError::TimedOut { addr, what, secs } => write!(
                f,
                "{what} to {addr} timed out after {secs}s: the host is down, or a firewall drops the packets"
            ),
            ExecError::NoRoute { addr, detail } => {
                write!(f, "no route to {addr} ({detail}): check the address and the network")
            }
            ExecError::Resolve { addr, detail } => write!(f, "cannot resolve {addr}: {detail}"),
            ExecError::Handshake { addr, detail } => write!(f, "SSH handshake with {addr} failed: {detail}"),
            ExecError::AuthFailed { user, addr, tried, offered } => {
                let tried = if tried.is_empty() { "none (no password, key or agent identity available)".to_string() } else { tried.join(", ") };
                write!(
                    f,
                    "SSH authentication as {user}@{addr} failed; tried: {tried}; the server offers: {offered} (check ansible_user, ansible_ssh_pass / ansible_ssh_private_key_file)"
                )
            }
            ExecError::KeyFile { path, detail } => write!(f, "cannot use private key {path}: {detail}"),
            ExecError::HostKeyChanged(c) => write!(
                f,
                "REMOTE HOST IDENTIFICATION HAS CHANGED for {host}: {known_hosts}:{line} records {key_type} key {expected}, the host now presents {got}. \
                 If the host was reinstalled, remove that line (ssh-keygen -R '{entry}' -f {known_hosts}); otherwise someone may be intercepting the connection",
                host = c.host,
                entry = c.entry,
                known_hosts = c.known_hosts,
                line = c.line,
                key_type = c.key_type,
                expected = c.expected,
                got = c.got
            ),
            ExecError::HostKeyUnknown { host, known_hosts, key_type, got } => write!(
                f,
                "host key for {host} is not in {known_hosts} ({key_type} {got}) and --strict-host-keys is on: verify and add it (ssh-keyscan), or drop --strict-host-keys to trust on first use"
            ),
            ExecError::HostKeyRevoked { host, got } => write!(f, "host key {got} of {host} is marked @revoked"),
            ExecError::SudoWrongPassword { user } => write!(
                f,
                "sudo rejected the become password for {user} (check ansible_become_pass)"
            ),
            ExecError::SudoPasswordMissing { user } => write!(
                f,
                "sudo asks {user} for a password but none is set: add ansible_become_pass to the inventory (or NOPASSWD to sudoers)"
            ),
            ExecError::SudoNotAllowed { user, detail } => write!(
                f,
                "{user} may not use sudo on this host: {detail} (add {user} to sudoers, or log in as root)"
            ),
            ExecError::SudoNeedsTty { user } => write!(
                f,
                "sudo refuses to run for {user} without a terminal (Defaults requiretty): remove requiretty for {user} from sudoers"
            ),
            ExecError::SudoFailed { user, detail } => write!(f, "sudo as {user} failed: {detail}"),
            ExecError::ConnectionLost { detail } => write!(f, "connection lost: {detail}"),
            ExecError::OpTimedOut { what, secs } => write!(f, "no reply to {what} within {secs}s: the host or the link stopped answering"),
            ExecError::Interrupted => f.write_str("not started: the run was interrupted (SIGINT/SIGTERM)"),
            ExecError::OutputTooLarge { stream, bytes, cap } => write!(
                f,
                "the command wrote {bytes} bytes to {stream}, over the {cap} bytes the installer reads: the rest was dropped on the host (see the host's own logs for the whole of it)"
            ),
            ExecError::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ExecError {}

impl From<std::io::Error> for ExecError {
    fn from(e: std::io::Error) -> Self {
        ExecError::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_closed_before_the_banner_is_unreachable() {
        let h = |detail: &str| ExecError::Handshake {
            addr: "127.0.0.1:22".into(),
            detail: detail.into(),
        };
        assert!(h("Failed getting banner").is_unreachable());
        assert!(!h("Unable to exchange encryption keys").is_unreachable());
    }
}
