//! An install without a bundle: each host's OS packages come from its own
//! configured apt repositories (through the conf's proxy, when it names
//! one). Before anything changes, every host at once is asked which of its
//! package sources (or its proxy) it cannot reach, and all of them are
//! reported together (`PackageSource`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::phases::Offline;
use crate::bundle::needs::{self, Kind, PlanOptions};
use crate::diag::{Diagnostic, Report};
use crate::exec::shell::sh_quote;
use crate::exec::{Action, Engine, HostFail};
use crate::model::Cluster;

/// Each host's OS packages by the bundle plan's one table, to install
/// from its own repositories.
pub fn load(
    c: &Cluster,
    only: Option<&std::collections::BTreeSet<String>>,
) -> anyhow::Result<Offline> {
    let plan = needs::plan(c, &PlanOptions::default())
        .map_err(|e| anyhow::anyhow!("package plan: {e}"))?;
    let mut off = Offline {
        online: true,
        ..Offline::default()
    };
    for n in c
        .nodes
        .iter()
        .filter(|n| only.is_none_or(|o| o.contains(&n.name)))
    {
        let debs: Vec<String> = (plan.for_host(&n.name))
            .filter(|need| need.kind == Kind::Deb)
            .map(|need| need.name.clone())
            .collect();
        off.packages.insert(n.name.clone(), debs);
    }
    Ok(off)
}

/// apt's options for the conf's proxy (`http_proxy`, `https_proxy`; the
/// validation has made them plain URLs), each quoted for the host's shell.
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

/// Prints `unreachable URL` for each package source (scheme://host[:port]
/// of apt's index URIs, or the proxy that stands in front of them) that a
/// TCP connection cannot reach in 5 s, and `none` when apt has no source.
fn probe_script(proxy: Option<&str>) -> String {
    let sources = match proxy {
        Some(p) => format!("echo {}", sh_quote(p)),
        None => "apt-get --print-uris update 2>/dev/null | sed -n \"s|^'\\([a-z+]*://[^/']*\\).*|\\1|p\" | sort -u".into(),
    };
    format!(
        "found=0; for u in $({sources}); do found=1; \
         hp=${{u#*://}}; host=${{hp%:*}}; port=${{hp##*:}}; \
         if [ \"$host\" = \"$hp\" ]; then case $u in https:*) port=443;; *) port=80;; esac; fi; \
         timeout 5 bash -c \": </dev/tcp/$host/$port\" 2>/dev/null || echo \"unreachable $u\"; done; \
         [ $found = 1 ] || echo none"
    )
}

/// Asks every host at once (read-only) which package sources it cannot
/// reach; one `PackageSource` error per host names them all.
pub fn probe(engine: &Engine, c: &Cluster, hosts: &[usize], report: &mut Report) {
    let cfg = &c.config;
    let proxy = [cfg.text("https_proxy"), cfg.text("http_proxy")]
        .into_iter()
        .find(|p| !p.trim().is_empty());
    let script = probe_script(proxy.as_deref());
    let found: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    engine.step("package sources", hosts, |ctx| {
        let out = ctx
            .perform(Action {
                describe: "can this host reach its package sources".into(),
                script: script.clone(),
                stdin: None,
                timeout: Some(std::time::Duration::from_secs(120)),
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        found
            .lock()
            .expect("no panic holds it")
            .insert(ctx.node().name.clone(), out.stdout_text());
        Ok(())
    });
    for (host, text) in found.into_inner().expect("no panic holds it") {
        let Some(node) = c.node(&host) else { continue };
        let bad: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("unreachable "))
            .collect();
        let message = if text.lines().any(|l| l == "none") {
            format!("'{host}' has no apt source configured and no bundle is given: add its repositories (the company mirror) to /etc/apt/sources.list, or install with --bundle DIR")
        } else if bad.is_empty() {
            continue;
        } else {
            let via = if proxy.is_some() {
                " (the conf's proxy)"
            } else {
                ""
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
        let s = probe_script(None);
        assert!(s.contains("apt-get --print-uris update"), "{s}");
        assert!(s.contains("echo \"unreachable $u\""), "{s}");
        let s = probe_script(Some("http://proxy.example:3128"));
        assert!(
            s.starts_with("found=0; for u in $(echo http://proxy.example:3128)"),
            "{s}"
        );
    }
}
