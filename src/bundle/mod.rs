//! The offline bundle: everything an install needs, collected ahead of time
//! on a machine with network, checked, and pushed host by host at install
//! time. Nothing is downloaded during an install.
//!
//! `needs` says what each host needs (one data table); `build` assembles
//! the bundle (`debs/` apt repository, `rpms/`, `bin/`, `images/`,
//! `manifest.json`); `verify` checks one; `select` picks a host's part and
//! says how apt on the host uses it.

pub mod aptrepo;
pub mod build;
pub mod cli;
pub mod deb;
pub mod fetch;
pub mod files;
pub mod hash;
pub mod manifest;
pub mod needs;
pub mod push;
pub mod registry;
pub mod select;
pub mod verify;

pub use manifest::{Entry, Manifest};
pub use needs::{plan, Kind, Need, Plan, PlanOptions};
