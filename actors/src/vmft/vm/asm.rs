//! An assembler: a builder with one method per instruction and labels for jump targets,
//! resolved when the program is finished. Guest programs are written with it, in Rust, so
//! there is no text syntax to parse.

use super::isa::{AluOp, Cond, Instr, Program, ProgramError, Reg};
use thiserror::Error;

/// A place in the program, possibly not bound yet (forward jumps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Why the assembler could not produce a program.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsmError {
    /// A jump names a label never bound.
    #[error("label {0} is used but never bound")]
    Unbound(usize),
    /// A label was bound twice.
    #[error("label {0} is bound twice")]
    BoundTwice(usize),
    /// The instructions are not a program.
    #[error(transparent)]
    Program(#[from] ProgramError),
}

/// The program being written.
#[derive(Debug, Default)]
pub struct Asm {
    instrs: Vec<Instr>,
    labels: Vec<Option<u32>>,
    /// (instruction index, label) of every jump to patch.
    fixups: Vec<(usize, Label)>,
    bound_twice: Option<usize>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// A new label, to be bound later with [`Asm::bind`].
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction.
    pub fn bind(&mut self, label: Label) {
        let here = self.instrs.len() as u32;
        match self.labels.get_mut(label.0) {
            Some(slot @ None) => *slot = Some(here),
            _ => self.bound_twice = Some(label.0),
        }
    }

    /// A new label bound to the next instruction.
    pub fn here(&mut self) -> Label {
        let label = self.label();
        self.bind(label);
        label
    }

    /// Appends an instruction as is.
    pub fn emit(&mut self, instr: Instr) {
        self.instrs.push(instr);
    }

    /// Appends an instruction whose target is `label` (patched by `finish`).
    fn emit_to(&mut self, instr: Instr, label: Label) {
        self.fixups.push((self.instrs.len(), label));
        self.instrs.push(instr);
    }

    /// The program, with every label resolved.
    pub fn finish(self) -> Result<Program, AsmError> {
        if let Some(label) = self.bound_twice {
            return Err(AsmError::BoundTwice(label));
        }
        let mut instrs = self.instrs;
        for (at, label) in self.fixups {
            let Some(Some(to)) = self.labels.get(label.0) else {
                return Err(AsmError::Unbound(label.0));
            };
            let to = *to;
            match &mut instrs[at] {
                Instr::Jump { target }
                | Instr::Branch { target, .. }
                | Instr::BranchZero { target, .. }
                | Instr::BranchNonZero { target, .. }
                | Instr::Call { target }
                | Instr::SetHandler { target } => *target = to,
                _ => {}
            }
        }
        Ok(Program::new(instrs)?)
    }

    /// `rd = value`.
    pub fn imm(&mut self, rd: Reg, value: u64) {
        self.emit(Instr::Imm { rd, value });
    }

    /// `rd = rs`.
    pub fn mov(&mut self, rd: Reg, rs: Reg) {
        self.emit(Instr::Mov { rd, rs });
    }

    /// `rd = a op b`.
    pub fn alu(&mut self, op: AluOp, rd: Reg, a: Reg, b: Reg) {
        self.emit(Instr::Alu { op, rd, a, b });
    }

    /// `rd = a op imm`.
    pub fn alu_imm(&mut self, op: AluOp, rd: Reg, a: Reg, imm: u64) {
        self.emit(Instr::AluImm { op, rd, a, imm });
    }

    /// `rd = a + b`.
    pub fn add(&mut self, rd: Reg, a: Reg, b: Reg) {
        self.alu(AluOp::Add, rd, a, b);
    }

    /// `rd = a - b`.
    pub fn sub(&mut self, rd: Reg, a: Reg, b: Reg) {
        self.alu(AluOp::Sub, rd, a, b);
    }

    /// `rd = a + imm`.
    pub fn addi(&mut self, rd: Reg, a: Reg, imm: u64) {
        self.alu_imm(AluOp::Add, rd, a, imm);
    }

    /// `rd = a * imm`.
    pub fn muli(&mut self, rd: Reg, a: Reg, imm: u64) {
        self.alu_imm(AluOp::Mul, rd, a, imm);
    }

    /// `rd = a & imm`.
    pub fn andi(&mut self, rd: Reg, a: Reg, imm: u64) {
        self.alu_imm(AluOp::And, rd, a, imm);
    }

    /// `rd = memory[base + offset]` (u8).
    pub fn ld8(&mut self, rd: Reg, base: Reg, offset: i32) {
        self.emit(Instr::Load8 { rd, base, offset });
    }

    /// `rd = memory[base + offset]` (u64 LE).
    pub fn ld64(&mut self, rd: Reg, base: Reg, offset: i32) {
        self.emit(Instr::Load64 { rd, base, offset });
    }

    /// `memory[base + offset] = rs` (u8).
    pub fn st8(&mut self, rs: Reg, base: Reg, offset: i32) {
        self.emit(Instr::Store8 { rs, base, offset });
    }

    /// `memory[base + offset] = rs` (u64 LE).
    pub fn st64(&mut self, rs: Reg, base: Reg, offset: i32) {
        self.emit(Instr::Store64 { rs, base, offset });
    }

    /// Copies `len` bytes from `src` to `dst`.
    pub fn copy(&mut self, dst: Reg, src: Reg, len: Reg) {
        self.emit(Instr::Copy { dst, src, len });
    }

    /// `rd = 1` if the `len` bytes at `a` and `b` are equal, else 0.
    pub fn compare(&mut self, rd: Reg, a: Reg, b: Reg, len: Reg) {
        self.emit(Instr::Compare { rd, a, b, len });
    }

    /// `rd =` the memory size.
    pub fn mem_size(&mut self, rd: Reg) {
        self.emit(Instr::MemSize { rd });
    }

    /// Jumps to `to`.
    pub fn jump(&mut self, to: Label) {
        self.emit_to(Instr::Jump { target: 0 }, to);
    }

    /// Jumps to `to` if `a cond b`.
    pub fn branch(&mut self, cond: Cond, a: Reg, b: Reg, to: Label) {
        let target = 0;
        self.emit_to(Instr::Branch { cond, a, b, target }, to);
    }

    /// Jumps to `to` if `a == b`.
    pub fn beq(&mut self, a: Reg, b: Reg, to: Label) {
        self.branch(Cond::Eq, a, b, to);
    }

    /// Jumps to `to` if `a != b`.
    pub fn bne(&mut self, a: Reg, b: Reg, to: Label) {
        self.branch(Cond::Ne, a, b, to);
    }

    /// Jumps to `to` if `a < b` (unsigned).
    pub fn blt(&mut self, a: Reg, b: Reg, to: Label) {
        self.branch(Cond::Lt, a, b, to);
    }

    /// Jumps to `to` if `a >= b` (unsigned).
    pub fn bge(&mut self, a: Reg, b: Reg, to: Label) {
        self.branch(Cond::Ge, a, b, to);
    }

    /// Jumps to `to` if `rs == 0`.
    pub fn bz(&mut self, rs: Reg, to: Label) {
        self.emit_to(Instr::BranchZero { rs, target: 0 }, to);
    }

    /// Jumps to `to` if `rs != 0`.
    pub fn bnz(&mut self, rs: Reg, to: Label) {
        self.emit_to(Instr::BranchNonZero { rs, target: 0 }, to);
    }

    /// Calls the subroutine at `to`.
    pub fn call(&mut self, to: Label) {
        self.emit_to(Instr::Call { target: 0 }, to);
    }

    /// Returns from a subroutine.
    pub fn ret(&mut self) {
        self.emit(Instr::Ret);
    }

    /// Makes `to` the interrupt handler.
    pub fn set_handler(&mut self, to: Label) {
        self.emit_to(Instr::SetHandler { target: 0 }, to);
    }

    /// Enables interrupts.
    pub fn ei(&mut self) {
        self.emit(Instr::Ei);
    }

    /// Disables interrupts.
    pub fn di(&mut self) {
        self.emit(Instr::Di);
    }

    /// Returns from the interrupt handler.
    pub fn iret(&mut self) {
        self.emit(Instr::Iret);
    }

    /// Enables interrupts and idles until one arrives.
    pub fn wait(&mut self) {
        self.emit(Instr::Wait);
    }

    /// `rd =` the clock.
    pub fn clock(&mut self, rd: Reg) {
        self.emit(Instr::Clock { rd });
    }

    /// `rd =` a random value.
    pub fn random(&mut self, rd: Reg) {
        self.emit(Instr::Random { rd });
    }

    /// Sends the `len` bytes at `addr`.
    pub fn send(&mut self, addr: Reg, len: Reg) {
        self.emit(Instr::Send { addr, len });
    }

    /// Reads disk block `block` into `addr`; `rd =` the tag.
    pub fn disk_read(&mut self, rd: Reg, block: Reg, addr: Reg) {
        self.emit(Instr::DiskRead { rd, block, addr });
    }

    /// Writes the block at `addr` to disk block `block`; `rd =` the tag.
    pub fn disk_write(&mut self, rd: Reg, block: Reg, addr: Reg) {
        self.emit(Instr::DiskWrite { rd, block, addr });
    }

    /// Stops the machine.
    pub fn halt(&mut self) {
        self.emit(Instr::Halt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmft::vm::isa::{R1, R2};

    #[test]
    fn labels_resolve_forward_and_backward() {
        let mut a = Asm::new();
        let end = a.label();
        let top = a.here();
        a.imm(R1, 1);
        a.beq(R1, R2, end);
        a.jump(top);
        a.bind(end);
        a.halt();
        let program = a.finish().expect("all labels bound");
        let instrs = program.instrs();
        assert_eq!(instrs[1].target(), Some(3));
        assert_eq!(instrs[2].target(), Some(0));
    }

    #[test]
    fn an_unbound_or_twice_bound_label_is_an_error() {
        let mut a = Asm::new();
        let nowhere = a.label();
        a.jump(nowhere);
        assert_eq!(a.finish(), Err(AsmError::Unbound(0)));
        let mut a = Asm::new();
        let twice = a.here();
        a.bind(twice);
        a.halt();
        assert_eq!(a.finish(), Err(AsmError::BoundTwice(0)));
    }
}
