//! An install without a bundle: each host's OS packages come from its own
//! configured apt repositories (through the conf's proxy, when it names
//! one), and Kubernetes' binaries are downloaded by the host itself from
//! their upstreams or the `--mirror`s given, each checked against the
//! checksum published beside it. Before anything changes, every host at
//! once is asked which of its package sources, download sites (or its
//! proxy) it cannot reach, and all of them are reported together
//! (`PackageSource`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::phases::{Download, Offline};
use crate::bundle::needs::{self, Kind, PlanOptions};
use crate::diag::{Diagnostic, Report};
use crate::exec::shell::sh_quote;
use crate::exec::{Action, Engine, HostFail};
use crate::model::{Cluster, Node, Role};

/// Each host's OS packages and binaries by the bundle plan's one table:
/// packages from its own repositories, binaries downloaded from their
/// upstreams (or `mirrors`). A binary with no published checksum is not
/// downloaded blind: `DownloadChecksum` names it.
pub fn load(
    c: &Cluster,
    mirrors: &BTreeMap<String, String>,
    only: Option<&std::collections::BTreeSet<String>>,
    report: &mut Report,
) -> anyhow::Result<Offline> {
    let opts = PlanOptions {
        mirrors: mirrors.clone(),
        ..PlanOptions::default()
    };
    let plan = needs::plan(c, &opts).map_err(|e| anyhow::anyhow!("package plan: {e}"))?;
    let mut off = Offline {
        online: true,
        repo_dir: crate::bundle::select::HOST_REPO_DIR.into(),
        ..Offline::default()
    };
    let chosen = (c.nodes.iter()).filter(|n| only.is_none_or(|o| o.contains(&n.name)));
    for n in chosen {
        let mut debs: Vec<String> = (plan.for_host(&n.name))
            .filter(|need| need.kind == Kind::Deb)
            .map(|need| need.name.clone())
            .collect();
        let binaries = plan.for_host(&n.name).filter(|x| x.kind == Kind::Binary);
        let downloads: Vec<Download> = binaries
            .filter_map(|need| download(c, n, need, report))
            .collect();
        if !downloads.is_empty() {
            // What the downloads themselves need.
            debs.extend(["curl".to_string(), "ca-certificates".to_string()]);
            off.downloads.insert(n.name.clone(), downloads);
        }
        off.packages.insert(n.name.clone(), debs);
    }
    Ok(off)
}

/// One binary the host downloads, or `DownloadChecksum` when its upstream
/// publishes nothing to check it against.
fn download(c: &Cluster, n: &Node, need: &needs::Need, report: &mut Report) -> Option<Download> {
    let file = need
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&need.name)
        .to_string();
    match (&need.url, &need.sha256_url) {
        (Some(url), Some(sum)) if !sum.is_empty() => Some(Download {
            file,
            url: url.clone(),
            sha256_url: sum.clone(),
        }),
        _ => {
            report.push(c.at_node(
                Diagnostic::error(
                    "DownloadChecksum",
                    format!("'{}' needs {} {}, whose upstream publishes no checksum to check a download against: install with a bundle (--bundle DIR), or put it on the host yourself and pass --ignore-errors DownloadChecksum", n.name, need.name, need.version),
                ),
                n,
            ));
            None
        }
    }
}

/// The conf's proxy (`https_proxy`, else `http_proxy`; the validation has
/// made them plain URLs).
fn proxy(c: &Cluster) -> Option<String> {
    let cfg = &c.config;
    [cfg.text("https_proxy"), cfg.text("http_proxy")]
        .into_iter()
        .map(|p| p.trim().to_string())
        .find(|p| !p.is_empty())
}

/// apt's options for the conf's proxy, each quoted for the host's shell.
pub fn apt_proxy(c: &Cluster) -> Vec<String> {
    let cfg = &c.config;
    [("http", "http_proxy"), ("https", "https_proxy")]
        .into_iter()
        .filter_map(|(scheme, key)| {
            let v = cfg.text(key);
            let v = v.trim();
            (!v.is_empty()).then(|| sh_quote(&format!("-oAcquire::{scheme}::Proxy={v}")))
        })
        .collect()
}

/// curl's option for the conf's proxy, quoted.
pub fn curl_proxy(c: &Cluster) -> String {
    proxy(c)
        .map(|p| format!("-x {}", sh_quote(&p)))
        .unwrap_or_default()
}

/// `scheme://host[:port]` of `host`'s downloads: what it must reach.
pub fn download_sources(off: &Offline, host: &str) -> Vec<String> {
    let mut out: Vec<String> = (off.downloads.get(host).into_iter().flatten())
        .flat_map(|d| [&d.url, &d.sha256_url])
        .filter_map(|u| {
            let (scheme, rest) = u.split_once("://")?;
            Some(format!("{scheme}://{}", rest.split('/').next()?))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What `host` must reach besides its apt sources: its downloads, and the
/// company's registry its runtime pulls from.
fn sources(c: &Cluster, off: &Offline, host: &str) -> Vec<String> {
    let mut out = download_sources(off, host);
    let k8s = (c.node(host)).is_some_and(|n| n.has(Role::Master) || n.has(Role::Worker));
    out.extend(c.external_registry().filter(|_| k8s).map(|r| r.url()));
    out
}

/// Prints `unreachable URL` for each source (scheme://host[:port] of apt's
/// index URIs and of `extra`, or the proxy that stands in front of them)
/// that a TCP connection cannot reach in 5 s, and `none` when there is none.
fn probe_script(proxy: Option<&str>, extra: &[String]) -> String {
    let extra: Vec<String> = extra.iter().map(|u| sh_quote(u)).collect();
    let sources = match proxy {
        Some(p) => format!("echo {}", sh_quote(p)),
        None => format!(
            "{{ apt-get --print-uris update 2>/dev/null | sed -n \"s|^'\\([a-z+]*://[^/']*\\).*|\\1|p\"; echo {}; }} | sort -u",
            extra.join(" ")
        ),
    };
    format!(
        "found=0; for u in $({sources}); do found=1; \
         hp=${{u#*://}}; host=${{hp%:*}}; port=${{hp##*:}}; \
         if [ \"$host\" = \"$hp\" ]; then case $u in https:*) port=443;; *) port=80;; esac; fi; \
         timeout 5 bash -c \": </dev/tcp/$host/$port\" 2>/dev/null || echo \"unreachable $u\"; done; \
         [ $found = 1 ] || echo none"
    )
}

/// Asks every host at once (read-only) which sources it cannot reach; one
/// `PackageSource` error per host names them all.
pub fn probe(engine: &Engine, c: &Cluster, off: &Offline, hosts: &[usize], report: &mut Report) {
    let proxy = proxy(c);
    let found: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    engine.step("package sources", hosts, |ctx| {
        let name = ctx.node().name.clone();
        let out = ctx
            .perform(Action {
                describe: "can this host reach its package sources".into(),
                script: probe_script(proxy.as_deref(), &sources(c, off, &name)),
                stdin: None,
                timeout: Some(std::time::Duration::from_secs(120)),
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        let mut found = found.lock().expect("no panic holds it");
        found.insert(name, out.stdout_text());
        Ok(())
    });
    for (host, text) in found.into_inner().expect("no panic holds it") {
        let Some(node) = c.node(&host) else { continue };
        let bad: Vec<&str> = (text.lines())
            .filter_map(|l| l.strip_prefix("unreachable "))
            .collect();
        let message = if text.lines().any(|l| l == "none") {
            format!("'{host}' has no apt source configured and no bundle is given: add its repositories (the company mirror) to /etc/apt/sources.list, or install with --bundle DIR")
        } else if bad.is_empty() {
            continue;
        } else {
            let via = match proxy.is_some() {
                true => " (the conf's proxy)",
                false => "",
            };
            format!("'{host}' cannot reach {}{via} within 5 s, and with no bundle its packages come from there: fix its apt sources, network or proxy, or install with --bundle DIR", bad.join(", "))
        };
        report.push(c.at_node(Diagnostic::error("PackageSource", message), node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_names_what_it_cannot_reach() {
        let s = probe_script(None, &["https://dl.k8s.io".to_string()]);
        assert!(s.contains("apt-get --print-uris update"), "{s}");
        assert!(s.contains("echo https://dl.k8s.io; }"), "{s}");
        assert!(s.contains("echo \"unreachable $u\""), "{s}");
        let s = probe_script(Some("http://proxy.example:3128"), &[]);
        assert!(
            s.starts_with("found=0; for u in $(echo http://proxy.example:3128)"),
            "{s}"
        );
    }
}
