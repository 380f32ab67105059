//! Command-line arguments several verbs share (`ksinstall` and `ksinstall
//! bundle`), and where the installer directory is: a leaf module the verbs'
//! modules import, so they do not import each other.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::diag::{Invalid, Report};
use crate::model::{self, Cluster, Mode, Sources};
use crate::validate;

/// Where the cluster description comes from; every verb that reads it takes these.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// The conf directory (vars.yml, or common.yaml + plugin-*.yaml).
    /// Default: the installer directory's conf/.
    #[arg(long, value_name = "DIR")]
    pub conf: Option<PathBuf>,
    /// Inventory: hosts.ini, or a KubeKey config-sample.yaml. Default: CONF/hosts.ini.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// all-in-one ignores the inventory and installs on this machine.
    #[arg(long, value_enum, default_value = "multi-node")]
    pub mode: ModeArg,
    /// Downgrade these named errors to warnings (comma-separated, or `all`).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub ignore_errors: Vec<String>,
    /// Every node pulls every image from this registry, which the install
    /// does not run (fill it with `ksinstall bundle push`); the conf's
    /// `local_registry`.
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
    /// The CA of --registry's certificate, when the hosts do not trust it
    /// already; the conf's `local_registry_ca`.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// --registry speaks plain HTTP; the conf's `local_registry_insecure`.
    #[arg(long)]
    pub insecure_registry: bool,
}

impl SourceArgs {
    /// The registry flags in place of the conf's keys: one setting each,
    /// read by everything that reads the conf.
    fn registry_settings(&self, cfg: &mut crate::config::Config) {
        let mut set = |key: &str, value: serde_yaml::Value| {
            let setting = crate::config::Setting {
                value,
                file: None,
                line: None,
                spelled: key.to_string(),
            };
            cfg.settings.insert(key.to_string(), setting);
        };
        if let Some(r) = &self.registry {
            set("local_registry", r.clone().into());
        }
        if let Some(ca) = &self.registry_ca {
            set("local_registry_ca", ca.display().to_string().into());
        }
        if self.insecure_registry {
            set("local_registry_insecure", true.into());
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeArg {
    AllInOne,
    MultiNode,
}

/// The installer directory's conf/: `$KSINSTALL_HOME/conf`, `./conf`,
/// `../conf` (run from scripts/ like the legacy scripts), or next to the binary.
pub fn default_conf_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("KSINSTALL_HOME") {
        return PathBuf::from(home).join("conf");
    }
    for c in ["conf", "../conf"] {
        if Path::new(c).is_dir() {
            return PathBuf::from(c);
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.join("conf").is_dir() && dir.join("scripts").is_dir() {
                return dir.join("conf");
            }
        }
    }
    PathBuf::from("conf")
}

/// The installer directory, which holds conf/ and receives logs/, state/
/// and kubesphere/: the parent of the conf directory (the current directory
/// when that cannot be found).
pub fn installer_dir(conf_dir: &Path) -> PathBuf {
    conf_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl SourceArgs {
    pub fn sources(&self) -> Sources {
        Sources {
            conf_dir: self.conf.clone().unwrap_or_else(default_conf_dir),
            inventory: self.inventory.clone(),
            mode: match self.mode {
                ModeArg::AllInOne => Mode::AllInOne,
                ModeArg::MultiNode => Mode::MultiNode,
            },
        }
    }

    /// Loads and validates the cluster. Warnings are printed; errors (after
    /// `--ignore-errors`) fail with every diagnostic listed.
    pub fn load_valid(&self) -> anyhow::Result<Cluster> {
        self.load_checked(false)
    }

    /// As `load_valid`, for a verb that acts on a running cluster: an even
    /// etcd (left by `remove-node`) is a warning there, not a refusal, so
    /// the cluster can still be backed up, renewed or grown to odd again.
    pub fn load_running(&self) -> anyhow::Result<Cluster> {
        self.load_checked(true)
    }

    fn load_checked(&self, running: bool) -> anyhow::Result<Cluster> {
        let mut report = Report::default();
        let mut cluster = model::load(&self.sources(), &mut report);
        if let Some(c) = &mut cluster {
            self.registry_settings(&mut c.config);
        }
        if let Some(c) = &cluster {
            report.extend(validate::check(c).items);
        }
        if running {
            report.soften(
                "EtcdOddCount",
                "; the cluster runs, but tolerates no more failed members than with one fewer: add one with `ksinstall add-nodes --control-plane`",
            );
        }
        report.ignore(&self.ignore_errors);
        match cluster {
            Some(c) if !report.has_errors() => {
                eprint!("{}", report.render());
                Ok(c)
            }
            _ => Err(Invalid(report).into()),
        }
    }
}
