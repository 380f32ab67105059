//! The install: facts about each host, preflight, then the ordered phases.

pub mod backup;
pub mod certs;
pub mod distribute;
pub mod facts;
pub mod files;
pub mod offline;
pub mod online;
pub mod ops;
pub mod phases;
pub mod preflight;
pub mod registry;
pub mod remove;
pub mod renew;
pub mod reset;
pub mod restore;
pub mod result;
pub mod run;
pub mod scale;
pub mod state;
pub mod upgrade;
