//! ksinstall: a legacy-compatible, inventory-driven Kubernetes + KubeSphere installer.
//!
//! The flow reads off the module tree:
//! `inventory` + `config` → `model` (typed cluster) → `validate` → `cli` verbs.

pub mod cli;
pub mod diag;
pub mod exec;
pub mod inventory;
pub mod model;
