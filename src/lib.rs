//! ksinstall: a legacy-compatible, inventory-driven Kubernetes + KubeSphere installer.
//!
//! The flow reads off the module tree:
//! `inventory` + `config` → `model` (typed cluster) → `validate` → `report`,
//! driven by the verbs in `cli` (their shared arguments in `args`);
//! `render` → `install` (phases over `exec`) act on the hosts.

pub mod adhoc;
pub mod args;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod diag;
pub mod exec;
pub mod install;
pub mod inventory;
pub mod model;
pub mod render;
pub mod report;
pub mod validate;
