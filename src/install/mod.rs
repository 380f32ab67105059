//! The install: facts about each host, preflight, then the ordered phases.

pub mod facts;
pub mod preflight;
pub mod state;
