//! The interpreter loop: one `match` per instruction over [`Instr`], the pc and counter in
//! locals, no allocation except for Send and the disk (which leave the loop anyway). A fault
//! stops the loop with the faulting instruction unretired and halts the VM for good.

use super::isa::{AluOp, Cond, Instr, Reg};
use super::{
    DiskRequest, Exit, Outstanding, Pending, Saved, Vm, VmError, BLOCK_SIZE, MAX_CALL_DEPTH,
    MAX_PACKET,
};

/// `base + offset`, wrapping (a wrapped address is out of range and faults at the access).
#[inline(always)]
fn address(regs: &[u64; 16], base: Reg, offset: i32) -> u64 {
    regs[base.index()].wrapping_add(offset as i64 as u64)
}

/// `a op b`, or None for a division by zero.
#[inline(always)]
fn alu(op: AluOp, a: u64, b: u64) -> Option<u64> {
    Some(match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b)?,
        AluOp::Rem => a.checked_rem(b)?,
        AluOp::And => a & b,
        AluOp::Or => a | b,
        AluOp::Xor => a ^ b,
        AluOp::Shl => a.wrapping_shl(b as u32),
        AluOp::Shr => a.wrapping_shr(b as u32),
        AluOp::Eq => u64::from(a == b),
        AluOp::Ne => u64::from(a != b),
        AluOp::Lt => u64::from(a < b),
        AluOp::Le => u64::from(a <= b),
    })
}

impl Vm {
    /// Executes from the current pc until `limit` or an exit; `run` has checked that the VM
    /// may run and that `count < limit`.
    pub(super) fn exec(&mut self, limit: u64) -> Exit {
        let Vm {
            program,
            cpu,
            memory,
        } = self;
        let instrs = program.instrs();
        let mut pc = cpu.pc as usize;
        let mut count = cpu.count;
        // Evaluates a fallible step, leaving the loop with its error.
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => break Err(e),
                }
            };
        }
        let outcome: Result<Exit, VmError> = loop {
            if count == limit {
                break Ok(Exit::Limit);
            }
            let at = pc as u64;
            let Some(&instr) = instrs.get(pc) else {
                break Err(VmError::BadPc { pc: at });
            };
            let regs = &mut cpu.regs;
            match instr {
                Instr::Nop => {}
                Instr::Imm { rd, value } => regs[rd.index()] = value,
                Instr::Mov { rd, rs } => regs[rd.index()] = regs[rs.index()],
                Instr::Alu { op, rd, a, b } => {
                    let result = alu(op, regs[a.index()], regs[b.index()]);
                    let value = attempt!(result.ok_or(VmError::DivisionByZero { pc: at }));
                    regs[rd.index()] = value;
                }
                Instr::AluImm { op, rd, a, imm } => {
                    let result = alu(op, regs[a.index()], imm);
                    let value = attempt!(result.ok_or(VmError::DivisionByZero { pc: at }));
                    regs[rd.index()] = value;
                }
                Instr::Load8 { rd, base, offset } => {
                    let value = attempt!(memory.read_u8(address(regs, base, offset)));
                    regs[rd.index()] = u64::from(value);
                }
                Instr::Load64 { rd, base, offset } => {
                    regs[rd.index()] = attempt!(memory.read_u64(address(regs, base, offset)));
                }
                Instr::Store8 { rs, base, offset } => {
                    let value = regs[rs.index()] as u8;
                    attempt!(memory.write_u8(address(regs, base, offset), value));
                }
                Instr::Store64 { rs, base, offset } => {
                    let value = regs[rs.index()];
                    attempt!(memory.write_u64(address(regs, base, offset), value));
                }
                Instr::Copy { dst, src, len } => {
                    let (d, s, n) = (regs[dst.index()], regs[src.index()], regs[len.index()]);
                    attempt!(memory.copy(d, s, n));
                }
                Instr::Compare { rd, a, b, len } => {
                    let (a, b, n) = (regs[a.index()], regs[b.index()], regs[len.index()]);
                    regs[rd.index()] = u64::from(attempt!(memory.equal(a, b, n)));
                }
                Instr::MemSize { rd } => regs[rd.index()] = memory.len() as u64,
                Instr::Jump { target } => {
                    pc = target as usize;
                    count += 1;
                    continue;
                }
                Instr::Branch { cond, a, b, target } => {
                    let (a, b) = (regs[a.index()], regs[b.index()]);
                    let taken = match cond {
                        Cond::Eq => a == b,
                        Cond::Ne => a != b,
                        Cond::Lt => a < b,
                        Cond::Ge => a >= b,
                    };
                    if taken {
                        pc = target as usize;
                        count += 1;
                        continue;
                    }
                }
                Instr::BranchZero { rs, target } => {
                    if regs[rs.index()] == 0 {
                        pc = target as usize;
                        count += 1;
                        continue;
                    }
                }
                Instr::BranchNonZero { rs, target } => {
                    if regs[rs.index()] != 0 {
                        pc = target as usize;
                        count += 1;
                        continue;
                    }
                }
                Instr::Call { target } => {
                    if cpu.calls.len() >= MAX_CALL_DEPTH {
                        break Err(VmError::StackOverflow { pc: at });
                    }
                    cpu.calls.push(pc as u32 + 1);
                    pc = target as usize;
                    count += 1;
                    continue;
                }
                Instr::Ret => {
                    let Some(back) = cpu.calls.pop() else {
                        break Err(VmError::StackUnderflow { pc: at });
                    };
                    pc = back as usize;
                    count += 1;
                    continue;
                }
                Instr::SetHandler { target } => cpu.handler = Some(target),
                Instr::Ei => {
                    if cpu.handler.is_none() {
                        break Err(VmError::NoHandler { pc: at });
                    }
                    cpu.interrupts = true;
                }
                Instr::Di => cpu.interrupts = false,
                Instr::Iret => {
                    let Some(Saved { pc: back, regs }) = cpu.saved.take() else {
                        break Err(VmError::IretOutsideInterrupt { pc: at });
                    };
                    cpu.regs = regs;
                    cpu.interrupts = true;
                    pc = back as usize;
                    count += 1;
                    continue;
                }
                Instr::Wait => {
                    if cpu.handler.is_none() {
                        break Err(VmError::NoHandler { pc: at });
                    }
                    cpu.interrupts = true;
                    cpu.idle = true;
                    pc += 1;
                    count += 1;
                    break Ok(Exit::Idle);
                }
                Instr::Clock { rd } => {
                    cpu.pending = Some(Pending::Clock(rd));
                    break Ok(Exit::Clock);
                }
                Instr::Random { rd } => {
                    cpu.pending = Some(Pending::Random(rd));
                    break Ok(Exit::Random);
                }
                Instr::Send { addr, len } => {
                    let (addr, len) = (regs[addr.index()], regs[len.index()]);
                    if len > MAX_PACKET as u64 {
                        break Err(VmError::SendTooLarge { len });
                    }
                    let packet = attempt!(memory.slice(addr, len)).to_vec();
                    pc += 1;
                    count += 1;
                    break Ok(Exit::Output(packet));
                }
                Instr::DiskRead { rd, block, addr } => {
                    let (block, into) = (regs[block.index()], regs[addr.index()]);
                    attempt!(memory.slice(into, BLOCK_SIZE as u64));
                    let request = DiskRequest::Read { block };
                    let tag = issue(cpu, request.clone(), into);
                    cpu.regs[rd.index()] = tag;
                    pc += 1;
                    count += 1;
                    break Ok(Exit::Disk { tag, request });
                }
                Instr::DiskWrite { rd, block, addr } => {
                    let (block, from) = (regs[block.index()], regs[addr.index()]);
                    let data = attempt!(memory.slice(from, BLOCK_SIZE as u64)).to_vec();
                    let request = DiskRequest::Write { block, data };
                    let tag = issue(cpu, request.clone(), 0);
                    cpu.regs[rd.index()] = tag;
                    pc += 1;
                    count += 1;
                    break Ok(Exit::Disk { tag, request });
                }
                Instr::Halt => break Err(VmError::Halted { pc: at }),
            }
            pc += 1;
            count += 1;
        };
        cpu.pc = pc as u32;
        cpu.count = count;
        match outcome {
            Ok(exit) => exit,
            Err(fault) => {
                tracing::debug!(count, pc, %fault, "the guest faulted");
                cpu.fault = Some(fault.clone());
                Exit::Fault(fault)
            }
        }
    }
}

/// Records a disk request under the next tag, and returns the tag.
fn issue(cpu: &mut super::Cpu, request: DiskRequest, into: u64) -> u64 {
    let tag = cpu.next_tag;
    cpu.next_tag += 1;
    cpu.outstanding.insert(tag, Outstanding { request, into });
    tag
}
