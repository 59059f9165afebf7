//! A deterministic virtual machine for VM-FT: a bytecode interpreter whose whole state is a
//! function of its program, the interrupts delivered to it (and the instruction counts at
//! which they were delivered) and the values it was given for its Clock and Random reads.
//! A primary runs one and logs those inputs; a backup replays the log and ends in the same
//! state, which [`Vm::state_hash`] checks cheaply.
//!
//! The machine (instructions in [`isa`]): 16 u64 registers, a pc indexing the program, an
//! instruction counter (instructions retired), byte-addressed memory ([`memory`]), a bounded
//! return stack, an interrupts-enabled flag and one level of interrupt. Delivering an interrupt
//! saves the pc and all registers (the handler may use any register; `Iret` restores them),
//! disables interrupts, writes the interrupt descriptor (kind, length, tag: [`IRQ_KIND_ADDR`],
//! [`IRQ_LEN_ADDR`], [`IRQ_TAG_ADDR`]) and, for a packet, fills the receive buffer at
//! [`RX_BUFFER`]; then it jumps to the handler the guest set with `SetHandler`. Memory below
//! [`MIN_MEMORY`] holds these two fixed areas. Programs are written with the assembler
//! ([`asm`]); [`guest`] has two.
//!
//! The interpreter is in `exec.rs`; the tests of the instruction set and of the interface in
//! `tests.rs`.

pub mod asm;
mod exec;
pub mod guest;
pub mod isa;
pub mod memory;
#[cfg(test)]
mod tests;

use self::isa::{Fnv64, Program, Reg};
use self::memory::Memory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use thiserror::Error;

/// The unit of dirty tracking and hashing of memory.
pub const PAGE_SIZE: usize = 4096;
/// The size of a disk block.
pub const BLOCK_SIZE: usize = 512;
/// The largest packet, in and out.
pub const MAX_PACKET: usize = 4096;
/// Where `deliver` writes the interrupt's kind (u64 LE, one of the `IRQ_*` kinds).
pub const IRQ_KIND_ADDR: u64 = 0;
/// Where `deliver` writes the interrupt's data length (u64 LE: the packet's, BLOCK_SIZE for a
/// disk read, else 0).
pub const IRQ_LEN_ADDR: u64 = 8;
/// Where `deliver` writes a disk completion's tag (u64 LE, else 0).
pub const IRQ_TAG_ADDR: u64 = 16;
/// The receive buffer (MAX_PACKET bytes) a packet is copied into.
pub const RX_BUFFER: u64 = PAGE_SIZE as u64;
/// The smallest memory: the descriptor page and the receive buffer. Guest data goes above.
pub const MIN_MEMORY: usize = 2 * PAGE_SIZE;
/// The deepest the return stack goes; one more `Call` faults.
pub const MAX_CALL_DEPTH: usize = 256;
/// Interrupt kind: a packet arrived.
pub const IRQ_PACKET: u64 = 1;
/// Interrupt kind: the timer.
pub const IRQ_TIMER: u64 = 2;
/// Interrupt kind: a disk read completed (its data is in place).
pub const IRQ_DISK_READ: u64 = 3;
/// Interrupt kind: a disk write completed.
pub const IRQ_DISK_WRITE: u64 = 4;

/// Why `run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// count() reached the limit.
    Limit,
    /// The guest executed `Wait`: nothing to do until an interrupt (count does not advance
    /// while idle).
    Idle,
    /// The guest reads the clock: the instruction is not retired until
    /// `resume_with(nanoseconds)`.
    Clock,
    /// The guest reads the random source: not retired until `resume_with(value)`.
    Random,
    /// The guest sent a packet (the Send instruction is retired; count already includes it).
    Output(Vec<u8>),
    /// The guest issued a disk request (retired). Its completion comes back later as an
    /// interrupt with the same tag. Tags are assigned by the VM (a counter in VM state), so
    /// they replay.
    Disk {
        /// The request's tag.
        tag: u64,
        /// What to do.
        request: DiskRequest,
    },
    /// The guest faulted (bad address, bad jump, division by zero, ...): the VM is halted and
    /// every later `run` returns the same fault. The `Halt` instruction ends here too.
    Fault(VmError),
}

/// A disk request of the guest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiskRequest {
    /// Read block `block` (BLOCK_SIZE = 512 bytes); the data lands at guest address `into` when
    /// the completion is delivered (the VM remembers `into` with the tag).
    Read {
        /// The block.
        block: u64,
    },
    /// Write `data` (BLOCK_SIZE bytes, copied from guest memory into the bounce buffer at
    /// issue).
    Write {
        /// The block.
        block: u64,
        /// Its new contents.
        data: Vec<u8>,
    },
}

/// A non-deterministic input the hypervisor delivers at an instruction boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Interrupt {
    /// A client packet (at most MAX_PACKET = 4096 bytes): copied into the guest's receive
    /// buffer.
    Packet(Vec<u8>),
    /// The periodic timer.
    Timer,
    /// A disk read finished: `data` (BLOCK_SIZE bytes) is copied to the address given at issue.
    DiskRead {
        /// The request's tag.
        tag: u64,
        /// The block's contents.
        data: Vec<u8>,
    },
    /// A disk write finished.
    DiskWrite {
        /// The request's tag.
        tag: u64,
    },
}

/// What went wrong in the guest or at the VM's interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Error)]
pub enum VmError {
    /// The guest touched memory outside its size.
    #[error("bad address {addr:#x} (+{len} bytes)")]
    BadAddress {
        /// The first byte.
        addr: u64,
        /// How many bytes.
        len: u64,
    },
    /// The pc left the program (it ran past the last instruction).
    #[error("pc {pc} is outside the program")]
    BadPc {
        /// The pc.
        pc: u64,
    },
    /// Div or Rem by zero.
    #[error("division by zero at pc {pc}")]
    DivisionByZero {
        /// The instruction's pc.
        pc: u64,
    },
    /// A Call beyond MAX_CALL_DEPTH.
    #[error("return stack overflow at pc {pc}")]
    StackOverflow {
        /// The instruction's pc.
        pc: u64,
    },
    /// A Ret with an empty return stack.
    #[error("return stack underflow at pc {pc}")]
    StackUnderflow {
        /// The instruction's pc.
        pc: u64,
    },
    /// An Iret outside an interrupt handler.
    #[error("iret outside an interrupt at pc {pc}")]
    IretOutsideInterrupt {
        /// The instruction's pc.
        pc: u64,
    },
    /// Ei or Wait before SetHandler (or a delivery to a VM without a handler).
    #[error("no interrupt handler set (pc {pc})")]
    NoHandler {
        /// The pc.
        pc: u64,
    },
    /// The guest sent a packet larger than MAX_PACKET.
    #[error("the guest sent {len} bytes, more than a packet holds")]
    SendTooLarge {
        /// Its length.
        len: u64,
    },
    /// The guest executed Halt.
    #[error("the guest halted at pc {pc}")]
    Halted {
        /// The instruction's pc.
        pc: u64,
    },
    /// `deliver` or `resume_with` on a VM that faulted.
    #[error("the VM has stopped: {0}")]
    Stopped(Box<VmError>),
    /// `deliver` while interrupts are disabled.
    #[error("interrupts are disabled")]
    InterruptsDisabled,
    /// `deliver` while a Clock or Random read waits for its value.
    #[error("a clock or random read is pending")]
    InputPending,
    /// `resume_with` without a Clock or Random read pending.
    #[error("no clock or random read is pending")]
    NothingPending,
    /// A packet larger than MAX_PACKET was delivered.
    #[error("a packet of {len} bytes is larger than MAX_PACKET")]
    PacketTooLarge {
        /// Its length.
        len: u64,
    },
    /// A disk completion for no outstanding request of its kind.
    #[error("no outstanding disk request of that kind has tag {tag}")]
    UnknownDiskTag {
        /// The tag.
        tag: u64,
    },
    /// A disk read completion whose data is not one block.
    #[error("a disk block of {len} bytes, not BLOCK_SIZE")]
    BadBlock {
        /// Its length.
        len: u64,
    },
    /// A snapshot that does not fit the program or is not a valid state.
    #[error("the snapshot does not fit: {0}")]
    SnapshotMismatch(String),
}

/// A Clock or Random read waiting for its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Pending {
    Clock(Reg),
    Random(Reg),
}

/// The state saved when an interrupt is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Saved {
    pc: u32,
    regs: [u64; 16],
}

/// An issued disk request, and for a read where its data goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Outstanding {
    request: DiskRequest,
    into: u64,
}

/// Everything but the program and memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Cpu {
    regs: [u64; 16],
    pc: u32,
    count: u64,
    interrupts: bool,
    idle: bool,
    handler: Option<u32>,
    saved: Option<Saved>,
    calls: Vec<u32>,
    pending: Option<Pending>,
    next_tag: u64,
    outstanding: BTreeMap<u64, Outstanding>,
    fault: Option<VmError>,
}

/// Everything needed to resume a VM elsewhere: its CPU state, its memory, and the fingerprint
/// of the program it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSnapshot {
    program: u64,
    cpu: Cpu,
    memory: Vec<u8>,
}

impl VmSnapshot {
    /// The instruction count at which it was taken.
    pub fn count(&self) -> u64 {
        self.cpu.count
    }
}

/// The virtual machine.
#[derive(Debug, Clone)]
pub struct Vm {
    program: Arc<Program>,
    cpu: Cpu,
    memory: Memory,
}

impl Vm {
    /// A VM with `memory_bytes` of zeroed memory (a multiple of PAGE_SIZE = 4096; rounded up to
    /// one, and to at least MIN_MEMORY), pc at 0, count 0, interrupts disabled until the guest
    /// enables them.
    pub fn boot(program: Arc<Program>, memory_bytes: usize) -> Vm {
        let bytes = memory_bytes.max(MIN_MEMORY).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let cpu = Cpu {
            regs: [0; 16],
            pc: 0,
            count: 0,
            interrupts: false,
            idle: false,
            handler: None,
            saved: None,
            calls: Vec::new(),
            pending: None,
            next_tag: 0,
            outstanding: BTreeMap::new(),
            fault: None,
        };
        Vm {
            program,
            cpu,
            memory: Memory::zeroed(bytes),
        }
    }

    /// Instructions retired so far.
    pub fn count(&self) -> u64 {
        self.cpu.count
    }

    /// Runs until `count() == limit` (Exit::Limit) or until it needs the hypervisor or idles.
    /// If count() >= limit already, returns Exit::Limit at once. Never executes past `limit`.
    /// A faulted VM returns its fault; a pending Clock/Random read returns Clock/Random again.
    pub fn run(&mut self, limit: u64) -> Exit {
        if let Some(fault) = &self.cpu.fault {
            return Exit::Fault(fault.clone());
        }
        if self.cpu.count >= limit {
            return Exit::Limit;
        }
        match self.cpu.pending {
            Some(Pending::Clock(_)) => return Exit::Clock,
            Some(Pending::Random(_)) => return Exit::Random,
            None => {}
        }
        if self.cpu.idle {
            return Exit::Idle;
        }
        self.exec(limit)
    }

    /// Whether an interrupt can be delivered now (interrupts enabled and no Clock/Random
    /// pending).
    pub fn interrupts_enabled(&self) -> bool {
        self.cpu.interrupts && self.cpu.pending.is_none() && self.cpu.fault.is_none()
    }

    /// Whether the VM is idle (executed `Wait`, waiting for an interrupt).
    pub fn is_idle(&self) -> bool {
        self.cpu.idle
    }

    /// Delivers an interrupt at the current instruction count: copies its data (the bounce
    /// buffer) into guest memory now, records the kind in the interrupt descriptor, saves pc
    /// (and the registers), disables interrupts and jumps to the handler. Err if interrupts are
    /// disabled, if a Clock/Random value is pending, if the packet is larger than MAX_PACKET,
    /// or a disk completion names no outstanding request. On Err nothing changed.
    pub fn deliver(&mut self, interrupt: Interrupt) -> Result<(), VmError> {
        if let Some(fault) = &self.cpu.fault {
            return Err(VmError::Stopped(Box::new(fault.clone())));
        }
        if self.cpu.pending.is_some() {
            return Err(VmError::InputPending);
        }
        if !self.cpu.interrupts {
            return Err(VmError::InterruptsDisabled);
        }
        let pc = u64::from(self.cpu.pc);
        let handler = self.cpu.handler.ok_or(VmError::NoHandler { pc })?;
        let (kind, len, tag) = match &interrupt {
            Interrupt::Packet(data) => {
                if data.len() > MAX_PACKET {
                    return Err(VmError::PacketTooLarge {
                        len: data.len() as u64,
                    });
                }
                self.memory.write(RX_BUFFER, data)?;
                (IRQ_PACKET, data.len() as u64, 0)
            }
            Interrupt::Timer => (IRQ_TIMER, 0, 0),
            Interrupt::DiskRead { tag, data } => {
                let into = match self.cpu.outstanding.get(tag) {
                    Some(Outstanding {
                        request: DiskRequest::Read { .. },
                        into,
                    }) => *into,
                    _ => return Err(VmError::UnknownDiskTag { tag: *tag }),
                };
                if data.len() != BLOCK_SIZE {
                    let len = data.len() as u64;
                    return Err(VmError::BadBlock { len });
                }
                self.memory.write(into, data)?;
                self.cpu.outstanding.remove(tag);
                (IRQ_DISK_READ, BLOCK_SIZE as u64, *tag)
            }
            Interrupt::DiskWrite { tag } => {
                match self.cpu.outstanding.get(tag) {
                    Some(Outstanding {
                        request: DiskRequest::Write { .. },
                        ..
                    }) => {}
                    _ => return Err(VmError::UnknownDiskTag { tag: *tag }),
                }
                self.cpu.outstanding.remove(tag);
                (IRQ_DISK_WRITE, 0, *tag)
            }
        };
        // MIN_MEMORY holds the descriptor, so these cannot fail.
        self.memory.write_u64(IRQ_KIND_ADDR, kind)?;
        self.memory.write_u64(IRQ_LEN_ADDR, len)?;
        self.memory.write_u64(IRQ_TAG_ADDR, tag)?;
        let cpu = &mut self.cpu;
        cpu.saved = Some(Saved {
            pc: cpu.pc,
            regs: cpu.regs,
        });
        cpu.interrupts = false;
        cpu.idle = false;
        cpu.pc = handler;
        tracing::trace!(count = cpu.count, kind, len, tag, "interrupt delivered");
        Ok(())
    }

    /// Answers the pending Clock or Random instruction with `value` (which retires it:
    /// count+1).
    pub fn resume_with(&mut self, value: u64) -> Result<(), VmError> {
        if let Some(fault) = &self.cpu.fault {
            return Err(VmError::Stopped(Box::new(fault.clone())));
        }
        let rd = match self.cpu.pending.take() {
            Some(Pending::Clock(rd) | Pending::Random(rd)) => rd,
            None => return Err(VmError::NothingPending),
        };
        self.cpu.regs[rd.index()] = value;
        self.cpu.pc += 1;
        self.cpu.count += 1;
        Ok(())
    }

    /// A hash of the whole VM state (registers, pc, count, flags, outstanding disk requests,
    /// and memory). Cheap: memory is hashed per 4 KiB page, and only pages written since the
    /// last call are rehashed (crc32fast); the result combines the page hashes with the rest.
    /// Equal on every 64-bit little-endian host for equal states.
    pub fn state_hash(&mut self) -> u64 {
        let mut hasher = Fnv64::new();
        self.cpu.hash(&mut hasher);
        hasher.write(&(self.memory.len() as u64).to_le_bytes());
        for page in self.memory.page_hashes() {
            hasher.write(&page.to_le_bytes());
        }
        hasher.finish()
    }

    /// The disk requests issued and not yet completed (tag, request), in tag order: what a
    /// backup that goes live must issue again.
    pub fn outstanding_disk(&self) -> Vec<(u64, DiskRequest)> {
        let outstanding = self.cpu.outstanding.iter();
        outstanding
            .map(|(&tag, o)| (tag, o.request.clone()))
            .collect()
    }

    /// Everything needed to resume this VM elsewhere (FT VMotion's state transfer).
    pub fn snapshot(&self) -> VmSnapshot {
        VmSnapshot {
            program: self.program.fingerprint(),
            cpu: self.cpu.clone(),
            memory: self.memory.bytes().to_vec(),
        }
    }

    /// The VM a snapshot describes, running `program` (Err if the snapshot does not fit it).
    pub fn restore(program: Arc<Program>, snapshot: VmSnapshot) -> Result<Vm, VmError> {
        let misfit = |why: &str| Err(VmError::SnapshotMismatch(why.to_string()));
        if snapshot.program != program.fingerprint() {
            return misfit("it was taken of another program");
        }
        let bytes = snapshot.memory.len();
        if bytes < MIN_MEMORY || bytes % PAGE_SIZE != 0 {
            return misfit("its memory is not a valid size");
        }
        let cpu = &snapshot.cpu;
        let len = program.len();
        let inside = |pc: u32| (pc as usize) <= len;
        let handler_ok = cpu.handler.is_none_or(|h| (h as usize) < len);
        let saved_ok = cpu.saved.as_ref().is_none_or(|s| inside(s.pc));
        let calls_ok = cpu.calls.len() <= MAX_CALL_DEPTH && cpu.calls.iter().all(|&pc| inside(pc));
        if !inside(cpu.pc) || !handler_ok || !saved_ok || !calls_ok {
            return misfit("a pc lies outside the program");
        }
        Ok(Vm {
            program,
            cpu: snapshot.cpu,
            memory: Memory::from_bytes(snapshot.memory),
        })
    }

    /// The program it runs.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The pc (the index of the next instruction).
    pub fn pc(&self) -> u64 {
        u64::from(self.cpu.pc)
    }

    /// The value of a register.
    pub fn register(&self, reg: Reg) -> u64 {
        self.cpu.regs[reg.index()]
    }

    /// The `len` bytes of guest memory at `addr`.
    pub fn read_memory(&self, addr: u64, len: u64) -> Result<&[u8], VmError> {
        self.memory.slice(addr, len)
    }

    /// The size of guest memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.memory.len()
    }

    /// The fault that stopped the VM, if it faulted.
    pub fn fault(&self) -> Option<&VmError> {
        self.cpu.fault.as_ref()
    }
}
