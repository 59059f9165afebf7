//! Tests of the instruction set and of the VM's interface: arithmetic, branches, calls,
//! faults, the instruction limit, idling, Clock/Random reads, interrupts and the disk.

use super::asm::Asm;
use super::isa::{AluOp, R1, R2, R3, R4, R5, R6, R7};
use super::*;

/// A VM of three pages running what `build` writes.
fn vm_of(build: impl FnOnce(&mut Asm)) -> Vm {
    let mut a = Asm::new();
    build(&mut a);
    Vm::boot(
        Arc::new(a.finish().expect("the test program assembles")),
        3 * PAGE_SIZE,
    )
}

#[test]
fn arithmetic_logic_and_comparisons() {
    let mut vm = vm_of(|a| {
        a.imm(R1, 17);
        a.imm(R2, 5);
        for (op, rd) in [(AluOp::Add, R3), (AluOp::Sub, R4), (AluOp::Mul, R5)] {
            a.alu(op, rd, R1, R2);
        }
        a.alu(AluOp::Div, R6, R1, R2);
        a.alu(AluOp::Rem, R7, R1, R2);
        a.halt();
    });
    assert_eq!(vm.run(100), Exit::Fault(VmError::Halted { pc: 7 }));
    let regs: Vec<u64> = [R3, R4, R5, R6, R7].map(|r| vm.register(r)).into();
    assert_eq!(regs, [22, 12, 85, 3, 2]);
    assert_eq!(vm.count(), 7, "the halt is not retired");
    let mut vm = vm_of(|a| {
        a.imm(R1, 0b1100);
        a.alu_imm(AluOp::And, R2, R1, 0b1010);
        a.alu_imm(AluOp::Or, R3, R1, 0b0011);
        a.alu_imm(AluOp::Xor, R4, R1, 0b0110);
        a.alu_imm(AluOp::Shl, R5, R1, 2);
        a.alu_imm(AluOp::Shr, R6, R1, 66);
        a.alu_imm(AluOp::Sub, R7, R1, 13);
        a.halt();
    });
    assert!(matches!(vm.run(100), Exit::Fault(VmError::Halted { .. })));
    let regs: Vec<u64> = [R2, R3, R4, R5, R6, R7].map(|r| vm.register(r)).into();
    assert_eq!(regs, [0b1000, 0b1111, 0b1010, 0b110000, 0b11, u64::MAX]);
    let mut vm = vm_of(|a| {
        a.imm(R1, 3);
        for (op, rd, imm) in [(AluOp::Eq, R2, 3), (AluOp::Ne, R3, 3), (AluOp::Lt, R4, 4)] {
            a.alu_imm(op, rd, R1, imm);
        }
        a.alu_imm(AluOp::Le, R5, R1, 2);
        a.halt();
    });
    vm.run(100);
    let regs: Vec<u64> = [R2, R3, R4, R5].map(|r| vm.register(r)).into();
    assert_eq!(regs, [1, 0, 1, 0]);
}

#[test]
fn a_loop_with_branches_sums_and_retires_exactly_its_instructions() {
    // r1 = 1 + 2 + ... + 10, counting with r2.
    let mut vm = vm_of(|a| {
        let (top, done) = (a.label(), a.label());
        a.imm(R1, 0);
        a.imm(R2, 1);
        a.imm(R3, 11);
        a.bind(top);
        a.bge(R2, R3, done);
        a.add(R1, R1, R2);
        a.addi(R2, R2, 1);
        a.jump(top);
        a.bind(done);
        a.bz(R4, done);
    });
    // 3 set-up instructions, 10 iterations of 4, then the exit branch: 44; then bz spins.
    assert_eq!(vm.run(44), Exit::Limit);
    assert_eq!(vm.register(R1), 55);
    assert_eq!(vm.pc(), 7);
}

#[test]
fn call_and_ret_nest() {
    let mut vm = vm_of(|a| {
        let (double, quadruple) = (a.label(), a.label());
        a.imm(R1, 3);
        a.call(quadruple);
        a.halt();
        a.bind(quadruple);
        a.call(double);
        a.call(double);
        a.ret();
        a.bind(double);
        a.add(R1, R1, R1);
        a.ret();
    });
    assert_eq!(vm.run(100), Exit::Fault(VmError::Halted { pc: 2 }));
    assert_eq!(vm.register(R1), 12);
}

/// Runs `build`'s program and checks it faults with `fault` and stays halted.
fn faults_and_stays_halted(build: impl FnOnce(&mut Asm), fault: VmError) -> Vm {
    let mut vm = vm_of(build);
    assert_eq!(vm.run(10_000), Exit::Fault(fault.clone()));
    let count = vm.count();
    assert_eq!(vm.run(20_000), Exit::Fault(fault.clone()), "still halted");
    assert_eq!(vm.count(), count, "a halted VM retires nothing");
    assert_eq!(vm.fault(), Some(&fault));
    let stopped = Err(VmError::Stopped(Box::new(fault)));
    assert_eq!(vm.deliver(Interrupt::Timer), stopped);
    assert_eq!(vm.resume_with(1), stopped);
    vm
}

#[test]
fn bad_addresses_fault() {
    let end = 3 * PAGE_SIZE as u64;
    faults_and_stays_halted(
        |a| {
            a.imm(R1, end - 4);
            a.ld64(R2, R1, 0);
        },
        VmError::BadAddress {
            addr: end - 4,
            len: 8,
        },
    );
    faults_and_stays_halted(
        |a| {
            a.imm(R1, 0);
            a.st8(R2, R1, -1);
        },
        VmError::BadAddress {
            addr: u64::MAX,
            len: 1,
        },
    );
    faults_and_stays_halted(
        |a| {
            a.imm(R1, end - 8);
            a.imm(R2, 16);
            a.copy(R1, R3, R2);
        },
        VmError::BadAddress {
            addr: end - 8,
            len: 16,
        },
    );
}

#[test]
fn division_by_zero_stack_overflow_underflow_and_running_off_the_end_fault() {
    faults_and_stays_halted(
        |a| {
            a.imm(R1, 1);
            a.alu(AluOp::Rem, R3, R1, R2);
        },
        VmError::DivisionByZero { pc: 1 },
    );
    let vm = faults_and_stays_halted(
        |a| {
            let forever = a.here();
            a.call(forever);
        },
        VmError::StackOverflow { pc: 0 },
    );
    assert_eq!(vm.count(), MAX_CALL_DEPTH as u64);
    faults_and_stays_halted(|a| a.ret(), VmError::StackUnderflow { pc: 0 });
    faults_and_stays_halted(|a| a.imm(R1, 1), VmError::BadPc { pc: 1 });
    faults_and_stays_halted(|a| a.iret(), VmError::IretOutsideInterrupt { pc: 0 });
    faults_and_stays_halted(|a| a.ei(), VmError::NoHandler { pc: 0 });
}

#[test]
fn run_stops_exactly_at_the_limit() {
    let mut vm = vm_of(|a| {
        let top = a.here();
        a.addi(R1, R1, 1);
        a.jump(top);
    });
    assert_eq!(vm.run(11), Exit::Limit);
    assert_eq!((vm.count(), vm.register(R1)), (11, 6));
    assert_eq!(vm.run(11), Exit::Limit, "already there");
    assert_eq!(vm.run(5), Exit::Limit, "already past");
    assert_eq!(vm.count(), 11);
    assert_eq!(vm.run(12), Exit::Limit);
    assert_eq!(vm.count(), 12);
}

#[test]
fn an_idle_vm_does_not_advance_until_an_interrupt_and_resumes_after_the_wait() {
    let mut vm = vm_of(|a| {
        let handler = a.label();
        a.set_handler(handler);
        a.imm(R1, 5);
        a.wait();
        a.addi(R1, R1, 1);
        a.halt();
        a.bind(handler);
        a.imm(R1, 99);
        a.imm(R2, 0x2000);
        a.st64(R1, R2, 0);
        a.iret();
    });
    assert_eq!(vm.run(100), Exit::Idle);
    assert_eq!(vm.count(), 3, "the Wait is retired");
    assert!(vm.is_idle() && vm.interrupts_enabled());
    assert_eq!(vm.run(1000), Exit::Idle);
    assert_eq!(vm.count(), 3, "idling retires nothing");
    vm.deliver(Interrupt::Timer)
        .expect("interrupts are enabled");
    assert!(!vm.is_idle() && !vm.interrupts_enabled());
    assert_eq!(
        vm.deliver(Interrupt::Timer),
        Err(VmError::InterruptsDisabled)
    );
    assert_eq!(
        vm.read_memory(IRQ_KIND_ADDR, 8),
        Ok(&IRQ_TIMER.to_le_bytes()[..])
    );
    assert_eq!(vm.run(100), Exit::Fault(VmError::Halted { pc: 4 }));
    assert_eq!(vm.register(R1), 6, "the handler's registers were restored");
    assert_eq!(vm.read_memory(0x2000, 8), Ok(&99u64.to_le_bytes()[..]));
    assert_eq!(vm.count(), 3 + 4 + 1);
}

#[test]
fn clock_and_random_are_retired_only_by_resume_with() {
    let mut vm = vm_of(|a| {
        let handler = a.label();
        a.set_handler(handler);
        a.ei();
        a.clock(R1);
        a.random(R2);
        a.halt();
        a.bind(handler);
        a.iret();
    });
    assert_eq!(vm.run(100), Exit::Clock);
    assert_eq!(vm.count(), 2);
    assert_eq!(vm.run(100), Exit::Clock, "asked again until answered");
    assert_eq!(vm.count(), 2);
    assert!(!vm.interrupts_enabled());
    assert_eq!(vm.deliver(Interrupt::Timer), Err(VmError::InputPending));
    vm.resume_with(42).expect("a clock read is pending");
    assert_eq!(vm.count(), 3);
    assert_eq!(vm.run(3), Exit::Limit);
    assert_eq!(vm.run(100), Exit::Random);
    vm.resume_with(7).expect("a random read is pending");
    assert_eq!(vm.resume_with(8), Err(VmError::NothingPending));
    assert_eq!(vm.run(100), Exit::Fault(VmError::Halted { pc: 4 }));
    assert_eq!((vm.register(R1), vm.register(R2)), (42, 7));
}

#[test]
fn packets_go_out_and_in_and_bad_deliveries_are_refused() {
    let mut vm = vm_of(|a| {
        let handler = a.label();
        a.set_handler(handler);
        a.imm(R1, 0x2000);
        a.imm(R2, 0x0403_0201);
        a.st64(R2, R1, 0);
        a.imm(R3, 3);
        a.send(R1, R3);
        a.imm(R4, 0x2000 - 2);
        a.imm(R5, 2);
        a.compare(R6, R1, R4, R5);
        a.wait();
        a.halt();
        a.bind(handler);
        a.imm(R1, IRQ_LEN_ADDR);
        a.ld64(R7, R1, 0);
        a.iret();
    });
    assert_eq!(vm.run(100), Exit::Output(vec![1, 2, 3]));
    assert_eq!(vm.count(), 6, "the send is retired");
    assert_eq!(vm.run(100), Exit::Idle);
    assert_eq!(
        vm.register(R6),
        0,
        "01 02 differs from the receive buffer's tail"
    );
    let big = Interrupt::Packet(vec![0; MAX_PACKET + 1]);
    assert_eq!(vm.deliver(big), Err(VmError::PacketTooLarge { len: 4097 }));
    let unknown = Interrupt::DiskWrite { tag: 0 };
    assert_eq!(vm.deliver(unknown), Err(VmError::UnknownDiskTag { tag: 0 }));
    assert!(vm.is_idle(), "a refused delivery changes nothing");
    vm.deliver(Interrupt::Packet(vec![9; 10])).expect("enabled");
    assert_eq!(
        vm.read_memory(RX_BUFFER, 11),
        Ok(&[9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0][..])
    );
    assert!(matches!(vm.run(100), Exit::Fault(VmError::Halted { .. })));
    assert_eq!(
        vm.register(R7),
        0,
        "restored after the handler read the length"
    );
}

#[test]
fn disk_requests_get_tags_in_order_and_completions_land_where_asked() {
    let mut vm = vm_of(|a| {
        let handler = a.label();
        a.set_handler(handler);
        a.imm(R1, 7);
        a.imm(R2, 0x2000);
        a.disk_write(R3, R1, R2);
        a.disk_read(R4, R1, R2);
        a.wait();
        a.wait();
        a.halt();
        a.bind(handler);
        a.iret();
    });
    let write = DiskRequest::Write {
        block: 7,
        data: vec![0; BLOCK_SIZE],
    };
    let exit = Exit::Disk {
        tag: 0,
        request: write.clone(),
    };
    assert_eq!(vm.run(100), exit);
    let read = DiskRequest::Read { block: 7 };
    let exit = Exit::Disk {
        tag: 1,
        request: read.clone(),
    };
    assert_eq!(vm.run(100), exit);
    assert_eq!((vm.register(R3), vm.register(R4)), (0, 1));
    assert_eq!(vm.outstanding_disk(), vec![(0, write), (1, read)]);
    assert_eq!(vm.run(100), Exit::Idle);
    let wrong_kind = Interrupt::DiskWrite { tag: 1 };
    assert_eq!(
        vm.deliver(wrong_kind),
        Err(VmError::UnknownDiskTag { tag: 1 })
    );
    let short = Interrupt::DiskRead {
        tag: 1,
        data: vec![5; 3],
    };
    assert_eq!(vm.deliver(short), Err(VmError::BadBlock { len: 3 }));
    let data = vec![5; BLOCK_SIZE];
    vm.deliver(Interrupt::DiskRead { tag: 1, data })
        .expect("outstanding");
    assert_eq!(vm.read_memory(0x2000 + 511, 2), Ok(&[5, 0][..]));
    assert_eq!(vm.read_memory(IRQ_TAG_ADDR, 8), Ok(&1u64.to_le_bytes()[..]));
    assert_eq!(vm.outstanding_disk().len(), 1);
    assert_eq!(vm.run(100), Exit::Idle);
    vm.deliver(Interrupt::DiskWrite { tag: 0 })
        .expect("outstanding");
    assert!(vm.outstanding_disk().is_empty());
}

#[test]
fn a_snapshot_of_another_program_is_refused() {
    let vm = vm_of(|a| a.halt());
    let other = vm_of(|a| a.wait());
    let refused = Vm::restore(other.program().clone(), vm.snapshot());
    assert!(matches!(refused, Err(VmError::SnapshotMismatch(_))));
    assert!(Vm::restore(vm.program().clone(), vm.snapshot()).is_ok());
}
