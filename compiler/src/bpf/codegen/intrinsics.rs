//! The intrinsic functions in kernel handlers (`pid()`, `execname()`,
//! `kernel_string()`, `substr()`, ...), each lowered to helpers and
//! instructions.

use super::*;

/// Whether `isinstr` compares this literal needle unrolled (else it runs
/// the search of [`super::search`]).
pub(super) fn short_needle(needle: &[u8]) -> bool {
    needle.iter().take_while(|&&c| c != 0).count() <= 48
}

impl Gen<'_> {
    /// `backtrace()`: the kernel stack's addresses in hex, `0x` and 16
    /// digits each, separated by spaces, as many whole ones as a string
    /// holds (at most MAXBACKTRACE). The frames go to the second
    /// temporary; the text is written at constant places, unrolled.
    fn hex_backtrace(&mut self, dst: VarId) -> Result<(), Diagnostic> {
        const WIDTH: u32 = 19;
        let frames = self.layout.limits.max_backtrace.min((self.frame.s - 1) / WIDTH);
        let off = self.str_off(dst)?;
        self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
        if frames == 0 {
            return Ok(());
        }
        let buf = self.frame.tmp[1];
        self.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
        self.scratch_addr(Reg::R2, buf);
        self.emit(Insn::mov64_imm(Reg::R3, (8 * frames) as i32));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_GET_STACK));
        // r9 = the frames the helper wrote (none on an error).
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        self.emit(Insn::alu64_imm(AluOp::Arsh, Reg::R9, 3));
        let done = self.label();
        for i in 0..frames {
            let at = off + WIDTH * i;
            let (at16, digits) = (at as i16, (at + 2) as i16);
            self.jump_imm_to(Cond::Sle, Reg::R9, i as i32, done);
            if i > 0 {
                self.emit(Insn::store_imm(Size::B, Reg::R8, at16 - 1, i32::from(b' ')));
            }
            self.emit(Insn::store_imm(Size::B, Reg::R8, at16, i32::from(b'0')));
            self.emit(Insn::store_imm(Size::B, Reg::R8, at16 + 1, i32::from(b'x')));
            self.emit(Insn::load(Size::DW, Reg::R3, Reg::R8, (buf + 8 * i) as i16));
            for k in 0..16i16 {
                self.emit(Insn::mov64_reg(Reg::R1, Reg::R3));
                self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 4 * (15 - i32::from(k))));
                self.emit(Insn::alu64_imm(AluOp::And, Reg::R1, 15));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(b'0')));
                self.emit(Insn::jump_imm(Cond::Le, Reg::R1, i32::from(b'9'), 1));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(b'a' - b'9' - 1)));
                self.emit(Insn::store(Size::B, Reg::R8, digits + k, Reg::R1));
            }
            self.emit(Insn::store_imm(Size::B, Reg::R8, digits + 16, 0));
        }
        self.bind(done);
        Ok(())
    }

    pub(super) fn intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        // From stp's first namespaces, `ns_pid()` reads what `pid()` does.
        let name = match name.strip_prefix("ns_") {
            Some(plain) if self.facts.task.initial_namespaces => plain,
            Some(_) => {
                return Err(not_yet(
                    &format!("{name}() in kernel handlers outside the first pid and user namespaces"),
                    span,
                ));
            }
            None => name,
        };
        if let Some(done) = self.context_intrinsic(dst, name, args, span) {
            return done;
        }
        if let Some(done) = self.task_intrinsic(dst, name, args, span) {
            return done;
        }
        match (name, dst, args) {
            // A false condition is a runtime error with the message.
            ("assert", _, [cond, rest @ ..]) if rest.len() <= 1 => {
                self.load(Reg::R1, cond, span)?;
                let ok = self.label();
                self.jump_imm_to(Cond::Ne, Reg::R1, 0, ok);
                match rest.first() {
                    Some(msg) => self.fail(Err(msg), span)?,
                    None => self.fail(Ok("Assertion failed"), span)?,
                }
                self.bind(ok);
                if let Some(dst) = dst {
                    self.emit(Insn::mov64_imm(Reg::R1, 0));
                    self.store(dst, Reg::R1, span)?;
                }
                Ok(())
            }
            ("exit", _, []) => {
                // Later handlers do nothing; this one goes on to its end.
                self.emit(Insn::store_imm(Size::DW, Reg::R7, self.layout.exit_offset as i16, 1));
                let tag = self.record(RecordKind::Exit);
                self.write_record(tag, &[], span)
            }
            ("execname", Some(dst), []) => {
                let off = self.str_off(dst)?;
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::mov64_imm(Reg::R2, 16));
                self.emit(Insn::call(HELPER_COMM));
                Ok(())
            }
            (
                "kernel_string" | "kernel_string2" | "user_string" | "user_string2" | "kernel_string_n"
                | "user_string_n",
                Some(dst),
                [addr, rest @ ..],
            ) => self.read_string(dst, name, addr, rest, span),
            (
                "kernel_long" | "kernel_int" | "kernel_short" | "kernel_char" | "kernel_pointer" | "user_long_error"
                | "user_ulong_error" | "user_int_error" | "user_short_error" | "user_ushort_error" | "user_char_error"
                | "user_uint8_error" | "user_uint16_error" | "user_uint32_error" | "user_int8_error"
                | "user_int16_error" | "user_int32_error" | "user_int64_error" | "user_uint64_error",
                Some(dst),
                [addr],
            ) => {
                let base = name.trim_start_matches("kernel_").trim_start_matches("user_").trim_end_matches("_error");
                let (size, signed) = match base {
                    "long" | "ulong" | "pointer" | "int64" | "uint64" => (8, true),
                    "int" | "int32" => (4, true),
                    "uint32" => (4, false),
                    "short" | "int16" => (2, true),
                    "ushort" | "uint16" => (2, false),
                    "char" | "int8" => (1, true),
                    _ => (1, false),
                };
                let user = name.starts_with("user_");
                self.load(Reg::R3, addr, span)?;
                // The address stays in r9 for the fault's message.
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R3));
                self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, size));
                self.emit(Insn::call(if user { HELPER_PROBE_READ_USER } else { HELPER_PROBE_READ_KERNEL }));
                let what = if user { "user" } else { "kernel" };
                let kind = match (name, size) {
                    ("kernel_pointer", _) => "pointer",
                    (_, 8) => "long",
                    (_, 4) => "int",
                    (_, 2) => "short",
                    _ => "char",
                };
                let message = format!("{what} {kind} copy fault at {} [man error::fault]", super::fault::ADDR);
                self.check_fault(&message, Reg::R9, span)?;
                let width = Size::of_bytes(size as u32).unwrap_or(Size::DW);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, size as u32, signed);
                self.store(dst, Reg::R1, span)
            }
            ("pp", Some(dst), []) => {
                let p = Operand::Str(self.facts.point.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("probefunc" | "ppfunc", Some(dst), []) => {
                let p = Operand::Str(self.facts.func.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("print_backtrace", _, []) => {
                // The stack's addresses in a record, which the runtime
                // prints with the kernel's symbols.
                let frames = self.layout.limits.max_backtrace;
                let tag = self.record(RecordKind::Backtrace { frames });
                let done = self.reserve_record(tag, records::HEADER + 8 * (frames + 1));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
                self.emit(Insn::mov64_reg(Reg::R2, Reg::R9));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, (records::HEADER + 8) as i32));
                self.emit(Insn::mov64_imm(Reg::R3, (8 * frames) as i32));
                self.emit(Insn::mov64_imm(Reg::R4, 0));
                self.emit(Insn::call(HELPER_GET_STACK));
                self.emit(Insn::store(Size::DW, Reg::R9, records::HEADER as i16, Reg::R0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
                self.emit(Insn::mov64_imm(Reg::R2, 0));
                self.emit(Insn::call(HELPER_RINGBUF_SUBMIT));
                self.bind(done);
                Ok(())
            }
            ("print_stack" | "print_syms", _, [stk]) => {
                let tag = self.record(RecordKind::PrintStack);
                self.write_record(tag, &[(stk.clone(), Ty::Str)], span)
            }
            ("backtrace", Some(dst), []) => self.hex_backtrace(dst),
            ("get_cycles", Some(dst), []) => {
                // eBPF has no cycle counter: nanoseconds, as on the user side.
                self.emit(Insn::call(HELPER_KTIME));
                self.store(dst, Reg::R0, span)
            }
            ("HZ", Some(dst), []) => match self.facts.task.hz {
                Some(hz) => {
                    self.emit(Insn::mov64_imm(Reg::R1, hz as i32));
                    self.store(dst, Reg::R1, span)
                }
                None => Err(Diagnostic::semantic_error(
                    "HZ() needs the kernel's configuration (/proc/config.gz or /boot/config-RELEASE), which is not readable",
                    span,
                )),
            },
            ("randint", Some(dst), [n]) => {
                // [0, n) for n in [1, 2^32): "range too wide" otherwise.
                self.load(Reg::R9, n, span)?;
                let ok = self.label();
                let bad = self.label();
                self.jump_imm_to(Cond::Sle, Reg::R9, 0, bad);
                self.emit(Insn::mov64_imm(Reg::R1, 1));
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 32));
                self.jump_reg_to(Cond::Slt, Reg::R9, Reg::R1, ok);
                self.bind(bad);
                self.fail(Ok("range too wide"), span)?;
                self.bind(ok);
                self.emit(Insn::call(HELPER_PRANDOM));
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                self.emit(Insn::alu64_reg(AluOp::Mod, Reg::R0, Reg::R9));
                self.store(dst, Reg::R0, span)
            }
            ("isdigit", Some(dst), [s]) => {
                self.str_ptr(Reg::R2, s, 0)?;
                self.emit(Insn::load(Size::B, Reg::R1, Reg::R2, 0));
                self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R1, i32::from(b'0')));
                // Unsigned: below '0' wraps above 9.
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.emit(Insn::jump_imm(Cond::Gt, Reg::R1, 9, 1));
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                self.store(dst, Reg::R0, span)
            }
            ("is_myproc", Some(dst), []) => {
                // The current task's user is the one running stp.
                self.emit(Insn::call(HELPER_UID_GID));
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.emit(Insn::jump_imm(Cond::Ne, Reg::R0, self.facts.task.user as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R1, 1));
                self.store(dst, Reg::R1, span)
            }
            ("cpu_clock_s" | "cpu_clock_ms" | "cpu_clock_us", Some(dst), [_]) => {
                self.emit(Insn::call(HELPER_KTIME));
                let div = match name {
                    "cpu_clock_s" => 1_000_000_000,
                    "cpu_clock_ms" => 1_000_000,
                    _ => 1_000,
                };
                self.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
                self.store(dst, Reg::R0, span)
            }
            ("probemod", Some(dst), []) => {
                let m = Operand::Str(self.facts.module.clone().into_bytes());
                self.set_str(dst, &m)
            }
            ("ftrace", _, [msg]) => {
                // bpf_trace_printk("%s", msg): the trace buffer's line.
                self.str_ptr(Reg::R3, msg, 0)?;
                self.emit(Insn::store_imm(Size::W, Reg::FP, VALUE_SLOT, i32::from_le_bytes(*b"%s\0\0")));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, 3));
                self.emit(Insn::call(HELPER_TRACE_PRINTK));
                if let Some(dst) = dst {
                    self.emit(Insn::mov64_imm(Reg::R1, 0));
                    self.store(dst, Reg::R1, span)?;
                }
                Ok(())
            }
            (
                "set_kernel_long"
                | "set_kernel_int"
                | "set_kernel_short"
                | "set_kernel_char"
                | "set_kernel_pointer"
                | "set_kernel_string"
                | "set_kernel_string_n",
                _,
                _,
            ) => Err(Diagnostic::semantic_error(
                format!("{name}() is not available in kernel handlers: eBPF programs cannot write kernel memory"),
                span,
            )),
            ("printk", _, _) => Err(Diagnostic::semantic_error(
                "printk() is not available in kernel handlers: eBPF programs cannot write the kernel's log \
                 (ftrace() writes to the trace buffer)",
                span,
            )),
            ("gettimeofday_s" | "gettimeofday_ms" | "gettimeofday_us" | "gettimeofday_ns", Some(dst), []) => {
                self.emit(Insn::call(HELPER_KTIME));
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, self.layout.realtime_offset as i16));
                self.emit(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1));
                let div = match name {
                    "gettimeofday_s" => 1_000_000_000,
                    "gettimeofday_ms" => 1_000_000,
                    "gettimeofday_us" => 1_000,
                    _ => 1,
                };
                if div > 1 {
                    self.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
                }
                self.store(dst, Reg::R0, span)
            }
            ("local_clock_ns" | "cpu_clock_ns", Some(dst), _) => {
                self.emit(Insn::call(HELPER_KTIME));
                self.store(dst, Reg::R0, span)
            }
            ("local_clock_us" | "local_clock_ms" | "local_clock_s", Some(dst), []) => {
                self.emit(Insn::call(HELPER_KTIME));
                let div = match name {
                    "local_clock_s" => 1_000_000_000,
                    "local_clock_ms" => 1_000_000,
                    _ => 1_000,
                };
                self.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
                self.store(dst, Reg::R0, span)
            }
            ("isinstr", Some(dst), [hay, Operand::Str(needle)])
                if short_needle(needle) && self.frame.s <= super::strings::PLAIN_STRING_LOOPS =>
            {
                // A short literal needle: compared byte by byte, unrolled,
                // at each position of the haystack (a loop the verifier
                // can follow).
                let needle: Vec<u8> = needle.iter().copied().take_while(|&c| c != 0).collect();
                let (top, next, found, done) = (self.label(), self.label(), self.label(), self.label());
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                if !needle.is_empty() {
                    self.str_ptr(Reg::R1, hay, 0)?;
                    let last = self.frame.s as i32 - needle.len() as i32;
                    self.emit(Insn::mov64_imm(Reg::R5, 0));
                    self.bind(top);
                    self.emit(Insn::mov64_imm(Reg::R0, 0));
                    self.jump_imm_to(Cond::Sgt, Reg::R5, last, done);
                    self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
                    self.jump_imm_to(Cond::Eq, Reg::R4, 0, done);
                    for (j, &c) in needle.iter().enumerate() {
                        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, j as i16));
                        self.jump_imm_to(Cond::Ne, Reg::R4, i32::from(c), next);
                    }
                    self.jump_to(found);
                    self.bind(next);
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
                    self.jump_to(top);
                    self.bind(found);
                    self.emit(Insn::mov64_imm(Reg::R0, 1));
                }
                self.bind(done);
                self.store(dst, Reg::R0, span)
            }
            ("isinstr" | "strpos", Some(dst), [hay, needle]) => self.find(dst, hay, needle, name == "strpos", span),
            ("str_replace", Some(dst), [hay, old, new]) => self.str_replace(dst, hay, old, new, span),
            ("tokenize", Some(dst), [input, delim]) => self.tokenize(dst, input, delim, span),
            ("strtol", Some(dst), [s, base]) => self.strtol(dst, s, base, span),
            ("text_str", Some(dst), [s]) => self.text_strn(dst, s, &Operand::Long(0), &Operand::Long(0), span),
            ("string_quoted", Some(dst), [s]) => self.text_strn(dst, s, &Operand::Long(0), &Operand::Long(1), span),
            ("text_strn", Some(dst), [s, len, quoted]) => self.text_strn(dst, s, len, quoted, span),
            ("strlen", Some(dst), [s]) => {
                self.string_length(Reg::R3, s)?;
                self.store(dst, Reg::R3, span)
            }
            ("substr", Some(dst), [src, start, length]) => {
                // The source's length, in r5.
                self.string_length(Reg::R5, src)?;
                let (empty, done) = (self.label(), self.label());
                // start in [0, len), n = min(length, len - start) > 0.
                self.load(Reg::R3, start, span)?;
                self.jump_imm_to(Cond::Slt, Reg::R3, 0, empty);
                self.jump_reg_to(Cond::Sge, Reg::R3, Reg::R5, empty);
                self.load(Reg::R2, length, span)?;
                self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R3));
                self.emit(Insn::jump_reg(Cond::Sle, Reg::R2, Reg::R5, 1));
                self.emit(Insn::mov64_reg(Reg::R2, Reg::R5));
                self.jump_imm_to(Cond::Sle, Reg::R2, 0, empty);
                self.jump_imm_to(Cond::Sgt, Reg::R3, self.frame.s as i32 - 1, empty);
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.frame.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
                // r3 = the source + start.
                self.emit(Insn::mov64_reg(Reg::R4, Reg::R3));
                self.str_ptr(Reg::R3, src, 0)?;
                self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
                let off = self.str_off(dst)?;
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                self.jump_to(done);
                self.bind(empty);
                self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
                self.bind(done);
                Ok(())
            }
            ("warn", _, [msg]) => {
                let tag = self.record(RecordKind::Warn);
                self.write_record(tag, &[(msg.clone(), Ty::Str)], span)
            }
            ("log", _, [msg]) => {
                let tag = self.record(RecordKind::Print {
                    kind: PrintKind::Println,
                    format: None,
                    delimiter: None,
                    args: vec![RecordArg::Value(Ty::Str)],
                });
                self.write_record(tag, &[(msg.clone(), Ty::Str)], span)
            }
            ("abort", _, []) => {
                let tag = self.record(RecordKind::Abort);
                self.write_record(tag, &[], span)?;
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.emit(Insn::exit());
                // What follows is unreachable; give it a block of its own.
                Ok(())
            }
            ("target", Some(dst), []) => {
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, self.layout.target_offset as i16));
                self.store(dst, Reg::R1, span)
            }
            (_, Some(dst), []) => {
                // (helper, take the high half)
                let (helper, high) = match name {
                    "pid" => (HELPER_PID_TGID, true),
                    "tid" => (HELPER_PID_TGID, false),
                    "uid" => (HELPER_UID_GID, false),
                    "gid" => (HELPER_UID_GID, true),
                    "cpu" => (HELPER_CPU, false),
                    "ktime_get_ns" => (HELPER_KTIME, false),
                    "jiffies" => (HELPER_JIFFIES, false),
                    _ => return Err(not_yet(&format!("{name}() in kernel handlers"), span)),
                };
                self.emit(Insn::call(helper));
                if high {
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                } else if matches!(helper, HELPER_PID_TGID | HELPER_UID_GID) {
                    // The low half: shift it up and back down.
                    self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                }
                self.store(dst, Reg::R0, span)
            }
            _ => Err(not_yet(&format!("{name}() in kernel handlers"), span)),
        }
    }
}
