//! The typed cluster model: what the inventory and the config mean, once
//! read. Everything after this point (validation, plan, templates, execution)
//! reads only this model, never the raw files.

pub mod cluster;
pub mod lb;
pub mod legacy;
pub mod load;
pub mod node;
pub mod registry;
pub mod storage;
pub mod versions;

pub use cluster::{Cluster, Mode};
pub use load::{load, Sources};
pub use node::{Become, Connection, Node, Role, Secret, SshTarget};
