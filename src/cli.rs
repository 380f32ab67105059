//! Command-line verbs. Each verb is a thin function over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diag::Invalid;
use crate::inventory::{ini, output};

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

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Show the inventory exactly as ansible-inventory would.
    Inventory {
        /// Inventory file (default: conf/hosts.ini)
        #[arg(short = 'i', long = "inventory")]
        inventory: Option<PathBuf>,
        /// Print the JSON of `ansible-inventory --list`.
        #[arg(long, conflicts_with = "graph")]
        list: bool,
        /// Print the tree of `ansible-inventory --graph [GROUP]`.
        #[arg(long, num_args = 0..=1, default_missing_value = "all", value_name = "GROUP")]
        graph: Option<String>,
    },
    /// Run a shell command on hosts of the inventory (like `ansible -m shell`).
    Run {
        #[command(flatten)]
        exec: crate::exec::verbs::ExecArgs,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Copy a local file to hosts of the inventory (atomic, skipped when unchanged).
    Copy {
        #[command(flatten)]
        exec: crate::exec::verbs::ExecArgs,
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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
            inventory,
            list,
            graph,
        } => {
            let path = inventory.unwrap_or_else(|| PathBuf::from("conf/hosts.ini"));
            let inv = ini::load(&path).map_err(|d| {
                let mut r = crate::diag::Report::default();
                r.push(d);
                Invalid(r)
            })?;
            for w in &inv.warnings {
                eprintln!("{w}");
            }
            if let Some(group) = graph {
                match output::graph(&inv, &group) {
                    Some(text) => println!("{text}"),
                    None => anyhow::bail!("Pattern must be valid group name when using --graph: no group {group:?} in {}", path.display()),
                }
            } else {
                let _ = list;
                println!("{}", output::list_json(&inv));
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Run { exec, cmd } => crate::exec::verbs::run(&exec, &cmd),
        Verb::Copy {
            exec,
            src,
            dest,
            mode,
            owner,
        } => crate::exec::verbs::copy(&exec, &src, &dest, mode.as_deref(), owner.as_deref()),
    }
}
