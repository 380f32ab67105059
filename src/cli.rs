//! Command-line verbs. Each verb is a thin function over the library; exit
//! status 2 means "bad input, nothing was changed on any host".

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::args::{default_conf_dir, installer_dir, SourceArgs};

use crate::config::kubekey::{self, KkFile, KkHost};
use crate::diag::{Invalid, Report};
use crate::inventory::{ini, output};
use crate::model::{Cluster, Connection, Role};
use crate::report;

#[derive(Parser, Debug)]
#[command(
    name = "ksinstall",
    version,
    about = "Legacy-compatible Kubernetes + KubeSphere installer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub verb: Verb,
}

/// Which phases of the install to run, and from what.
#[derive(Args, Debug, Clone, Default)]
pub struct PhaseArgs {
    /// The offline bundle (`ksinstall bundle build`). Default: the installer
    /// directory's bundle/, when there is one.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Without a bundle, where the hosts download Kubernetes' binaries:
    /// k8s=URL (dl.k8s.io), github=URL, helm=URL, or all=URL. Repeatable.
    #[arg(long = "mirror", value_name = "NAME=URL")]
    pub mirrors: Vec<String>,
    /// Accept a plain http:// mirror (anyone on the path could then change
    /// what the hosts install; the checksums come over the same link).
    #[arg(long)]
    pub insecure_mirror: bool,
    /// The hosts fetch the bundle over HTTP, from this machine for the
    /// first copies of each file and then from each other, instead of
    /// this machine pushing it to every host over SSH: for many hosts
    /// behind one uplink.
    #[arg(long)]
    pub serve_bundle: bool,
    /// Continue a failed install: skip phases already finished on each host.
    #[arg(long)]
    pub resume: bool,
    /// Run only this phase.
    #[arg(long, value_name = "PHASE", conflicts_with_all = ["from", "until"])]
    pub only: Option<String>,
    /// Start at this phase.
    #[arg(long, value_name = "PHASE")]
    pub from: Option<String>,
    /// Stop after this phase.
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Show the inventory exactly as ansible-inventory would.
    Inventory {
        /// The conf directory. Default: the installer directory's conf/.
        #[arg(long, value_name = "DIR")]
        conf: Option<PathBuf>,
        /// Inventory file. Default: CONF/hosts.ini.
        #[arg(short = 'i', long = "inventory", value_name = "FILE")]
        inventory: Option<PathBuf>,
        /// Print the JSON of `ansible-inventory --list` (the default).
        #[arg(long, conflicts_with = "graph")]
        list: bool,
        /// Print the tree of `ansible-inventory --graph [GROUP]`.
        #[arg(long, num_args = 0..=1, default_missing_value = "all", value_name = "GROUP")]
        graph: Option<String>,
    },
    /// Read and validate the inventory and config; print the hosts and settings.
    /// Touches no host.
    Check {
        #[command(flatten)]
        src: SourceArgs,
    },
    /// Write a KubeKey v3 config-sample.yaml from hosts.ini + vars.
    Convert {
        #[command(flatten)]
        src: SourceArgs,
        /// Output file (mode 0600: it holds the SSH passwords). Default: stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Install the cluster: facts, preflight, then every phase in order.
    Install {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        #[command(flatten)]
        phases: PhaseArgs,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Add the inventory's new workers to the installed cluster (the legacy
    /// add-nodes.sh): only hosts the API server does not know get the install.
    AddNodes {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// The offline bundle. Default: the installer directory's bundle/.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Without a bundle, where the new hosts download Kubernetes'
        /// binaries (as for install). Repeatable.
        #[arg(long = "mirror", value_name = "NAME=URL")]
        mirrors: Vec<String>,
        /// Accept a plain http:// mirror.
        #[arg(long)]
        insecure_mirror: bool,
        /// Also add masters ([kube-master]) and etcd members ([etcd]): the
        /// legacy installer added workers only. etcd members join one at a
        /// time (`member add`, then start).
        #[arg(long)]
        control_plane: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Take nodes out of the cluster: drain, reset the host, delete the node;
    /// for a master or etcd member, the others rewritten without it and
    /// etcd's member remove first (quorum kept).
    RemoveNode {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// The nodes, by their hosts.ini names (not the first master).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Also delete pods no controller manages (they are lost), and delete
        /// a host that cannot be reached from the cluster without touching it.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Upgrade the cluster to the conf's kube_version (the legacy
    /// upgrade.sh): one minor at a time, the first master, the other
    /// masters, then each worker drained, upgraded and uncordoned in turn.
    /// Nodes that run the new version already are skipped.
    Upgrade {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// The new version's offline bundle. Default: the installer
        /// directory's bundle/.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Also delete pods no controller manages when draining (they are lost).
        #[arg(long)]
        force: bool,
        /// Do not ask `Please confirm:  (yes/no)`.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Take the cluster off every host (the legacy uninstall.sh); the same
    /// hosts can then install again. Keeps packages, images and the etcd
    /// data (moved aside).
    Reset {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// Do not ask `Type 'yes' to reset your cluster.`
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// The admin kubeconfig of the first master that answers, pointed at an
    /// address this machine reaches (mode 0600; `-o -` prints it).
    Kubeconfig {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// Default: the installer directory's kubesphere/config.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Certificates: `check` lists every Kubernetes and etcd certificate on
    /// every host with the days it has left.
    Certs {
        #[command(subcommand)]
        what: CertsVerb,
    },
    /// etcd: `backup` takes a snapshot now on the first member and copies it here.
    Etcd {
        #[command(subcommand)]
        what: EtcdVerb,
    },
    /// Put each host's part of the bundle into its cache
    /// (/var/lib/ksinstall/cas) as `install --serve-bundle` does: from this
    /// machine for the first copies of each file, then from the hosts that
    /// hold it. Nothing is installed; a later install takes the files from
    /// there instead of sending them. Before a maintenance window, or to
    /// measure the distribution.
    Stage {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// The offline bundle. Default: the installer directory's bundle/.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Print each host's files (bundle-relative paths) instead; connect
        /// to no host.
        #[arg(long)]
        list: bool,
    },
    /// Print, per host, every change the install would make; change nothing.
    Plan {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        #[command(flatten)]
        phases: PhaseArgs,
    },
    /// Run a shell command on hosts of the inventory (like `ansible -m shell`).
    Run {
        #[command(flatten)]
        exec: crate::adhoc::ExecArgs,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Copy a local file to hosts of the inventory (atomic, skipped when unchanged).
    Copy {
        #[command(flatten)]
        exec: crate::adhoc::ExecArgs,
        /// Local file.
        src: PathBuf,
        /// Absolute path on the hosts (ending in / for a directory).
        dest: String,
        /// File mode, octal (default: keep the existing file's, else 0644).
        #[arg(long, value_name = "MODE")]
        mode: Option<String>,
        /// Owner as user[:group] (default: keep the existing file's).
        #[arg(long, value_name = "OWNER")]
        owner: Option<String>,
    },
    /// The offline bundle: build it, verify it, show each host's part.
    Bundle(crate::bundle::cli::BundleArgs),
    /// Render every file the cluster needs, touching no host: DIR/<host>/<path on
    /// the host> and the cluster-wide manifests in DIR/cluster/.
    Render {
        #[command(flatten)]
        src: SourceArgs,
        /// Output directory (it receives keys and the join token: keep it private).
        #[arg(short = 'o', long, value_name = "DIR", default_value = "rendered")]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertsVerb {
    /// Every certificate on every host, soonest expiry first.
    Check {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
    },
    /// New certificates, the cluster serving throughout: etcd's leaves from
    /// its CA (one member at a time), then `kubeadm certs renew all` and a
    /// control-plane restart on each master in turn; kubesphere/config
    /// fetched again.
    Renew {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum EtcdVerb {
    /// A snapshot now (the script the members' backup timer runs), copied
    /// to the taskbox and checked by sha256.
    Backup {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// Where the copy goes (mode 0600: it holds every Secret of the
        /// cluster). Default: the installer directory's backups/.
        #[arg(short = 'o', long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// The cluster back to a snapshot (`etcd backup`'s copy): restored on
    /// every member, what they held moved aside, the control plane
    /// restarted on it.
    Restore {
        #[command(flatten)]
        src: SourceArgs,
        #[command(flatten)]
        conn: crate::exec::verbs::ConnArgs,
        /// The snapshot file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Do not ask `Type 'yes' to restore`.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub fn main() -> ExitCode {
    crate::exec::logger::install();
    let cli = Cli::parse();
    let result = run(cli);
    if crate::exec::interrupt::requested() {
        // Whatever the verb made of its interrupted hosts, the run was
        // stopped: say so once, with the code shells give SIGINT.
        if let Err(e) = &result {
            eprintln!("error: {e:#}");
        }
        if !crate::exec::interrupt::reported() {
            eprintln!("interrupted: no command was started after the signal; the ones running then were let finish");
        }
        return ExitCode::from(crate::exec::interrupt::EXIT_CODE);
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(invalid) = e.downcast_ref::<Invalid>() {
                eprintln!("{invalid}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.verb {
        Verb::Inventory {
            conf,
            inventory,
            list: _,
            graph,
        } => {
            let conf = conf.unwrap_or_else(default_conf_dir);
            let path = inventory.unwrap_or_else(|| conf.join("hosts.ini"));
            let inv = ini::load(&path).map_err(|d| {
                let mut r = Report::default();
                r.push(d);
                Invalid(r)
            })?;
            for w in &inv.warnings {
                eprintln!("{w}");
            }
            match graph {
                Some(group) => match output::graph(&inv, &group) {
                    Some(text) => println!("{text}"),
                    None => anyhow::bail!(
                        "Pattern must be valid group name when using --graph: no group {group:?} in {}",
                        path.display()
                    ),
                },
                None => println!("{}", output::list_json(&inv)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Check { src } => {
            let c = src.load_valid()?;
            println!("{}", report::hosts_table(&c));
            print!("{}", report::settings(&c));
            println!(
                "\nok: {} hosts checked; nothing was changed on any host",
                c.nodes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Verb::Convert { src, output } => {
            let c = src.load_valid()?;
            let text = kubekey::write(&to_kubekey(&c));
            match output {
                Some(path) => {
                    // Passwords may be in it: 0600 even over an existing
                    // file of another mode (a new file renamed over it).
                    crate::install::state::write_private(&path, text.as_bytes())?;
                    eprintln!(
                        "wrote {} (mode 0600: it holds the SSH passwords)",
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Install {
            src,
            conn,
            phases,
            yes,
        } => {
            let cluster = src.load_valid()?;
            if !yes {
                confirm(&cluster)?;
            }
            run_install(&src, cluster, conn, phases)
        }
        Verb::AddNodes {
            src,
            conn,
            bundle,
            mirrors,
            insecure_mirror,
            control_plane,
            yes,
        } => {
            let cluster = src.load_running()?;
            if !yes && !conn.dry_run {
                confirm(&cluster)?;
            }
            let phases = PhaseArgs {
                bundle,
                mirrors,
                insecure_mirror,
                ..PhaseArgs::default()
            };
            let mut opts = run_options(&src, conn, phases);
            opts.add_nodes = true;
            opts.add_control_plane = control_plane;
            crate::install::run::install(cluster, opts)
        }
        Verb::RemoveNode {
            src,
            conn,
            names,
            force,
            yes,
        } => {
            let cluster = src.load_running()?;
            if !yes && !conn.dry_run {
                ask(&format!(
                    "Remove {} from the cluster (drain, reset the host{}, delete the node)?",
                    names.join(", "),
                    if force {
                        ", pods no controller manages deleted"
                    } else {
                        ""
                    }
                ))?;
            }
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::remove::run(cluster, &opts, &names, force)
        }
        Verb::Upgrade {
            src,
            conn,
            bundle,
            force,
            yes,
        } => {
            let cluster = src.load_running()?;
            let phases = PhaseArgs {
                bundle,
                ..PhaseArgs::default()
            };
            let opts = run_options(&src, conn, phases);
            crate::install::upgrade::run(
                cluster,
                &opts,
                &crate::install::upgrade::Upgrade { force, yes },
            )
        }
        Verb::Reset { src, conn, yes } => {
            let cluster = src.load_running()?;
            if !yes && !conn.dry_run {
                confirm_reset()?;
            }
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::reset::run(cluster, &opts)
        }
        Verb::Kubeconfig { src, conn, output } => {
            let cluster = src.load_running()?;
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::result::kubeconfig(&cluster, &opts, output.as_deref())
        }
        Verb::Certs {
            what: CertsVerb::Check { src, conn },
        } => {
            let cluster = src.load_running()?;
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::certs::check(cluster, &opts)
        }
        Verb::Certs {
            what: CertsVerb::Renew { src, conn },
        } => {
            let cluster = src.load_running()?;
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::renew::run(cluster, &opts)
        }
        Verb::Etcd {
            what: EtcdVerb::Backup { src, conn, output },
        } => {
            let cluster = src.load_running()?;
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::backup::run(cluster, &opts, output)
        }
        Verb::Etcd {
            what:
                EtcdVerb::Restore {
                    src,
                    conn,
                    file,
                    yes,
                },
        } => {
            let cluster = src.load_running()?;
            if !yes && !conn.dry_run {
                ask_yes(
                    &format!(
                        "Restore etcd from {}? Every change since that snapshot is lost (the data now is kept aside on each member). Type 'yes' to restore. [No]: ",
                        file.display()
                    ),
                    "Restore confirmation failed: nothing was changed on any host",
                )?;
            }
            let opts = run_options(&src, conn, PhaseArgs::default());
            crate::install::restore::run(cluster, &opts, &file)
        }
        Verb::Plan {
            src,
            mut conn,
            phases,
        } => {
            conn.dry_run = true;
            let cluster = src.load_valid()?;
            run_install(&src, cluster, conn, phases)
        }
        Verb::Stage {
            src,
            conn,
            bundle,
            list,
        } => {
            let cluster = src.load_valid()?;
            let phases = PhaseArgs {
                bundle,
                ..PhaseArgs::default()
            };
            let opts = run_options(&src, conn, phases);
            crate::install::distribute::stage(cluster, &opts, list)
        }
        Verb::Run { exec, cmd } => crate::adhoc::run(&exec, &cmd),
        Verb::Copy {
            exec,
            src,
            dest,
            mode,
            owner,
        } => crate::adhoc::copy(&exec, &src, &dest, mode.as_deref(), owner.as_deref()),
        Verb::Bundle(args) => crate::bundle::cli::run(args),
        Verb::Render { src, output } => {
            let c = src.load_valid()?;
            print!(
                "{}",
                crate::render::cli(&c, &src.sources().conf_dir, &output)?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The cluster as a KubeKey file: the same hosts, roles and endpoint.
pub fn to_kubekey(c: &Cluster) -> KkFile {
    let hosts = c
        .nodes
        .iter()
        .map(|n| {
            let (address, port, user, password, key) = match &n.connection {
                Connection::Ssh(t) => (
                    t.address.clone(),
                    (t.port != 22).then_some(t.port),
                    Some(t.user.clone()),
                    t.password.as_ref().map(|p| p.expose().to_string()),
                    t.key_file.as_ref().map(|k| k.display().to_string()),
                ),
                Connection::Local => (
                    n.ip.clone().unwrap_or_else(|| "127.0.0.1".into()),
                    None,
                    None,
                    None,
                    None,
                ),
            };
            KkHost {
                name: n.name.clone(),
                address,
                internal_address: n.ip.clone(),
                port,
                user,
                password,
                private_key_path: key,
                line: None,
            }
        })
        .collect();
    let group = |role: Role| {
        c.with_role(role)
            .map(|n| n.name.clone())
            .collect::<Vec<_>>()
    };
    let cfg = &c.config;
    let list = |key: &str| match cfg.get(key) {
        Some(serde_yaml::Value::Sequence(items)) => {
            items.iter().map(crate::config::yaml_text).collect()
        }
        _ => Vec::new(),
    };
    KkFile {
        hosts,
        role_groups: vec![
            ("etcd".into(), group(Role::Etcd)),
            ("control-plane".into(), group(Role::Master)),
            ("worker".into(), group(Role::Worker)),
        ],
        lb_domain: Some(cfg.text("apiserver_loadbalancer_domain_name")),
        lb_address: cfg.load_balancer.as_ref().map(|lb| lb.address.clone()),
        lb_port: Some(cfg.load_balancer.as_ref().map(|lb| lb.port).unwrap_or(6443)),
        kube_version: Some(cfg.kube_version.to_string()),
        pod_cidr: Some(cfg.network.pod_cidr.to_string()),
        service_cidr: Some(cfg.network.service_cidr.to_string()),
        network_plugin: Some(cfg.text("kube_network_plugin")),
        registry_mirrors: list("docker_registry_mirrors"),
        insecure_registries: list("docker_insecure_registries"),
        settings: vec![
            ("container_manager", cfg.runtime.name().into()),
            ("kubelet_max_pods", cfg.network.max_pods.into()),
            ("kube_proxy_mode", cfg.network.proxy_mode.clone().into()),
            ("dns_domain", cfg.network.dns_domain.clone().into()),
        ],
        notes: Vec::new(),
    }
}

/// Asks before touching hosts, when someone is there to answer.
fn confirm(c: &Cluster) -> anyhow::Result<()> {
    ask(&format!(
        "Install on {} host(s): {}?",
        c.nodes.len(),
        c.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `question (yes/no)` on a terminal; anything but `yes` stops.
fn ask(question: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to go on without confirmation: pass --yes (nothing was changed on any host)"
        );
    }
    print!("{question} (yes/no) ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        anyhow::bail!("not confirmed; nothing was changed on any host");
    }
    Ok(())
}

/// The legacy reset prompt (kubespray's reset.yml); anything but `yes` stops.
fn confirm_reset() -> anyhow::Result<()> {
    ask_yes(
        "Are you sure you want to reset cluster state? Type 'yes' to reset your cluster. [No]: ",
        "Reset confirmation failed: nothing was changed on any host",
    )
}

/// Asks `prompt`; anything but `yes` is the error `refused`.
fn ask_yes(prompt: &str, refused: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        anyhow::bail!("{refused}");
    }
    Ok(())
}

fn run_install(
    src: &SourceArgs,
    cluster: Cluster,
    conn: crate::exec::verbs::ConnArgs,
    phases: PhaseArgs,
) -> anyhow::Result<ExitCode> {
    crate::install::run::install(cluster, run_options(src, conn, phases))
}

fn run_options(
    src: &SourceArgs,
    conn: crate::exec::verbs::ConnArgs,
    phases: PhaseArgs,
) -> crate::install::run::RunOptions {
    let sources = src.sources();
    let installer_dir = installer_dir(&sources.conf_dir);
    crate::install::run::RunOptions {
        conn: conn.in_installer(&installer_dir),
        selection: crate::install::run::Selection {
            only: phases.only,
            from: phases.from,
            until: phases.until,
            resume: phases.resume,
        },
        ignore_errors: src.ignore_errors.clone(),
        bundle: phases.bundle.or_else(|| {
            Some(installer_dir.join("bundle")).filter(|b| b.join("manifest.json").is_file())
        }),
        mirrors: phases.mirrors.clone(),
        insecure_mirror: phases.insecure_mirror,
        installer_dir,
        conf_dir: sources.conf_dir.clone(),
        add_nodes: false,
        add_control_plane: false,
        serve_bundle: phases.serve_bundle,
    }
}
