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
    pub(super) fn intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        if let Some(done) = self.context_intrinsic(dst, name, args, span) {
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
                "kernel_long" | "kernel_int" | "kernel_short" | "kernel_char" | "kernel_pointer" | "user_long"
                | "user_int" | "user_short" | "user_char" | "user_uint8" | "user_uint16" | "user_uint32" | "user_int8"
                | "user_int16" | "user_int32" | "user_int64" | "user_uint64",
                Some(dst),
                [addr],
            ) => {
                let (size, signed) = match name.trim_start_matches("kernel_").trim_start_matches("user_") {
                    "long" | "pointer" | "int64" | "uint64" => (8, true),
                    "int" | "int32" => (4, true),
                    "uint32" => (4, false),
                    "short" | "int16" => (2, true),
                    "uint16" => (2, false),
                    "char" | "int8" => (1, true),
                    _ => (1, false),
                };
                let user = name.starts_with("user_");
                self.load(Reg::R3, addr, span)?;
                self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, size));
                self.emit(Insn::call(if user { HELPER_PROBE_READ_USER } else { HELPER_PROBE_READ_KERNEL }));
                let ok = self.label();
                self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
                let what = if user { "user" } else { "kernel" };
                let kind = match size {
                    8 => "long",
                    4 => "int",
                    2 => "short",
                    _ => "char",
                };
                self.fail(Ok(&format!("{what} {kind} copy fault")), span)?;
                self.bind(ok);
                let width = Size::of_bytes(size as u32).unwrap_or(Size::DW);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, size as u32, signed);
                self.store(dst, Reg::R1, span)
            }
            ("pp", Some(dst), []) => {
                let p = Operand::Str(self.point.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("probefunc" | "ppfunc", Some(dst), []) => {
                let p = Operand::Str(self.func.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("ppid" | "euid" | "egid", Some(dst), []) => {
                let t = self.task;
                let path = match name {
                    "ppid" => t.real_parent.zip(t.tgid),
                    "euid" => t.cred.zip(t.euid),
                    _ => t.cred.zip(t.egid),
                };
                let Some((first, second)) = path else {
                    return Err(not_yet(&format!("{name}() on a kernel without task_struct in its BTF"), span));
                };
                self.emit(Insn::call(HELPER_CURRENT_TASK));
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, first as i32));
                self.read_kernel(8);
                self.emit(Insn::load(Size::DW, Reg::R9, Reg::FP, VALUE_SLOT));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, second as i32));
                self.read_kernel(4);
                self.emit(Insn::load(Size::W, Reg::R1, Reg::FP, VALUE_SLOT));
                self.store(dst, Reg::R1, span)
            }
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
            ("isinstr", Some(dst), [hay, Operand::Str(needle)]) if short_needle(needle) => {
                // A short literal needle: compared byte by byte, unrolled,
                // at each position of the haystack (a loop the verifier
                // can follow).
                let needle: Vec<u8> = needle.iter().copied().take_while(|&c| c != 0).collect();
                let (top, next, found, done) = (self.label(), self.label(), self.label(), self.label());
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                if !needle.is_empty() {
                    self.str_ptr(Reg::R1, hay, 0)?;
                    let last = self.s as i32 - needle.len() as i32;
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
                self.jump_imm_to(Cond::Sgt, Reg::R3, self.s as i32 - 1, empty);
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
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
