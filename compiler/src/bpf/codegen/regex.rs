//! Regular expressions (`=~`, `!~`) in kernel handlers.
//!
//! At compile time the pattern becomes a DFA (regex-automata, with the
//! same syntax settings as the user side: bytes, no Unicode), written to
//! the object's read-only data as a table. A `bpf_loop` callback then
//! takes the string a byte per turn: the byte's class, the next state,
//! and a stop at the first match state or the dead state; the string's
//! NUL is the end of the text (the end-of-input transition decides `$`).
//!
//! Table: 256 bytes of byte classes, a flags byte per state (padded to
//! 8), then a u16 next state per state and class.

use regex_automata::Input;
use regex_automata::dfa::{Automaton, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;

use super::foreach::CallbackKind;
use super::{Gen, LEN_SLOT, VALUE_SLOT};
use crate::bpf::abi::HELPER_LOOP;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;

/// State flags.
const MATCH: i32 = 1;
const DEAD: i32 = 2;
/// The end of the text after this state matches.
const EOI_MATCH: i32 = 4;

/// The largest table stp writes for one pattern.
const MAX_TABLE: usize = 1 << 20;

/// A pattern's DFA as the kernel code reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Table {
    pub(super) bytes: Vec<u8>,
    states: u32,
    classes: u32,
    start: u32,
    trans_at: u32,
}

/// The DFA of `pattern`, or why there is none.
pub(super) fn table(pattern: &[u8]) -> Result<Table, String> {
    let text = String::from_utf8_lossy(pattern);
    let dfa = dense::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(thompson::Config::new().utf8(false))
        .configure(dense::Config::new().dfa_size_limit(Some(MAX_TABLE)).determinize_size_limit(Some(MAX_TABLE)))
        .build(&text)
        .map_err(|e| e.to_string())?;
    let classes = dfa.byte_classes();
    let n_classes = classes.alphabet_len() - 1;
    let mut rep = vec![None; n_classes];
    for b in 0..=255u8 {
        if let Some(r) = rep.get_mut(usize::from(classes.get(b))) {
            r.get_or_insert(b);
        }
    }
    let start = dfa.start_state_forward(&Input::new(&[][..])).map_err(|e| e.to_string())?;
    let mut ids = vec![start];
    let mut index = std::collections::HashMap::from([(start, 0usize)]);
    let mut next_of: Vec<Vec<u16>> = Vec::new();
    let mut flags: Vec<u8> = Vec::new();
    let mut k = 0;
    while let Some(&s) = ids.get(k) {
        if dfa.is_quit_state(s) {
            return Err("the pattern needs more than a DFA over bytes".to_string());
        }
        let mut f = 0;
        if dfa.is_match_state(s) {
            f |= MATCH;
        }
        if dfa.is_dead_state(s) {
            f |= DEAD;
        }
        if dfa.is_match_state(dfa.next_eoi_state(s)) {
            f |= EOI_MATCH;
        }
        flags.push(f as u8);
        let mut row = Vec::with_capacity(n_classes);
        for r in &rep {
            let next = dfa.next_state(s, r.unwrap_or(0));
            let i = match index.get(&next) {
                Some(&i) => i,
                None => {
                    ids.push(next);
                    index.insert(next, ids.len() - 1);
                    ids.len() - 1
                }
            };
            row.push(u16::try_from(i).map_err(|_| "the pattern's DFA has too many states")?);
        }
        next_of.push(row);
        k += 1;
        if 256 + ids.len() * (1 + 2 * n_classes) > MAX_TABLE {
            return Err("the pattern's DFA is too large".to_string());
        }
    }
    let mut bytes: Vec<u8> = (0..=255u8).map(|b| classes.get(b)).collect();
    bytes.extend(&flags);
    bytes.resize(bytes.len().div_ceil(8) * 8, 0);
    let trans_at = bytes.len() as u32;
    for row in &next_of {
        for n in row {
            bytes.extend(n.to_le_bytes());
        }
    }
    bytes.resize(bytes.len().div_ceil(8) * 8, 0);
    Ok(Table { bytes, states: ids.len() as u32, classes: n_classes as u32, start: 0, trans_at })
}

impl Gen<'_> {
    /// `dst = a =~ pattern` (or `!~`).
    pub(super) fn regex(
        &mut self,
        dst: VarId,
        a: &Operand,
        pattern: &[u8],
        negated: bool,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let t = table(pattern).map_err(|e| {
            Diagnostic::semantic_error(format!("regular expression too complex for a kernel handler: {e}"), span)
        })?;
        let at = self.rodata_base + self.rodata.len() as u32;
        self.rodata.extend(&t.bytes);
        // The string, in the scratch record.
        let text = match a {
            Operand::Var(v) => self.str_off(*v)?,
            Operand::Str(bytes) => {
                let off = self.frame.tmp[0];
                let bytes = bytes.clone();
                self.store_literal(Reg::R8, off as i32, &bytes, None);
                off
            }
            Operand::Long(_) => return Err(Diagnostic::internal("pass 3: a long where a string is needed")),
        };
        let s = self.frame.s;
        let cb = self.callback(CallbackKind::Step, span, |g| g.regex_step(&t, at, text, s))?;
        // The context: the state, then the verdict.
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LEN_SLOT, t.start as i32));
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_imm(Reg::R1, s as i32));
        self.emit2(Insn::ld_func(Reg::R2, cb));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(LEN_SLOT)));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_LOOP));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
        if negated {
            self.emit(Insn::alu64_imm(AluOp::Xor, Reg::R1, 1));
        }
        self.store(dst, Reg::R1, span)
    }

    /// A turn of the match: byte `i` (r7) of the text; the context (r6)
    /// holds the state and the verdict.
    fn regex_step(&mut self, t: &Table, at: u32, text: u32, s: u32) -> Result<(), Diagnostic> {
        // The two ends first: a match, and the stop; the turn that goes
        // on falls off the end.
        let (stop, matched, turn) = (self.label(), self.label(), self.label());
        self.jump_to(turn);
        self.bind(matched);
        self.emit(Insn::store_imm(Size::DW, Reg::R6, 8, 1));
        self.bind(stop);
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.emit(Insn::exit());
        self.bind(turn);
        self.jump_imm_to(Cond::Ge, Reg::R7, s as i32, stop);
        self.array_value("scratch");
        self.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, text as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R7));
        self.emit(Insn::load(Size::B, Reg::R2, Reg::R1, 0));
        self.rodata_load(Reg::R9, at);
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::R6, 0));
        self.jump_imm_to(Cond::Ge, Reg::R3, t.states as i32, stop);
        let byte = self.label();
        self.jump_imm_to(Cond::Ne, Reg::R2, 0, byte);
        // The end of the text.
        self.emit(Insn::mov64_reg(Reg::R4, Reg::R9));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R3));
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R4, 256));
        self.emit(Insn::alu64_imm(AluOp::And, Reg::R4, EOI_MATCH));
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, stop);
        self.jump_to(matched);
        self.bind(byte);
        // The next state: trans[state][class[byte]].
        self.emit(Insn::mov64_reg(Reg::R4, Reg::R9));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R2));
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R4, 0));
        self.jump_imm_to(Cond::Ge, Reg::R4, t.classes as i32, stop);
        self.emit(Insn::mov64_reg(Reg::R5, Reg::R3));
        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R5, t.classes as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R5, Reg::R4));
        self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R5, 1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R5, Reg::R9));
        self.emit(Insn::load(Size::H, Reg::R5, Reg::R5, t.trans_at as i16));
        self.jump_imm_to(Cond::Ge, Reg::R5, t.states as i32, stop);
        self.emit(Insn::mov64_reg(Reg::R4, Reg::R9));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R5));
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R4, 256));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R4));
        self.emit(Insn::alu64_imm(AluOp::And, Reg::R3, MATCH));
        self.jump_imm_to(Cond::Ne, Reg::R3, 0, matched);
        self.emit(Insn::alu64_imm(AluOp::And, Reg::R4, DEAD));
        self.jump_imm_to(Cond::Ne, Reg::R4, 0, stop);
        self.emit(Insn::store(Size::DW, Reg::R6, 0, Reg::R5));
        Ok(())
    }
}
