//! Host probes: plain Rust views of the machine (commands, files, identity), with typed results
//! and no Rhai types. The Rhai bindings in `crate::bindings` wrap these; tests and other
//! front ends can call them directly. Every probe that can block takes a timeout, which the
//! bindings cap by the remaining budget of the running check.

pub mod change;
pub mod cmd;
pub mod dm;
pub mod fs;
pub mod grpc;
pub mod kmod;
pub mod link;
pub mod net;
pub mod procfs;
pub mod sys;
pub mod systemd;
