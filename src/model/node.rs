//! One machine of the cluster, as the installer will reach and use it.

use std::fmt;
use std::path::PathBuf;

/// A secret read from the inventory. It never prints: `{:?}` and `{}` show a
/// placeholder, so a secret cannot leak through logs or error messages by
/// accident; `expose()` is the one way to read it, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the installer reaches a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// `ansible_connection=local`: commands run on this machine, no SSH.
    Local,
    Ssh(SshTarget),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    /// `ansible_host` (or `ansible_ssh_host`), else the inventory name.
    pub address: String,
    pub port: u16,
    /// `ansible_user`, else `root` (install.sh runs as root).
    pub user: String,
    /// `ansible_ssh_pass` / `ansible_password`.
    pub password: Option<Secret>,
    /// `ansible_ssh_private_key_file`.
    pub key_file: Option<PathBuf>,
    /// Jump host, when the inventory has a `bastion` host.
    pub bastion: Option<Box<SshTarget>>,
}

/// Privilege escalation with sudo, needed when the login user is not root.
#[derive(Debug, Clone, PartialEq)]
pub struct Become {
    /// `ansible_become_user`, default `root`.
    pub user: String,
    /// `ansible_become_pass` / `ansible_become_password`.
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Master,
    Worker,
    Etcd,
    LocalRegistry,
    Bastion,
    CalicoRr,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Etcd => "etcd",
            Role::LocalRegistry => "registry",
            Role::Bastion => "bastion",
            Role::CalicoRr => "calico-rr",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Inventory name: becomes the hostname, the Kubernetes node name and the
    /// etcd certificate names.
    pub name: String,
    pub connection: Connection,
    /// `None` when the login user is root (or the connection is local as root).
    pub become_: Option<Become>,
    /// `ip`: the address Kubernetes and etcd bind to on this node.
    pub ip: Option<String>,
    /// `access_ip`: the address other nodes use to reach this one.
    pub access_ip: Option<String>,
    pub roles: Vec<Role>,
    /// Line of the host in hosts.ini, for diagnostics.
    pub line: Option<usize>,
}

/// etcd's port for clients.
pub const ETCD_CLIENT: u16 = 2379;
/// etcd's port for its peers.
pub const ETCD_PEER: u16 = 2380;

/// An etcd member's URL: the one form every list of members takes
/// (etcd.env and etcdctl.env, the API servers, kubeadm's configuration,
/// `member add` and `member remove`).
pub fn etcd_url(address: &str, port: u16) -> String {
    format!("https://{address}:{port}")
}

impl Node {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The address an etcd member advertises to the others: `access_ip`,
    /// else `ip` (filled from the host's facts before any install).
    pub fn member_address(&self) -> Option<&str> {
        self.access_ip.as_deref().or(self.ip.as_deref())
    }

    /// This member's URL on `port`, when its address is known.
    pub fn etcd_url(&self, port: u16) -> Option<String> {
        self.member_address().map(|a| etcd_url(a, port))
    }

    /// The address other members use: `access_ip`, else `ip`, else the SSH address.
    pub fn reach_address(&self) -> Option<&str> {
        self.access_ip
            .as_deref()
            .or(self.ip.as_deref())
            .or(match &self.connection {
                Connection::Ssh(t) => Some(t.address.as_str()),
                Connection::Local => None,
            })
    }

    pub fn is_local(&self) -> bool {
        matches!(self.connection, Connection::Local)
    }
}
