//! One integration-test binary that runs the built `hostscript` on fixture directories made in
//! temp dirs. Modules are grouped by feature; `support` holds the `Test` builder.

mod architecture;
mod canary;
mod cli;
mod containerd;
mod devmapper;
mod docs;
mod fleet;
mod flintlock_host;
mod fuzz_corpus;
mod golden;
mod grpc;
mod host_data;
mod hostile;
mod link;
mod merge;
mod model;
mod package;
mod primitives;
mod procfs;
mod prometheus;
mod readme;
mod reboot;
mod remediate;
mod second_day;
mod secrets;
mod serve;
mod state;
mod support;
mod systemd;
mod trust;
mod upstream;
