//! What each rendered file belongs to. The renderer decides it once, with
//! the file; the phase that owns a component pushes its files, and
//! `reset` and `add-nodes` select by it. Nothing routes files by their
//! path or by a manifest's name.

/// A service the API load balancer runs as (the OS's own service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LbService {
    Haproxy,
    Nginx,
    Keepalived,
}

impl LbService {
    /// In the order the loadbalancer phase starts them: the proxy before
    /// keepalived, so a VIP never points at a master with no proxy.
    pub const ALL: [LbService; 3] = [LbService::Haproxy, LbService::Nginx, LbService::Keepalived];

    pub fn service(self) -> &'static str {
        match self {
            LbService::Haproxy => "haproxy",
            LbService::Nginx => "nginx",
            LbService::Keepalived => "keepalived",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// The cluster's block in /etc/hosts (phase os).
    Hosts,
    /// Kernel modules and sysctl settings (os).
    Kernel,
    /// The container runtime's configuration and crictl's (runtime).
    Runtime,
    /// An etcd member's settings and etcdctl's: they list the members, so
    /// `add-nodes` and `remove-node` rewrite them on the members that stay (etcd).
    EtcdEnv,
    /// An etcd member's systemd unit (etcd).
    EtcdUnit,
    /// An etcd member's certificates (etcd).
    EtcdPki,
    /// The etcd backup script and its timer, started once etcd is healthy (etcd).
    EtcdBackup,
    /// The etcd CA and client certificates of a Kubernetes node that is not
    /// a member (control-plane, workers).
    EtcdClient,
    /// The API load balancer's configuration for one service (loadbalancer).
    Lb(LbService),
    /// The Kubernetes CA, on the masters (control-plane).
    KubeCa,
    /// The kubelet's unit and drop-in (control-plane, workers).
    Kubelet,
    /// The kubeadm init or join configuration (control-plane, workers).
    Kubeadm,
    /// A joining master's extra /etc/hosts lines (control-plane).
    JoinHosts,
    /// calicoctl's configuration and the IP pool (control-plane, workers).
    Calico,
    /// The local registry's configurations and certificate, on its host
    /// (registry).
    Registry,
    /// Manifests applied on the first master, one directory each.
    Network,
    Storage,
    KubeSphere,
}

impl Component {
    /// Where a manifest of this component lands on the first master.
    pub fn manifest_dir(self) -> Option<&'static str> {
        match self {
            Component::Network => Some("/etc/kubernetes/addons/network"),
            Component::Storage => Some("/etc/kubernetes/addons/storage"),
            Component::KubeSphere => Some("/etc/kubesphere/ks-installer"),
            _ => None,
        }
    }
}
