//! A host for the guests' tests: runs a VM until it idles, answering Clock and Random reads
//! with predictable values, collecting its packets and its disk requests, and completing
//! those against an in-memory disk on demand.

use crate::vmft::vm::isa::Program;
use crate::vmft::vm::{DiskRequest, Exit, Interrupt, Vm, BLOCK_SIZE};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most instructions one `settle` may take.
const BUDGET: u64 = 10_000_000;

/// A VM and the world around it.
pub(crate) struct Host {
    pub vm: Vm,
    pub disk: BTreeMap<u64, Vec<u8>>,
    /// Disk requests issued and not completed yet, in order.
    pub issued: Vec<(u64, DiskRequest)>,
    /// The last clock value given (each read adds 1000).
    pub clock: u64,
    /// The last random value given.
    pub nonce: u64,
}

impl Host {
    /// A host running `program` in `memory` bytes.
    pub fn new(program: Arc<Program>, memory: usize) -> Host {
        Host {
            vm: Vm::boot(program, memory),
            disk: BTreeMap::new(),
            issued: Vec::new(),
            clock: 0,
            nonce: 1,
        }
    }

    /// Runs until the guest idles; returns the packets it sent.
    pub fn settle(&mut self) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        let limit = self.vm.count() + BUDGET;
        loop {
            match self.vm.run(limit) {
                Exit::Idle => return sent,
                Exit::Limit => panic!("the guest did not idle within {BUDGET} instructions"),
                Exit::Clock => {
                    self.clock += 1000;
                    self.vm
                        .resume_with(self.clock)
                        .expect("a clock read is pending");
                }
                Exit::Random => {
                    self.nonce = self.nonce.wrapping_mul(6_364_136_223_846_793_005) + 1;
                    self.vm
                        .resume_with(self.nonce)
                        .expect("a random read is pending");
                }
                Exit::Output(packet) => sent.push(packet),
                Exit::Disk { tag, request } => self.issued.push((tag, request)),
                Exit::Fault(fault) => panic!("the guest faulted: {fault}"),
            }
        }
    }

    /// Delivers `interrupt` (the guest must accept it) and settles.
    pub fn deliver(&mut self, interrupt: Interrupt) -> Vec<Vec<u8>> {
        self.vm
            .deliver(interrupt)
            .expect("the guest accepts interrupts");
        self.settle()
    }

    /// Completes every issued disk request, oldest first, settling after each.
    pub fn complete_disk(&mut self) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        for (tag, request) in std::mem::take(&mut self.issued) {
            let interrupt = match request {
                DiskRequest::Read { block } => {
                    let data = self.disk.get(&block).cloned();
                    let data = data.unwrap_or_else(|| vec![0; BLOCK_SIZE]);
                    Interrupt::DiskRead { tag, data }
                }
                DiskRequest::Write { block, data } => {
                    self.disk.insert(block, data);
                    Interrupt::DiskWrite { tag }
                }
            };
            sent.extend(self.deliver(interrupt));
        }
        sent
    }
}
