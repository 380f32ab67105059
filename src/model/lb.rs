//! How every node reaches the API server, decided once from the config: the
//! renderer (endpoints, proxy and keepalived configs), the bundle plan (the
//! proxy's packages) and the phases (which service to start) all read this.

use std::net::IpAddr;

use super::Cluster;
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbMode {
    /// No master to reach.
    None,
    /// No external load balancer: a local proxy to every master on each
    /// node that is not a master (Kubespray's `loadbalancer_apiserver_localhost`).
    Internal,
    /// `loadbalancer_apiserver`: the operator's own.
    External,
    /// `keepalived_vip`: keepalived and haproxy on the masters.
    Keepalived,
}

/// The proxy program. Both run as the OS's service: workers join through
/// it, so it must work before their kubelet does (a static pod would not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Haproxy,
    /// nginx with its stream module (`loadbalancer_apiserver_type: nginx`,
    /// the legacy nginx-proxy's program).
    Nginx,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLb {
    pub mode: LbMode,
    pub proxy: Proxy,
    /// The LB's or VIP's address (external, keepalived).
    pub address: Option<String>,
    /// The port of the control-plane endpoint.
    pub port: u16,
    /// keepalived's `virtual_router_id` (`keepalived_router_id`, 51 unset):
    /// VRRP allows 1 to 255.
    pub router_id: u8,
}

pub fn apiserver_port(cfg: &Config) -> u16 {
    cfg.text("kube_apiserver_port").parse().unwrap_or(6443)
}

/// The decision; an error begins with the key to fix.
pub fn decide(c: &Cluster) -> Result<ApiLb, String> {
    let cfg = &c.config;
    let apiserver = apiserver_port(cfg);
    let proxy = match cfg.text("loadbalancer_apiserver_type").as_str() {
        // haproxy-pod was the legacy static pod: the same program, as a service.
        "" | "haproxy" | "haproxy-pod" => Proxy::Haproxy,
        "nginx" => Proxy::Nginx,
        other => {
            return Err(format!(
                "loadbalancer_apiserver_type {other:?} is not supported: use haproxy or nginx"
            ))
        }
    };
    let router_id = match cfg.text("keepalived_router_id").trim() {
        "" => 51,
        t => match t.parse::<u8>() {
            Ok(id) if id > 0 => id,
            _ => {
                return Err(format!(
                    "keepalived_router_id {t:?} is not a VRRP router id: use a number from 1 to 255, the same on every master and unused by other keepalived clusters on the network"
                ))
            }
        },
    };
    let lb = |mode, address, port| ApiLb {
        mode,
        proxy,
        address,
        port,
        router_id,
    };
    let vip = cfg.text("keepalived_vip");
    if !vip.trim().is_empty() {
        if vip.parse::<IpAddr>().is_err() {
            return Err(format!("keepalived_vip {vip:?} is not an IP address"));
        }
        let port = match &cfg.load_balancer {
            Some(lb) if lb.address != vip => {
                return Err(format!(
                    "keepalived_vip {vip} and loadbalancer_apiserver.address {} differ: the VIP is the load balancer's address",
                    lb.address
                ))
            }
            Some(lb) => lb.port,
            None => 8443,
        };
        if port == apiserver {
            return Err(format!(
                "keepalived_vip: haproxy on the masters cannot listen on port {port}, the API server's own port; \
                 set loadbalancer_apiserver.port to another port (e.g. 8443)"
            ));
        }
        // keepalived's haproxy: nginx is not offered there.
        return Ok(ApiLb {
            proxy: Proxy::Haproxy,
            ..lb(LbMode::Keepalived, Some(vip), port)
        });
    }
    if let Some(ext) = &cfg.load_balancer {
        return Ok(lb(LbMode::External, Some(ext.address.clone()), ext.port));
    }
    // With one master too, as the legacy installer did.
    if c.masters().is_empty() {
        return Ok(lb(LbMode::None, None, apiserver));
    }
    Ok(lb(LbMode::Internal, None, apiserver))
}
