//! The code of one IR instruction: arithmetic, comparisons, globals,
//! map operations and output are written here; the rest goes to the
//! module of its construct (strings, statistics, `foreach`, intrinsics,
//! target variables).
//!
//! In: an instruction of the function being generated. Out: its code,
//! appended to the generator's; an instruction the back end does not
//! translate is refused at its span.

use super::{Gen, map_name, not_yet};
use crate::bpf::abi::{HELPER_MAP_DELETE, HELPER_PROBE_READ_KERNEL_STR};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::bpf::records::{RecordArg, RecordKind};
use crate::diag::Diagnostic;
use crate::ir::{BinOp, Inst, InstKind, Operand, Ty, UnOp};
use crate::parse::ast::CompareOp;

impl Gen<'_> {
    pub(super) fn inst(&mut self, inst: &Inst) -> Result<(), Diagnostic> {
        let span = inst.span;
        match &inst.kind {
            InstKind::Copy { dst, src } => match self.f.var(*dst).map(|d| d.ty) {
                Some(Ty::Str) => self.set_str(*dst, src)?,
                _ => {
                    self.load(Reg::R1, src, span)?;
                    self.store(*dst, Reg::R1, span)?;
                }
            },
            InstKind::Unary { dst, op, a } => {
                self.load(Reg::R1, a, span)?;
                match op {
                    UnOp::Neg => self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0)),
                    UnOp::BitNot => self.emit(Insn::alu64_imm(AluOp::Xor, Reg::R1, -1)),
                    UnOp::Not => {
                        self.emit(Insn::mov64_imm(Reg::R2, 1));
                        self.emit(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 1));
                        self.emit(Insn::mov64_imm(Reg::R2, 0));
                        self.emit(Insn::mov64_reg(Reg::R1, Reg::R2));
                    }
                }
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Binary { dst, op: op @ (BinOp::Div | BinOp::Mod), a, b } => {
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                let ok = self.label();
                self.jump_imm_to(Cond::Ne, Reg::R2, 0, ok);
                self.fail(Ok("division by 0"), span)?;
                self.bind(ok);
                self.signed_divide(*op == BinOp::Mod);
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Binary { dst, op, a, b } => {
                let op = match op {
                    BinOp::Add => AluOp::Add,
                    BinOp::Sub => AluOp::Sub,
                    BinOp::Mul => AluOp::Mul,
                    BinOp::Shl => AluOp::Lsh,
                    BinOp::Shr => AluOp::Arsh,
                    BinOp::And => AluOp::And,
                    BinOp::Or => AluOp::Or,
                    BinOp::Xor => AluOp::Xor,
                    BinOp::Div | BinOp::Mod => AluOp::Div,
                };
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                self.emit(Insn::alu64_reg(op, Reg::R1, Reg::R2));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Compare { dst, op, a, b, strings: false } => {
                let cond = match op {
                    CompareOp::Eq => Cond::Eq,
                    CompareOp::Ne => Cond::Ne,
                    CompareOp::Lt => Cond::Slt,
                    CompareOp::Le => Cond::Sle,
                    CompareOp::Gt => Cond::Sgt,
                    CompareOp::Ge => Cond::Sge,
                };
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                self.emit(Insn::jump_reg(cond, Reg::R1, Reg::R2, 1));
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.store(*dst, Reg::R0, span)?;
            }
            InstKind::Compare { dst, op, a, b, strings: true } => self.compare_strings(*dst, *op, a, b, span)?,
            InstKind::Regex { dst, a, pattern, negated } => self.regex(*dst, a, pattern, *negated, span)?,
            InstKind::Concat { dst, a, b } => self.concat(*dst, a, b)?,
            InstKind::Intrinsic { dst, name, args } => self.intrinsic(*dst, name, args, span)?,
            InstKind::Target { dst, resolved, operands } => self.target(*dst, resolved, operands, span)?,
            InstKind::LoadGlobal { dst, global } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, slot.offset as i16));
                        self.store(*dst, Reg::R1, span)?;
                    }
                    Ty::Str => {
                        let off = self.str_off(*dst)?;
                        self.scratch_addr(Reg::R1, off);
                        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
                        self.emit(Insn::mov64_reg(Reg::R3, Reg::R7));
                        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, slot.offset as i32));
                        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                    }
                }
            }
            InstKind::StoreGlobal { global, src } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        self.load(Reg::R1, src, span)?;
                        self.emit(Insn::store(Size::DW, Reg::R7, slot.offset as i16, Reg::R1));
                    }
                    Ty::Str => {
                        self.emit(Insn::mov64_reg(Reg::R9, Reg::R7));
                        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, slot.offset as i32));
                        self.copy_str_to(Reg::R9, src)?;
                    }
                }
            }
            InstKind::MapGet { dst, map, keys } => self.map_get(*dst, *map, keys, span)?,
            InstKind::MapSet { map, keys, value } => self.map_set(*map, keys, value, span)?,
            InstKind::Update { old, global, keys, op, value } => {
                self.update(*old, *global, keys.as_deref(), *op, value, span)?
            }
            InstKind::MapHas { dst, map, keys } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return self.has_matching(*dst, *map, keys, span);
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                self.lookup(*map);
                self.emit(Insn::mov64_imm(Reg::R1, 1));
                self.emit(Insn::jump_imm(Cond::Ne, Reg::R0, 0, 1));
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::MapDelete { map, keys: None } => self.delete_matching(*map, None, span)?,
            InstKind::MapDelete { map, keys: Some(keys) } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return self.delete_matching(*map, Some(keys), span);
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                let name = map_name(self.m, *map);
                self.map_load(Reg::R1, &name);
                self.scratch_addr(Reg::R2, self.frame.key);
                self.emit(Insn::call(HELPER_MAP_DELETE));
            }
            InstKind::IterStart { iter, map, sort, aggregate, limit, slice } => {
                self.iter_start(*iter, *map, *sort, *aggregate, limit.as_ref(), slice, span)?
            }
            InstKind::IterNext { iter, found, keys, value, .. } => self.iter_next(*iter, *found, keys, *value, span)?,
            InstKind::StatAdd { stat, keys, value } => self.stat_add(*stat, keys, value, span)?,
            InstKind::StatGet { dst, stat, keys, op, .. } => self.stat_get(*dst, *stat, keys, *op, span)?,
            InstKind::HistPrint { stat, keys, .. } => self.hist_print(*stat, keys, span)?,
            InstKind::EntrySave { slot, value } => self.entry_save(*slot, value, span)?,
            InstKind::EntryLoad { dst, slot } => self.entry_load(*dst, *slot, span)?,
            InstKind::Print { dst: Some(dst), kind, format, delimiter, args } => {
                self.sprint(*dst, *kind, format.as_deref(), delimiter.as_ref(), args, span)?;
            }
            InstKind::Print { dst: None, kind, format, delimiter, args } => {
                let delimiter = match delimiter {
                    None => None,
                    Some(Operand::Str(d)) => Some(d.clone()),
                    Some(_) => return Err(not_yet("printd with a computed delimiter in kernel handlers", span)),
                };
                let mut rargs = Vec::new();
                let mut values = Vec::new();
                for (o, ty) in args {
                    match o {
                        Operand::Long(n) => rargs.push(RecordArg::Long(*n)),
                        Operand::Str(s) => rargs.push(RecordArg::Str(s.clone())),
                        Operand::Var(_) => {
                            rargs.push(RecordArg::Value(*ty));
                            values.push((o.clone(), *ty));
                        }
                    }
                }
                let tag =
                    self.record(RecordKind::Print { kind: *kind, format: format.clone(), delimiter, args: rargs });
                self.write_record(tag, &values, span)?;
            }
            other => {
                let what = match other {
                    InstKind::Print { .. } => "sprintf and sprint",
                    InstKind::StatGet { .. } | InstKind::HistBucket { .. } => "statistics extractors",
                    InstKind::Call { .. } => "function calls",
                    _ => "@entry",
                };
                return Err(not_yet(&format!("{what} in kernel handlers"), span));
            }
        }
        Ok(())
    }
    /// r1 = r1 / r2 (or r1 % r2) with stap's signed semantics; r2 is not
    /// zero. eBPF's division is unsigned: divide the magnitudes and give
    /// the quotient the sign of the operands' product, the remainder the
    /// dividend's sign.
    pub(super) fn signed_divide(&mut self, rem: bool) {
        // r3: dividend negative, r4: divisor negative.
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R3, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R4, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R2, 0));
        if rem {
            self.emit(Insn::alu64_reg(AluOp::Mod, Reg::R1, Reg::R2));
            self.emit(Insn::jump_imm(Cond::Eq, Reg::R3, 0, 1));
        } else {
            self.emit(Insn::alu64_reg(AluOp::Div, Reg::R1, Reg::R2));
            self.emit(Insn::alu64_reg(AluOp::Xor, Reg::R3, Reg::R4));
            self.emit(Insn::jump_imm(Cond::Eq, Reg::R3, 0, 1));
        }
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
    }
}
