//! The end of an install: the admin kubeconfig fetched to `kubesphere/config`
//! and the "Welcome to KubeSphere!" banner, printed and kept in
//! `kubesphere/kubesphere_running` as the legacy installer did.

use std::path::Path;
use std::sync::Mutex;

use crate::exec::{Engine, HostFail};
use crate::model::Cluster;

/// The banner for a cluster whose console is at `ip:port`.
pub fn welcome(c: &Cluster, ip: &str) -> String {
    // KubeSphere 1.x shipped `passw0rd`, 2.x `P@88w0rd` as the admin password.
    let password = if c
        .config
        .ks_version
        .trim_start_matches('v')
        .starts_with("1.")
    {
        "passw0rd"
    } else {
        "P@88w0rd"
    };
    format!(
        "#####################################################\n\
         ###              Welcome to KubeSphere!           ###\n\
         #####################################################\n\
         \n\
         Console: http://{ip}:{port}\n\
         Account: admin\n\
         Password: {password}\n\
         \n\
         NOTE: Please modify the default password after login.\n\
         #####################################################\n",
        port = c.config.console_port
    )
}

/// The API server as the taskbox reaches it: the external load balancer's
/// address, else the first master's (the API domain `lb.kubesphere.local`
/// resolves only on the nodes).
pub fn api_server(c: &Cluster, master_address: &str) -> String {
    match &c.config.load_balancer {
        Some(lb) => format!("https://{}:{}", lb.address, lb.port),
        None => format!(
            "https://{master_address}:{}",
            crate::render::context::apiserver_port(&c.config)
        ),
    }
}

/// The admin kubeconfig with its `server:` lines pointed at `server`.
pub fn reachable_kubeconfig(conf: &str, server: &str) -> String {
    conf.lines()
        .map(|l| match l.trim_start().strip_prefix("server: ") {
            Some(_) => {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}server: {server}\n")
            }
            None => format!("{l}\n"),
        })
        .collect()
}

/// What the first master says of the ks-installer pod: `Running`, or why not.
const KS_POD: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf -n kubesphere-system get pod -l app=ks-install \
  -o jsonpath='{.items[0].status.phase} {.items[0].status.containerStatuses[0].state.waiting.reason}' 2>&1";

pub fn finish(c: &Cluster, engine: &Engine, installer_dir: &Path) -> anyhow::Result<()> {
    let Some(master) = c.first_master() else {
        return Ok(());
    };
    let index = c
        .nodes
        .iter()
        .position(|n| n.name == master.name)
        .expect("a node of the cluster");
    let got = Mutex::new((None, String::new()));
    let step = engine.step("result", &[index], |ctx| {
        let conf = ctx.fetch("/etc/kubernetes/admin.conf")?;
        let pod = ctx
            .query(KS_POD, Some(std::time::Duration::from_secs(30)))
            .map_err(HostFail::from)?;
        *got.lock().map_err(|_| HostFail::Failed("lock".into()))? =
            (Some(conf), pod.stdout_text().trim().to_string());
        Ok(())
    });
    let dir = installer_dir.join("kubesphere");
    std::fs::create_dir_all(&dir)?;
    let ip = master.reach_address().unwrap_or("127.0.0.1");
    let (conf, pod) = got.into_inner().unwrap_or_default();
    if let Some(conf) = conf {
        let text = reachable_kubeconfig(&String::from_utf8_lossy(&conf), &api_server(c, ip));
        crate::install::state::write_private(&dir.join("config"), text.as_bytes())?;
    } else if let Some(h) = step.failures().next() {
        eprintln!(
            "[WARNING Result]: could not fetch the admin kubeconfig from {}: {}",
            h.host, h.message
        );
    }
    // The banner says the console is up: only when the installer pod runs.
    let banner = dir.join("kubesphere_running");
    if pod.starts_with("Running") {
        let text = welcome(c, ip);
        std::fs::write(&banner, &text)?;
        print!("{text}");
    } else {
        let _ = std::fs::remove_file(&banner);
        let why = match pod.split_once(' ') {
            Some((_, reason)) if !reason.trim().is_empty() => reason.trim().to_string(),
            _ if pod.is_empty() => "not found".to_string(),
            _ => pod.clone(),
        };
        println!(
            "Kubernetes is installed (admin kubeconfig: {}).\n\
             KubeSphere is NOT running: the ks-installer pod is {why}; its objects are applied, the console is not up.\n\
             Check: kubectl -n kubesphere-system describe pod -l app=ks-install",
            dir.join("config").display()
        );
    }
    Ok(())
}

/// `ksinstall kubeconfig`: the admin kubeconfig of the first master that
/// answers (in inventory order, so a lost first master does not stop it),
/// pointed at the external load balancer, else at that master. Written
/// 0600 to `output` (`-` prints it); default `kubesphere/config`.
pub fn kubeconfig(
    c: &Cluster,
    opts: &crate::install::run::RunOptions,
    output: Option<&Path>,
) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(
        c.first_master().is_some(),
        "no [kube-master] host in the inventory"
    );
    let engine = crate::exec::verbs::engine_for(c.nodes.clone(), &opts.conn, "Kubeconfig", None)?;
    let code = kubeconfig_with(&engine, c, opts, output)?;
    engine.close_all();
    Ok(code)
}

/// The end of a day-two verb that gave the admin a new client certificate
/// (`certs renew`, `upgrade`): its line with the log, then `kubesphere/config`
/// fetched again on the verb's own engine.
pub fn end_with_kubeconfig(
    engine: &Engine,
    c: &Cluster,
    opts: &crate::install::run::RunOptions,
    line: &str,
) -> anyhow::Result<std::process::ExitCode> {
    println!(
        "\n{line}; log: {}",
        engine
            .log
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let code = kubeconfig_with(engine, c, opts, None)?;
    engine.close_all();
    Ok(code)
}

/// `kubeconfig` on an engine a verb already has open (its connections
/// and its log).
pub fn kubeconfig_with(
    engine: &Engine,
    c: &Cluster,
    opts: &crate::install::run::RunOptions,
    output: Option<&Path>,
) -> anyhow::Result<std::process::ExitCode> {
    let masters: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(crate::model::Role::Master))
        .collect();
    let mut last = String::new();
    for &i in &masters {
        let got = Mutex::new(None);
        let step = engine.step("kubeconfig", &[i], |ctx| {
            let conf = ctx.fetch("/etc/kubernetes/admin.conf")?;
            *got.lock().map_err(|_| HostFail::Failed("lock".into()))? = Some(conf);
            Ok(())
        });
        let Some(conf) = got.into_inner().unwrap_or_default() else {
            if let Some(h) = step.failures().next() {
                last = format!("{}: {}", h.host, h.message);
            }
            continue;
        };
        let m = &c.nodes[i];
        let server = api_server(c, m.reach_address().unwrap_or("127.0.0.1"));
        let text = reachable_kubeconfig(&String::from_utf8_lossy(&conf), &server);
        match output {
            Some(p) if p == Path::new("-") => print!("{text}"),
            _ => {
                let path = output
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| opts.installer_dir.join("kubesphere").join("config"));
                crate::install::state::write_private(&path, text.as_bytes())?;
                eprintln!(
                    "wrote {} (mode 0600), server {server} (from {})",
                    path.display(),
                    m.name
                );
            }
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    eprintln!("[ERROR Kubeconfig]: no master gave its admin kubeconfig (last: {last})");
    Ok(std::process::ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_points_at_an_address_the_taskbox_reaches() {
        let conf = "clusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://lb.kubesphere.local:6443\n  name: cluster.local\n";
        let out = reachable_kubeconfig(conf, "https://10.0.0.1:6443");
        assert!(out.contains("    server: https://10.0.0.1:6443\n"), "{out}");
        assert!(!out.contains("lb.kubesphere.local"));
        assert!(out.contains("certificate-authority-data: X\n"));
    }
}

/// Each host's part of a run, for the table at its end: phases finished,
/// how many changed something, the phase that failed, time spent.
#[derive(Debug, Default)]
pub struct Summary {
    rows: Vec<(String, HostSum)>,
}

#[derive(Debug, Default, Clone)]
struct HostSum {
    phases: usize,
    changed: usize,
    failed: Option<String>,
    time: std::time::Duration,
}

/// At most this many hosts are listed one by one; the others are counted.
const LISTED: usize = 30;

impl Summary {
    /// Adds a phase's step: its hosts' outcomes and times.
    pub fn add(&mut self, phase: &str, step: &crate::exec::StepReport) {
        use crate::exec::Status;
        for h in &step.hosts {
            let at = match self.rows.iter().position(|(n, _)| *n == h.host) {
                Some(at) => at,
                None => {
                    self.rows.push((h.host.clone(), HostSum::default()));
                    self.rows.len() - 1
                }
            };
            let row = &mut self.rows[at].1;
            row.time += h.elapsed;
            match h.status {
                Status::Ok | Status::Changed => {
                    row.phases += 1;
                    row.changed += usize::from(h.status == Status::Changed);
                }
                _ => {
                    let why = h.kind.unwrap_or(h.status.label());
                    row.failed.get_or_insert(format!("{phase} ({why})"));
                }
            }
        }
    }

    /// The table: failed hosts first, then the others in run order; beyond
    /// `LISTED` rows, one line counts the rest.
    pub fn render(&self) -> String {
        let mut rows: Vec<&(String, HostSum)> = self.rows.iter().collect();
        rows.sort_by_key(|(_, r)| r.failed.is_none());
        let shown: Vec<Vec<String>> = rows
            .iter()
            .take(LISTED)
            .map(|(name, r)| {
                vec![
                    name.clone(),
                    r.phases.to_string(),
                    r.changed.to_string(),
                    r.failed.clone().unwrap_or_else(|| "-".into()),
                    format!("{:.1}s", r.time.as_secs_f64()),
                ]
            })
            .collect();
        let mut out =
            crate::report::table(&["HOST", "PHASES", "CHANGED", "FAILED", "TIME"], &shown);
        if rows.len() > LISTED {
            let rest = &rows[LISTED..];
            let failed = rest.iter().filter(|(_, r)| r.failed.is_some()).count();
            out.push_str(&format!(
                "... and {} more host(s), {failed} of them failed (the log has each)\n",
                rest.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod summary_tests {
    use super::*;
    use crate::exec::{HostReport, Status, StepReport};

    fn host(name: &str, status: Status, secs: u64) -> HostReport {
        HostReport {
            host: name.into(),
            status,
            kind: (status == Status::Failed).then_some("Failed"),
            message: String::new(),
            rc: None,
            stdout: String::new(),
            stderr: String::new(),
            elapsed: std::time::Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_summary_counts_phases_and_puts_failures_first() {
        let mut s = Summary::default();
        let step = |hosts| StepReport {
            step: "x".into(),
            hosts,
        };
        s.add(
            "os",
            &step(vec![
                host("node1", Status::Changed, 2),
                host("node2", Status::Ok, 1),
            ]),
        );
        s.add(
            "etcd",
            &step(vec![
                host("node1", Status::Ok, 3),
                host("node2", Status::Failed, 4),
            ]),
        );
        let t = s.render();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("HOST"), "{t}");
        assert!(
            lines[1].starts_with("node2")
                && lines[1].contains("etcd (Failed)")
                && lines[1].contains("5.0s"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("node1")
                && lines[2].contains("  2  ")
                && lines[2].contains("5.0s"),
            "{t}"
        );
        // Many hosts: thirty listed, the rest counted.
        let mut big = Summary::default();
        let hosts = (0..40)
            .map(|i| host(&format!("h{i}"), Status::Ok, 1))
            .collect();
        big.add("os", &step(hosts));
        let t = big.render();
        assert_eq!(t.lines().count(), 1 + LISTED + 1, "{t}");
        assert!(
            t.contains("... and 10 more host(s), 0 of them failed"),
            "{t}"
        );
    }
}
