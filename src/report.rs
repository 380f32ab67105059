//! What `ksinstall check` prints: a table of hosts (how each is reached and
//! what it will be) and the effective settings. Secrets are never printed.

use crate::config::NetworkPlugin;
use crate::model::{Cluster, Connection, Mode};

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{:<w$}  ", cell, w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

pub fn hosts_table(c: &Cluster) -> String {
    let rows: Vec<Vec<String>> = c
        .nodes
        .iter()
        .map(|n| {
            let (target, auth) = match &n.connection {
                Connection::Local => ("local (this machine)".to_string(), "-".to_string()),
                Connection::Ssh(t) => {
                    let mut auth = Vec::new();
                    if t.password.is_some() {
                        auth.push("password");
                    }
                    if t.key_file.is_some() {
                        auth.push("key");
                    }
                    if auth.is_empty() {
                        auth.push("agent/default keys");
                    }
                    let via = t
                        .bastion
                        .as_ref()
                        .map(|b| format!(" via {}", b.address))
                        .unwrap_or_default();
                    (
                        format!("{}@{}:{}{}", t.user, t.address, t.port, via),
                        auth.join("+"),
                    )
                }
            };
            let become_ = match &n.become_ {
                None => "-".to_string(),
                Some(b) => format!(
                    "sudo to {} ({})",
                    b.user,
                    if b.password.is_some() {
                        "password set"
                    } else {
                        "no password"
                    }
                ),
            };
            let ip = match (&n.ip, &n.access_ip) {
                (Some(ip), Some(a)) => format!("{ip} (access {a})"),
                (Some(ip), None) => ip.clone(),
                (None, Some(a)) => format!("? (access {a})"),
                (None, None) => "(detected at install)".to_string(),
            };
            let roles = if n.roles.is_empty() {
                "-".to_string()
            } else {
                n.roles
                    .iter()
                    .map(|r| r.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![n.name.clone(), target, auth, become_, ip, roles]
        })
        .collect();
    table(
        &["HOST", "SSH TARGET", "AUTH", "BECOME", "IP", "ROLES"],
        &rows,
    )
}

pub fn settings(c: &Cluster) -> String {
    let cfg = &c.config;
    let net = &cfg.network;
    let endpoint = match (&cfg.load_balancer, c.masters().len()) {
        (Some(lb), _) => format!("{}:{} -> load balancer {}", lb.domain, lb.port, lb.address),
        (None, n) if n > 1 => format!("internal load balancer on every node to {n} masters"),
        (None, _) => match c.first_master() {
            Some(m) => format!(
                "{}:{} (single master)",
                m.reach_address().unwrap_or("(this machine)"),
                cfg.text("kube_apiserver_port")
            ),
            None => "(no master)".into(),
        },
    };
    let storage = if cfg.storage.is_empty() {
        "(none enabled)".to_string()
    } else {
        cfg.storage
            .iter()
            .map(|s| {
                format!(
                    "{} [{}]{}",
                    s.name,
                    s.kind.label(),
                    if s.is_default { " (default)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mirrors = match cfg.get("docker_registry_mirrors") {
        Some(serde_yaml::Value::Sequence(m)) if !m.is_empty() => m
            .iter()
            .map(crate::config::yaml_text)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "(none)".into(),
    };
    let rows = vec![
        vec![
            "Mode".into(),
            match c.mode {
                Mode::AllInOne => "all-in-one".into(),
                Mode::MultiNode => "multi-node".to_string(),
            },
        ],
        vec![
            "KubeSphere".into(),
            format!("{} (console NodePort {})", cfg.ks_version, cfg.console_port),
        ],
        vec![
            "Kubernetes".into(),
            format!("{} (etcd {})", cfg.kube_version, cfg.etcd_version),
        ],
        vec!["Runtime".into(), cfg.runtime.name().into()],
        vec![
            "Network".into(),
            format!(
                "{}, services {}, pods {} (/{} per node), kube-proxy {}, max {} pods per node",
                match net.plugin {
                    NetworkPlugin::Calico => "calico",
                    NetworkPlugin::Flannel => "flannel",
                },
                net.service_cidr,
                net.pod_cidr,
                net.node_prefix,
                net.proxy_mode,
                net.max_pods
            ),
        ],
        vec!["DNS domain".into(), net.dns_domain.clone()],
        vec!["API endpoint".into(), endpoint],
        vec!["Storage".into(), storage],
        vec!["Registry mirrors".into(), mirrors],
        vec![
            "Local registry".into(),
            match (c.local_registry(), c.external_registry()) {
                (Some(r), _) => format!("{} on {}: every image pulled from it", r.endpoint, r.host),
                (None, Some(r)) => format!(
                    "{}: every image pulled from it (not run by the install; `ksinstall bundle push` fills it)",
                    r.url()
                ),
                (None, None) => "(none)".into(),
            },
        ],
        vec![
            "Config files".into(),
            if cfg.files.is_empty() {
                "(built-in defaults)".into()
            } else {
                cfg.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ],
    ];
    table(&["SETTING", "VALUE"], &rows)
}
