//! The instruction set of the VM: an enum [`Instr`] the interpreter matches on, and a
//! [`Program`], a checked list of instructions (every jump target inside it).
//!
//! The machine has 16 registers of 64 bits ([`Reg`], only the constants `R0`..`R15` exist, so
//! a register index is always valid), a pc that indexes the program, and byte-addressed memory.
//! Arithmetic wraps; division and remainder by zero fault. Comparisons are unsigned and set 1
//! or 0. Loads and stores address `base register + offset` (wrapping) and fault outside memory.

use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use thiserror::Error;

/// A register: one of `R0`..`R15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reg(u8);

impl Reg {
    /// The register's index, 0..16.
    pub fn index(self) -> usize {
        (self.0 & 15) as usize
    }
}

/// Register 0.
pub const R0: Reg = Reg(0);
/// Register 1.
pub const R1: Reg = Reg(1);
/// Register 2.
pub const R2: Reg = Reg(2);
/// Register 3.
pub const R3: Reg = Reg(3);
/// Register 4.
pub const R4: Reg = Reg(4);
/// Register 5.
pub const R5: Reg = Reg(5);
/// Register 6.
pub const R6: Reg = Reg(6);
/// Register 7.
pub const R7: Reg = Reg(7);
/// Register 8.
pub const R8: Reg = Reg(8);
/// Register 9.
pub const R9: Reg = Reg(9);
/// Register 10.
pub const R10: Reg = Reg(10);
/// Register 11.
pub const R11: Reg = Reg(11);
/// Register 12.
pub const R12: Reg = Reg(12);
/// Register 13.
pub const R13: Reg = Reg(13);
/// Register 14.
pub const R14: Reg = Reg(14);
/// Register 15.
pub const R15: Reg = Reg(15);

/// A two-operand operation: `rd = a op b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Wrapping multiplication.
    Mul,
    /// Unsigned division; faults on zero.
    Div,
    /// Unsigned remainder; faults on zero.
    Rem,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
    /// Shift left by `b % 64`.
    Shl,
    /// Logical shift right by `b % 64`.
    Shr,
    /// 1 if `a == b`, else 0.
    Eq,
    /// 1 if `a != b`, else 0.
    Ne,
    /// 1 if `a < b` (unsigned), else 0.
    Lt,
    /// 1 if `a <= b` (unsigned), else 0.
    Le,
}

/// The condition of a conditional branch (unsigned comparisons of two registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a >= b`.
    Ge,
}

/// One instruction. Targets are program indices (the assembler resolves labels to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instr {
    /// Does nothing.
    Nop,
    /// `rd = value`.
    Imm { rd: Reg, value: u64 },
    /// `rd = rs`.
    Mov { rd: Reg, rs: Reg },
    /// `rd = a op b`.
    Alu { op: AluOp, rd: Reg, a: Reg, b: Reg },
    /// `rd = a op imm`.
    AluImm {
        op: AluOp,
        rd: Reg,
        a: Reg,
        imm: u64,
    },
    /// `rd = memory[base + offset]` (one byte, zero-extended).
    Load8 { rd: Reg, base: Reg, offset: i32 },
    /// `rd = memory[base + offset .. +8]` (little endian).
    Load64 { rd: Reg, base: Reg, offset: i32 },
    /// `memory[base + offset] = rs as u8`.
    Store8 { rs: Reg, base: Reg, offset: i32 },
    /// `memory[base + offset .. +8] = rs` (little endian).
    Store64 { rs: Reg, base: Reg, offset: i32 },
    /// Copies `len` bytes from `src` to `dst` (overlap allowed, as memmove): one instruction.
    Copy { dst: Reg, src: Reg, len: Reg },
    /// `rd = 1` if the `len` bytes at `a` and at `b` are equal, else 0: one instruction.
    Compare { rd: Reg, a: Reg, b: Reg, len: Reg },
    /// `rd =` the size of memory in bytes.
    MemSize { rd: Reg },
    /// Jumps to `target`.
    Jump { target: u32 },
    /// Jumps to `target` if `a cond b`.
    Branch {
        cond: Cond,
        a: Reg,
        b: Reg,
        target: u32,
    },
    /// Jumps to `target` if `rs == 0`.
    BranchZero { rs: Reg, target: u32 },
    /// Jumps to `target` if `rs != 0`.
    BranchNonZero { rs: Reg, target: u32 },
    /// Pushes the next pc on the return stack and jumps to `target` (overflow faults).
    Call { target: u32 },
    /// Pops the return stack and jumps there (an empty stack faults).
    Ret,
    /// Sets the interrupt handler's entry point.
    SetHandler { target: u32 },
    /// Enables interrupts (faults if no handler is set).
    Ei,
    /// Disables interrupts.
    Di,
    /// Returns from the interrupt handler: restores the registers and pc saved at delivery
    /// and enables interrupts.
    Iret,
    /// Enables interrupts and idles until one is delivered, in one step (so an interrupt cannot
    /// slip in between); the handler returns to the next instruction.
    Wait,
    /// `rd =` the clock (nanoseconds), supplied by the hypervisor.
    Clock { rd: Reg },
    /// `rd =` a random value, supplied by the hypervisor.
    Random { rd: Reg },
    /// Sends the `len` bytes at `addr` as a packet (at most MAX_PACKET).
    Send { addr: Reg, len: Reg },
    /// Reads disk block `block` into memory at `addr` (on completion); `rd =` the tag.
    DiskRead { rd: Reg, block: Reg, addr: Reg },
    /// Writes the BLOCK_SIZE bytes at `addr` to disk block `block`; `rd =` the tag.
    DiskWrite { rd: Reg, block: Reg, addr: Reg },
    /// Stops the machine (it ends in a fault that says so).
    Halt,
}

impl Instr {
    /// The jump target this instruction names, if any.
    pub fn target(&self) -> Option<u32> {
        match *self {
            Instr::Jump { target }
            | Instr::Branch { target, .. }
            | Instr::BranchZero { target, .. }
            | Instr::BranchNonZero { target, .. }
            | Instr::Call { target }
            | Instr::SetHandler { target } => Some(target),
            _ => None,
        }
    }
}

/// Why a list of instructions is not a program.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProgramError {
    /// The instruction at `at` jumps to `target`, outside the program.
    #[error("instruction {at} jumps to {target}, outside the program of {len} instructions")]
    TargetOutside {
        /// The instruction's index.
        at: usize,
        /// Its target.
        target: u32,
        /// The program's length.
        len: usize,
    },
    /// More instructions than a u32 pc can index.
    #[error("a program of {0} instructions is too long")]
    TooLong(usize),
}

/// A checked program: its instructions, and a fingerprint that snapshots are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    instrs: Vec<Instr>,
    fingerprint: u64,
}

impl Program {
    /// The program of `instrs`, if every jump target lies inside it.
    pub fn new(instrs: Vec<Instr>) -> Result<Program, ProgramError> {
        let len = instrs.len();
        if u32::try_from(len).is_err() {
            return Err(ProgramError::TooLong(len));
        }
        for (at, instr) in instrs.iter().enumerate() {
            if let Some(target) = instr.target() {
                if target as usize >= len {
                    return Err(ProgramError::TargetOutside { at, target, len });
                }
            }
        }
        let mut hasher = Fnv64::new();
        instrs.hash(&mut hasher);
        let fingerprint = hasher.finish();
        Ok(Program {
            instrs,
            fingerprint,
        })
    }

    /// The instructions.
    pub fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// How many instructions.
    pub fn len(&self) -> usize {
        self.instrs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }

    /// A hash of the instructions: two programs with the same one are (almost surely) equal.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// FNV-1a, 64 bits: a fixed hash (no per-process keys), so equal inputs hash equally in every
/// process, which state hashes compared across primary and backup need.
#[derive(Debug, Clone)]
pub struct Fnv64(u64);

impl Fnv64 {
    /// The hash of nothing yet.
    pub fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64::new()
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_outside_the_program_is_refused() {
        let err = Program::new(vec![Instr::Nop, Instr::Jump { target: 2 }]);
        assert_eq!(
            err,
            Err(ProgramError::TargetOutside {
                at: 1,
                target: 2,
                len: 2
            })
        );
        assert!(Program::new(vec![Instr::Jump { target: 0 }]).is_ok());
    }

    #[test]
    fn equal_programs_have_equal_fingerprints_and_different_ones_differ() {
        let a = Program::new(vec![Instr::Imm { rd: R1, value: 1 }]).expect("valid");
        let b = Program::new(vec![Instr::Imm { rd: R1, value: 1 }]).expect("valid");
        let c = Program::new(vec![Instr::Imm { rd: R1, value: 2 }]).expect("valid");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(R15.index(), 15);
    }
}
