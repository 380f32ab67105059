//! The install run: connect and gather facts, preflight, render, then each
//! phase in order on its hosts, recording progress so `--resume` continues
//! where a failed run stopped. `plan` is the same run with the mutation gate
//! closed: it reads the hosts and prints what would change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::facts::{self, Facts};
use super::phases::{self, Inputs, Offline, Phase, Stage};
use super::state::State;
use super::{ops, preflight, scale};
use crate::diag::{Diagnostic, Invalid, Report};
use crate::exec::engine::HostReport;
use crate::exec::verbs::{engine_for, ConnArgs};
use crate::exec::{interrupt, Action, Engine, HostFail, Status};
use crate::model::Cluster;

/// Which phases to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub resume: bool,
}

impl Selection {
    /// Indices into `phases::ALL`, or an error naming the valid phases.
    pub fn phases(&self) -> anyhow::Result<Vec<usize>> {
        let find = |n: &str| {
            phases::by_name(n).ok_or_else(|| {
                anyhow::anyhow!("no phase {n:?}; the phases are: {}", phases::names())
            })
        };
        if let Some(only) = &self.only {
            return Ok(vec![find(only)?]);
        }
        let start = self.from.as_deref().map(find).transpose()?.unwrap_or(0);
        let end = self
            .until
            .as_deref()
            .map(find)
            .transpose()?
            .unwrap_or(phases::ALL.len() - 1);
        if start > end {
            anyhow::bail!(
                "--from {} comes after --until {}",
                phases::ALL[start].name(),
                phases::ALL[end].name()
            );
        }
        Ok((start..=end).collect())
    }
}

pub struct RunOptions {
    pub conn: ConnArgs,
    pub selection: Selection,
    pub ignore_errors: Vec<String>,
    /// The installer directory: state/ and kubesphere/ live there.
    pub installer_dir: PathBuf,
    /// conf/: its templates/ overrides built-in templates.
    pub conf_dir: PathBuf,
    /// The offline bundle; without one, hosts install nothing from it.
    pub bundle: Option<PathBuf>,
    /// Without a bundle: `--mirror NAME=URL` of the hosts' downloads, as
    /// given (checked when the install reads them).
    pub mirrors: Vec<String>,
    pub insecure_mirror: bool,
    /// `add-nodes`: only the hosts the cluster does not know get the install.
    pub add_nodes: bool,
    /// add-nodes may add masters and etcd members (`--control-plane`).
    pub add_control_plane: bool,
    /// `--serve-bundle`: the hosts fetch the bundle over HTTP from this
    /// machine and from each other before the phases (`distribute`).
    pub serve_bundle: bool,
}

/// What every verb that changes hosts starts with: the installer
/// directory's lock (not for a dry run), then the engine, its log named.
pub(super) fn begin(
    cluster: &Cluster,
    opts: &RunOptions,
    verb: &str,
) -> anyhow::Result<(Option<super::state::Lock>, Engine)> {
    let lock = match opts.conn.dry_run {
        true => None,
        false => Some(super::state::Lock::take(&opts.installer_dir, verb)?),
    };
    crate::exec::interrupt::arm()
        .map_err(|e| anyhow::anyhow!("cannot install the SIGINT/SIGTERM handlers: {e}"))?;
    let limit = (opts.conn.command_timeout > 0)
        .then(|| std::time::Duration::from_secs(opts.conn.command_timeout));
    let engine = engine_for(cluster.nodes.clone(), &opts.conn, verb, limit)?;
    if let Some(p) = engine.log.path() {
        eprintln!("log: {}", p.display());
    }
    Ok((lock, engine))
}

/// A day-two verb's facts: every host's, their addresses filled in; an
/// error naming each host that cannot be reached (the verb needs them all).
pub(super) fn facts_of_all(
    engine: &Engine,
    cluster: &mut Cluster,
    opts: &RunOptions,
) -> anyhow::Result<BTreeMap<String, Facts>> {
    let mut report = Report::default();
    let facts = gather_facts(engine, &mut report, cluster);
    fill_ips(cluster, &facts);
    report.ignore(&opts.ignore_errors);
    if report.has_errors() {
        return Err(Invalid(Report {
            items: report.errors().cloned().collect(),
        })
        .into());
    }
    Ok(facts)
}

/// Gathers facts on every node at once. Unreachable nodes become errors.
pub(super) fn gather_facts(
    engine: &Engine,
    report: &mut Report,
    c: &Cluster,
) -> BTreeMap<String, Facts> {
    let facts = Mutex::new(BTreeMap::new());
    let all: Vec<usize> = (0..engine.nodes().len()).collect();
    let script = facts::script();
    let step = engine.step("facts", &all, |ctx| {
        let out = ctx
            .perform(Action {
                describe: "gather facts".into(),
                script: script.clone(),
                stdin: None,
                timeout: Some(std::time::Duration::from_secs(60)),
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        if out.rc != 0 {
            return Err(HostFail::Failed(format!(
                "fact gathering failed: {}",
                out.stderr_text().trim()
            )));
        }
        let mut f = Facts::parse(&out.stdout_text());
        f.seen = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
            .map_or(0, |d| d.as_secs() as i64);
        facts
            .lock()
            .expect("no panics hold this lock")
            .insert(ctx.node().name.clone(), f);
        Ok(())
    });
    for h in step.failures() {
        let node = c.node(&h.host);
        let d = Diagnostic::error(
            "Reach",
            format!(
                "'{}': {}: {}",
                h.host,
                h.kind.unwrap_or("Failed"),
                h.message
            ),
        );
        report.push(match node {
            Some(n) => c.at_node(d, n),
            None => d,
        });
    }
    facts.into_inner().expect("no panics hold this lock")
}

/// All-in-one (and any node without `ip`): the address comes from facts.
pub(super) fn fill_ips(c: &mut Cluster, facts: &BTreeMap<String, Facts>) {
    for n in &mut c.nodes {
        if n.ip.is_none() {
            n.ip = facts
                .get(&n.name)
                .and_then(|f| f.default_ipv4())
                .map(str::to_string);
        }
    }
}

/// A day-two verb (renew, restore, upgrade) run as stages of operations:
/// each on its hosts at once, and nothing more once a host failed.
pub(super) struct DayTwo<'a> {
    engine: &'a Engine,
    verb: &'static str,
    /// What state the cluster is in when a stage failed, and what to do.
    after: &'static str,
}

impl<'a> DayTwo<'a> {
    pub(super) fn new(engine: &'a Engine, verb: &'static str, after: &'static str) -> Self {
        DayTwo {
            engine,
            verb,
            after,
        }
    }

    /// Runs `ops_of` on `hosts` under the heading `== VERB: WHAT`; false
    /// (errors printed, then `after`) when a host failed.
    pub(super) fn stage(
        &self,
        what: &str,
        hosts: &[usize],
        ops_of: &(dyn Fn(usize) -> Vec<ops::Op> + Sync),
    ) -> anyhow::Result<bool> {
        let (engine, verb) = (self.engine, self.verb);
        let heading = format!("== {verb}: {what}");
        let step = engine.step_headed(&heading, verb, hosts, |ctx| {
            let i = hosts
                .iter()
                .copied()
                .find(|&i| engine.nodes()[i].name == ctx.node().name)
                .expect("a host of the stage");
            ops::apply(ctx, &ops_of(i))
        });
        let failed: Vec<_> = step.failures().collect();
        for h in &failed {
            let kind = h.kind.unwrap_or("Failed");
            eprintln!(
                "[ERROR {kind}] {verb}: {what}, host {}: {}",
                h.host, h.message
            );
        }
        if !failed.is_empty() {
            eprintln!("Nothing after this stage was started. {}", self.after);
        }
        Ok(failed.is_empty())
    }
}

fn banner(stage: Stage) {
    println!("*********************************************");
    println!("{}", stage.banner());
    println!("*********************************************");
}

/// Runs the install (or, with `conn.dry_run`, plans it). Returns the exit code.
pub fn install(mut cluster: Cluster, opts: RunOptions) -> anyhow::Result<std::process::ExitCode> {
    let chosen = opts.selection.phases()?;
    let dry = opts.conn.dry_run;
    // The legacy log names: Install[…].log, Scale[…].log for add-nodes.
    let verb = match (dry, opts.add_nodes) {
        (true, _) => "Plan",
        (false, true) => "Scale",
        (false, false) => "Install",
    };
    let (_lock, engine) = begin(&cluster, &opts, verb)?;

    let mut report = Report::default();
    let facts = gather_facts(&engine, &mut report, &cluster);
    fill_ips(&mut cluster, &facts);
    // Certificates of a cluster that exists that end soon (fresh hosts
    // have none; a host that cannot be read is reported by the phases).
    let reachable: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| facts.contains_key(&cluster.nodes[i].name))
        .collect();
    let (certs, _) = super::certs::read(&engine, &reachable);
    report.extend(super::certs::expiring(&cluster, &certs));
    let scope = if opts.add_nodes {
        let known = scale::known_nodes(&engine, &cluster, &mut report);
        known.map(|k| {
            scale::Scope::from_known(&cluster, &k, &facts, opts.add_control_plane, &mut report)
        })
    } else {
        None
    };
    if scope.as_ref().is_some_and(|s| s.new.is_empty()) && !report.has_errors() {
        println!("No new nodes: every host of the inventory is in the cluster already.");
        engine.close_all();
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(s) = &scope {
        let names: Vec<&str> = s.new.iter().map(String::as_str).collect();
        println!("New nodes to add: {}", names.join(", "));
    }
    let offline = checked_before_change(
        &engine,
        &cluster,
        &facts,
        &opts,
        &chosen,
        scope.as_ref(),
        report,
    )?;

    if opts.serve_bundle && !opts.conn.dry_run {
        serve_bundle(&engine, &offline, &chosen);
    }
    let prepared = super::files::prepare(
        &engine,
        &cluster,
        &facts,
        &opts.installer_dir,
        &opts.conf_dir,
    )?;
    for note in &prepared.notes {
        log::info!("render: {note}");
    }
    let inputs = Inputs {
        cluster: &cluster,
        facts: &facts,
        files: &prepared.files,
        offline: &offline,
    };
    let mut run = PhaseRun::new(&opts, &engine, &inputs, scope.as_ref())?;
    if let Some(code) = run.phases(&chosen)? {
        return Ok(code);
    }
    run.finished(&chosen)?;
    engine.close_all();
    Ok(std::process::ExitCode::SUCCESS)
}

/// The bundle's part for each host, then preflight over everything the
/// chosen phases need: errors (after `--ignore-errors`) stop the run here,
/// before any host changes.
fn checked_before_change(
    engine: &Engine,
    cluster: &Cluster,
    facts: &BTreeMap<String, Facts>,
    opts: &RunOptions,
    chosen: &[usize],
    scope: Option<&scale::Scope>,
    mut report: Report,
) -> anyhow::Result<Offline> {
    let packages_chosen = chosen.contains(&phases::by_name("packages").expect("a phase"));
    let control_plane = phases::by_name("control-plane").expect("a phase");
    let kubernetes = chosen.iter().any(|&i| i >= control_plane);
    let offline = match &opts.bundle {
        Some(dir) => {
            let only = scope.map(|s| &s.new);
            super::offline::load(dir, cluster, facts, kubernetes, only, &mut report)?
        }
        None => {
            let mirrors = crate::bundle::cli::parse_mirrors(&opts.mirrors, opts.insecure_mirror)?;
            // What the downloads lack matters only to a run that downloads.
            let mut unused = Report::default();
            let findings = match packages_chosen {
                true => &mut report,
                false => &mut unused,
            };
            super::online::load(cluster, facts, &mirrors, scope.map(|s| &s.new), findings)?
        }
    };
    // No bundle: the package sources of the hosts that lack a package must answer.
    if offline.online && packages_chosen {
        let lacking: Vec<usize> = (phases::cluster_hosts(cluster).into_iter())
            .filter(|&i| {
                let name = &cluster.nodes[i].name;
                let (Some(f), Some(pkgs)) = (facts.get(name), offline.packages.get(name)) else {
                    return false;
                };
                pkgs.iter().any(|p| !f.installed.contains_key(p))
                    || offline.downloads.contains_key(name)
            })
            .collect();
        super::online::probe(engine, cluster, facts, &offline, &lacking, &mut report);
    }
    let provided: Vec<String> = offline.packages.values().flatten().cloned().collect();
    let mut binaries: BTreeMap<String, Vec<String>> = offline
        .binaries
        .iter()
        .map(|(host, files)| (host.clone(), files.iter().map(|(f, _)| f.clone()).collect()))
        .collect();
    for (host, list) in &offline.downloads {
        let names = list.iter().map(|d| d.file.clone());
        binaries.entry(host.clone()).or_default().extend(names);
    }
    let phases: Vec<&dyn Phase> = chosen.iter().map(|&i| phases::ALL[i]).collect();
    if kubernetes {
        super::registry::check_external(cluster, &mut report);
    }
    let images = match &opts.bundle {
        None => images_needed(cluster, chosen, scope.map(|s| &s.new)),
        Some(_) => BTreeMap::new(),
    };
    report.extend(
        preflight::check(&preflight::Input {
            cluster,
            facts,
            provided_tools: &provided,
            kube_tools: &preflight::kube_tools_needed(cluster, &phases),
            provided_binaries: &binaries,
            bundle: opts.bundle.as_deref(),
            images: &images,
        })
        .items,
    );
    report.ignore(&opts.ignore_errors);
    let (errors, warnings) = report.split();
    eprint!("{}", warnings.render());
    if errors.has_errors() {
        return Err(Invalid(errors).into());
    }
    Ok(offline)
}

/// The phases of one run, and what it keeps as it goes: the `--resume`
/// state, the totals and the summary table.
struct PhaseRun<'a> {
    opts: &'a RunOptions,
    engine: &'a Engine,
    inputs: &'a Inputs<'a>,
    scope: Option<&'a scale::Scope>,
    state_path: PathBuf,
    state: State,
    totals: BTreeMap<&'static str, usize>,
    summary: super::result::Summary,
}

impl<'a> PhaseRun<'a> {
    fn new(
        opts: &'a RunOptions,
        engine: &'a Engine,
        inputs: &'a Inputs<'a>,
        scope: Option<&'a scale::Scope>,
    ) -> anyhow::Result<Self> {
        let state_path = State::path(&opts.installer_dir);
        let state = if opts.selection.resume {
            State::load(&state_path)?
        } else {
            State::default()
        };
        Ok(PhaseRun {
            opts,
            engine,
            inputs,
            scope,
            state_path,
            state,
            totals: BTreeMap::new(),
            summary: super::result::Summary::default(),
        })
    }

    /// Every chosen phase in turn; `Some(code)` when the run stops early
    /// (a host failed, or a signal).
    fn phases(&mut self, chosen: &[usize]) -> anyhow::Result<Option<std::process::ExitCode>> {
        let cluster = self.inputs.cluster;
        let mut stage = None;
        for &i in chosen {
            let phase: &dyn Phase = phases::ALL[i];
            if interrupt::requested() {
                return Ok(Some(stopped(phase.name(), self.engine)));
            }
            if stage != Some(phase.stage()) {
                stage = Some(phase.stage());
                banner(phase.stage());
            }
            let hosts: Vec<usize> = phase
                .hosts(cluster)
                .into_iter()
                .filter(|&h| {
                    let name = &cluster.nodes[h].name;
                    !(self.opts.selection.resume && self.state.is_done(phase.name(), name))
                        && self.scope.is_none_or(|s| s.runs(phase.name(), name))
                })
                .collect();
            // Usually one batch; add-nodes orders some (`Scope::batches`).
            let mut batches = match self.scope {
                Some(s) => s.batches(phase.name(), hosts, cluster),
                None => vec![hosts],
            };
            batches.retain(|b| !b.is_empty());
            if batches.is_empty() {
                // On the same stream as every other heading.
                let heading = format!("== {}: {} (0 hosts)", phase.name(), phase.title());
                self.engine.progress.begin_step(&heading, 0);
                continue;
            }
            for hosts in batches {
                if let Some(code) = self.batch(phase, &hosts)? {
                    return Ok(Some(code));
                }
            }
            pause_point(phase.name());
        }
        Ok(None)
    }

    /// One phase on some hosts at once; the state is saved after it.
    fn batch(
        &mut self,
        phase: &dyn Phase,
        hosts: &[usize],
    ) -> anyhow::Result<Option<std::process::ExitCode>> {
        let (inputs, scope) = (self.inputs, self.scope);
        let heading = format!(
            "== {}: {} ({} host{})",
            phase.name(),
            phase.title(),
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        );
        let step = self
            .engine
            .step_headed(&heading, phase.name(), hosts, |ctx| {
                let node = ctx.node().clone();
                let all = phase.ops(&node, inputs);
                match scope {
                    Some(s) => {
                        let files = inputs.host_files(&node.name);
                        ops::apply(ctx, &s.ops(phase.name(), &node.name, files, all))
                    }
                    None => ops::apply(ctx, &all),
                }
            });
        self.summary.add(phase.name(), &step);
        let dry = self.opts.conn.dry_run;
        let (mut failed, mut done) = (Vec::new(), Vec::new());
        for h in &step.hosts {
            *self.totals.entry(h.status.label()).or_default() += 1;
            match h.status {
                Status::Ok | Status::Changed => done.push(&h.host),
                _ => failed.push(h),
            }
        }
        // What the phase does from here once its hosts are done; until it
        // succeeds, the phase is not done on them (a --resume runs it again).
        let after = match failed.is_empty() && !interrupt::requested() {
            true => phase.after(self.engine, inputs),
            false => Ok(()),
        };
        if !dry {
            for host in done.into_iter().filter(|_| after.is_ok()) {
                self.state.mark(phase.name(), host);
            }
            self.state.save(&self.state_path)?;
        }
        if let Err(e) = after {
            println!("failed!");
            eprintln!("[ERROR Failed] phase {}: {e:#}", phase.name());
            eprintln!(
                "Fix the above, then continue with `ksinstall install --resume`. Log: {}",
                self.engine
                    .log
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return Ok(Some(std::process::ExitCode::from(1)));
        }
        // Hosts stopped by a signal are not errors to fix.
        failed.retain(|h| h.kind != Some("Interrupted"));
        if interrupt::requested() {
            print_failures(phase.name(), &failed);
            return Ok(Some(stopped(phase.name(), self.engine)));
        }
        if !failed.is_empty() {
            print!("\n{}", self.summary.render());
            println!("failed!");
            print_failures(phase.name(), &failed);
            eprintln!(
                "Fix the above, then continue with `ksinstall install --resume` (finished phases and hosts are skipped). Log: {}",
                self.engine.log.path().map(|p| p.display().to_string()).unwrap_or_default()
            );
            return Ok(Some(std::process::ExitCode::from(1)));
        }
        Ok(None)
    }

    /// The summary, the totals (the log ends with them too: scripts read
    /// them there), then the plan, or what comes after the last phase.
    fn finished(&self, chosen: &[usize]) -> anyhow::Result<()> {
        let engine = self.engine;
        print!("\n{}", self.summary.render());
        let totals = format!(
            "ok={} changed={} (host-phases)",
            self.totals.get("ok").unwrap_or(&0),
            self.totals.get("changed").unwrap_or(&0)
        );
        engine.log.record("-", &format!("finished: {totals}"), "");
        println!(
            "{totals}; log: {}",
            engine
                .log
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        if self.opts.conn.dry_run {
            print_plan(engine);
            return Ok(());
        }
        println!("successsful!");
        let last = *chosen.last().expect("at least one phase");
        if phases::ALL[last].name() != "kubesphere" {
            println!(
                "Stopped after phase '{}' as asked; run with `--from {}` to go on.",
                phases::ALL[last].name(),
                next_phase(last)
            );
        } else if let Some(s) = self.scope {
            let names: Vec<&str> = s.new.iter().map(String::as_str).collect();
            println!("Added {} node(s): {}", names.len(), names.join(", "));
        } else {
            super::result::finish(self.inputs.cluster, engine, &self.opts.installer_dir)?;
        }
        Ok(())
    }
}

/// `--serve-bundle`: each host's part of the bundle (what the chosen
/// phases push) into its cache over HTTP, through the fan-out; the phases'
/// uploads then take it from there. Whatever did not arrive is pushed over
/// SSH as without it, so a failure here is a warning.
fn serve_bundle(engine: &Engine, offline: &Offline, chosen: &[usize]) {
    let packages = chosen.contains(&phases::by_name("packages").expect("a phase"));
    let runtime = chosen.contains(&phases::by_name("runtime").expect("a phase"));
    let wants = super::distribute::wants(offline, packages, runtime);
    match super::distribute::distribute(engine, &wants) {
        Ok(f) => super::distribute::print(&f),
        Err(e) => log::warn!("--serve-bundle: {e:#}; the phases push the bundle over SSH"),
    }
}

/// The images each host runs, from the bundle plan, when the chosen phases
/// reach Kubernetes (control-plane on); with add-nodes, for the new hosts.
fn images_needed(
    c: &Cluster,
    chosen: &[usize],
    only: Option<&std::collections::BTreeSet<String>>,
) -> BTreeMap<String, Vec<String>> {
    let kubernetes = phases::by_name("control-plane").expect("a phase");
    // With a registry to pull from, the nodes need hold nothing (the
    // preflight asks the company's whether it holds them).
    if !chosen.iter().any(|&i| i >= kubernetes) || c.pull_registry().is_some() {
        return BTreeMap::new();
    }
    let Ok(plan) = crate::bundle::needs::plan(c, &Default::default()) else {
        return BTreeMap::new();
    };
    c.nodes
        .iter()
        .filter(|n| only.is_none_or(|o| o.contains(&n.name)))
        .map(|n| {
            let images = plan
                .for_host(&n.name)
                .filter(|need| need.kind == crate::bundle::needs::Kind::Image)
                .map(|need| need.name.clone())
                .collect();
            (n.name.clone(), images)
        })
        .collect()
}

fn print_failures(phase: &str, failed: &[&HostReport]) {
    for h in failed {
        eprintln!(
            "[ERROR {}] phase {phase}, host {}: {}{}",
            h.kind.unwrap_or("Failed"),
            h.host,
            h.message,
            hint(h.kind)
        );
    }
}

/// The end of a run stopped by SIGINT/SIGTERM before `phase` finished (or
/// began): the hosts that finished it are in the state file already.
fn stopped(phase: &str, engine: &Engine) -> std::process::ExitCode {
    interrupt::mark_reported();
    eprintln!(
        "Interrupted in phase {phase}: what finished is saved. Continue with `ksinstall install --resume`. Log: {}",
        engine.log.path().map(|p| p.display().to_string()).unwrap_or_default()
    );
    engine.close_all();
    std::process::ExitCode::from(interrupt::EXIT_CODE)
}

/// Fault injection for the end-to-end tests: with
/// `KSINSTALL_PAUSE_AFTER=<phase>:<file>`, the run waits after that phase
/// until the file is removed (at most two minutes), so a test can cut a
/// host's link between two phases deterministically.
fn pause_point(phase: &str) {
    let Ok(spec) = std::env::var("KSINSTALL_PAUSE_AFTER") else {
        return;
    };
    let Some((when, file)) = spec.split_once(':') else {
        return;
    };
    if when != phase {
        return;
    }
    let file = std::path::Path::new(file);
    println!(
        "paused after phase {phase} until {} is removed",
        file.display()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn next_phase(i: usize) -> &'static str {
    phases::ALL
        .get(i + 1)
        .map(|p| p.name())
        .unwrap_or("the end")
}

fn hint(kind: Option<&str>) -> &'static str {
    match kind {
        Some("ConnectionRefused") => " (is sshd running on that host and the port right?)",
        Some("Timeout") | Some("ConnectTimeout") => " (is the host up and reachable from here? check its network link and firewall)",
        Some("AuthFailed") => " (check ansible_user / ansible_ssh_pass / ansible_ssh_private_key_file for that host in hosts.ini)",
        Some("SudoPassword") => " (check ansible_become_pass for that host)",
        _ => "",
    }
}

pub(super) fn print_plan(engine: &Engine) {
    let planned = engine.planned();
    let mut by_host: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (host, what) in &planned {
        by_host.entry(host).or_default().push(what);
    }
    println!("\nPlan: {} change(s); nothing was changed.", planned.len());
    for (host, items) in by_host {
        println!("{host}:");
        for i in items {
            println!("  - {i}");
        }
    }
}
