//! Real processes on loopback, with ports chosen by the OS and data on disk: `troupe node`
//! processes elect, replicate and serve clients over their client ports; SIGKILL of the leader
//! and damage to a node's log tail lose no acknowledged write; chain replication's processes
//! survive SIGKILL of the head, the middle and the tail; VM-FT's processes fail over to the
//! backup when the primary's process is killed; GFS's processes store and return files, and
//! keep every acknowledged record append through a SIGKILL of the primary, and `troupe bench
//! gfs --real` gets back the bytes it put. The cluster commands refuse to overwrite a cluster
//! or start one twice, and say node by node what failed. No test sleeps to wait: every wait
//! polls with a deadline.

mod bench_gfs;
mod chain;
mod down;
mod first_entry;
mod gfs;
mod init;
mod kill_and_corrupt;
mod support;
mod up;
mod vmft;
mod zk;
mod zkcli;
