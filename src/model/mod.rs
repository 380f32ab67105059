//! The typed cluster model: what the inventory and the config mean, once
//! checked. Everything after this point (plan, templates, execution) reads
//! only this model, never the raw files.

pub mod node;

pub use node::{Become, Connection, Node, Role, Secret, SshTarget};
