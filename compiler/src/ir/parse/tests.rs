//! The IR text read back: each form the printer writes, locations, and
//! errors with their lines.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::ir::{BinOp, UnOp};

/// A module using every instruction form, as the printer writes it.
const ALL: &str = r#"global @0:n long = -3
global @1:a long[string, long] size 100 wrap
global @2:s stats[long]
global @3:name string = "x\n\"\\\001"
probe 0 kernel.function("vfs_read"), kernel.trace("sched:sched_switch")
probe 1 begin

func #0 probe_0() /* kernel, handler of probe 0 */ {
  vars %0:x:long %1:string %2:long %3:long %4:long %5:long %6:msg:string
b0: (on error: b2, message to %6:msg)
  %0:x = copy -4                                   # <input>:1:5
  %2 = -4                                          # <input>:1:9
  %3 = !%0:x                                       # <input>:1:9
  %3 = -4 + %0:x                                   # <input>:2:1
  %4 = %0:x <= 7                                   # <input>:2:3
  %4 = %1 == "a" (str)                             # <input>:2:3
  %4 = %1 !~ "^a+$"                                # <input>:2:3
  %1 = concat %1, "b"
  %2 = load @0                                     # <input>:3:1
  store @0, %2                                     # <input>:3:1
  %2 = @1[%1, 3]                                   # <input>:3:1
  @1[%1, 3] = %2                                   # <input>:3:1
  %5 = atomic @1[%1, 3] |= 1                       # <input>:3:1
  atomic @0 ^= 2                                   # <input>:3:1
  delete @1[*, 3]                                  # <input>:3:1
  delete @2                                        # <input>:3:1
  %4 = [%1, *] in @1                               # <input>:3:1
  @2[1] <<< %2                                     # <input>:3:1
  %4 = @variance(@2[1])                            # <input>:3:1
  %4 = target arg2(count) +8 *ptr +op0*4 : unsigned int (bits 3..5 of u32) (7) # <input>:4:1
  %4 = target field(prev_pid@24) : pid_t (s32)     # <input>:4:1
  %4 = target cast +16 : long (s64) (%0:x)         # <input>:4:1
  %2 = execname()                                  # <input>:4:1
  exit()                                           # <input>:4:1
  %1 = sprintf("%d-%s", %2, %1)                    # <input>:4:1
  printd(",", %2, %1)                              # <input>:4:1
  entry[0] = %2                                    # <input>:4:1
  %2 = entry[0]                                    # <input>:4:1
  %5 = call #1|#2(%2, "s")                         # <input>:4:1
  branch %4 ? b1 : b2
b1:
  %5 = iterate @1[*, 3] sorted by key 1 descending limit 5 # <input>:5:1
  %4 = next %5 -> [%1, %2], value %3               # <input>:5:1
  jump b2
b2:
  error "no"
}

func #1 f:long(%0:a:long, %1:string) /* kernel, function */ {
b0:
  %0:a = @hist_log(@2[1])[%0:a]                    # lib.stp:10:2
  print @hist_linear(@2[1], 0, 100, 10)            # lib.stp:10:2
  return %0:a
}

func #2 f:long(%0:a:long, %1:string) /* kernel, function */ {
b0:
  next
}

func #3 probe_1() /* user, handler of probe 1 */ {
  vars %0:long
b0:
  %0 = iterate @2 sorted by @count                 # <input>:9:1
  return
}
"#;

#[test]
fn every_form_reads_back_the_same() {
    let p = parse(ALL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(crate::ir::print::print_module(&p.module, &p.probes, &p.sources), ALL);
    assert_eq!(p.probes[0], ["kernel.function(\"vfs_read\")", "kernel.trace(\"sched:sched_switch\")"]);
    assert_eq!(p.module.handlers.len(), 2);
    assert_eq!(p.module.globals[0].init, Some(Operand::Long(-3)));
    assert_eq!(p.module.globals[3].init, Some(Operand::Str(b"x\n\"\\\x01".to_vec())));
    let f = &p.module.functions[0];
    let kinds: Vec<&InstKind> = f.blocks[0].insts.iter().map(|i| &i.kind).collect();
    assert_eq!(kinds[0], &InstKind::Copy { dst: VarId(0), src: Operand::Long(-4) });
    assert_eq!(kinds[1], &InstKind::Unary { dst: VarId(2), op: UnOp::Neg, a: Operand::Long(4) });
    assert!(matches!(kinds[3], InstKind::Binary { op: BinOp::Add, a: Operand::Long(-4), .. }));
    assert!(matches!(kinds[13], InstKind::Update { old: None, op: BinOp::Xor, keys: None, .. }));
    // A `next` knows its map from its `iterate`.
    assert!(matches!(f.blocks[1].insts[1].kind, InstKind::IterNext { map: GlobalId(1), .. }));
    assert_eq!(f.blocks[0].on_error, Some(Catch { block: BlockId(2), message: Some(VarId(6)) }));
    // A location becomes a span at that place; none, the dummy span.
    let span = f.blocks[0].insts[3].span;
    assert_eq!(p.sources.location(span), "<input>:2:1");
    assert!(f.blocks[0].insts[7].span.is_dummy());
    assert!(crate::ir::verify::verify(&p.module).is_ok(), "{:?}", crate::ir::verify::verify(&p.module));
}

#[test]
fn target_walks_read_back() {
    use crate::elab::target::{Base, Load, Step};
    let p = parse(ALL).unwrap();
    let targets: Vec<_> = p.module.functions[0].blocks[0]
        .insts
        .iter()
        .filter_map(|i| match &i.kind {
            InstKind::Target { resolved, operands, .. } => Some((resolved, operands)),
            _ => None,
        })
        .collect();
    let (r, ops) = targets[0];
    assert_eq!(r.base, Base::Arg { index: 2, name: "count".into() });
    assert_eq!(r.steps, [Step::Offset(8), Step::LoadPointer, Step::Index { op: 0, elem_size: 4 }]);
    assert_eq!(r.load, Load::Bitfield { size: 4, bit_offset: 3, bits: 2, signed: false });
    assert_eq!(r.c_type, "unsigned int");
    assert_eq!(ops.as_slice(), [Operand::Long(7)]);
    let (r, _) = targets[1];
    assert!(matches!(&r.base, Base::Field(f) if f.name == "prev_pid" && f.offset == 24 && f.size == 4 && f.signed));
    assert_eq!(targets[2].0.base, Base::Cast);
}

#[test]
fn errors_name_their_line() {
    let err = |text: &str| parse(text).unwrap_err();
    assert_eq!(err("global @0:a long\nglobal @2:b long\n").line, 2);
    let bad = "func #0 p() /* kernel, function */ {\n  vars %1:long\nb0:\n  return\n}\n";
    let e = err(bad);
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("%0 is not declared"), "{e}");
    // An undeclared variable in use parses: the verifier refuses it.
    let p = parse("func #0 p() /* kernel, function */ {\nb0:\n  %0 = 1\n  return\n}\n").unwrap();
    assert!(crate::ir::verify::verify(&p.module).unwrap_err().contains("no variable %0"));
    let bad = "func #0 p() /* kernel, function */ {\n  vars %0:long\nb0:\n  %0 = 1 +\n  return\n}\n";
    assert_eq!(err(bad).line, 4);
    let bad = "func #0 p() /* kernel, function */ {\nb0:\n  jump\n}\n";
    assert_eq!(err(bad).line, 3);
    assert_eq!(err("func #0 p() /* kernel, function */ {\nb0:\n  return\n").line, 1);
    assert!(err("nonsense\n").message.contains("expected `global`"));
}

#[test]
fn comments_and_what_follows_the_ir_are_left_out() {
    let text = "; test: ebpf\nglobal @0:a long\n\n# eBPF\nprobe_0 /* kprobe */:\n";
    let p = parse(text).unwrap();
    assert_eq!(p.module.globals.len(), 1);
    assert!(p.probes.is_empty());
}

#[test]
fn no_text_makes_it_panic() {
    let lines = ALL.lines().count();
    // Every prefix of the text, cut anywhere: a module or an error on one
    // of its lines.
    for (cut, _) in ALL.char_indices() {
        if let Err(e) = parse(&ALL[..cut]) {
            assert!(e.line >= 1 && e.line <= lines, "cut at {cut}: {e}");
        }
    }
    // Numbers past what fits, places too far to keep.
    for text in [
        "global @99999999999:a long\n",
        "func #0 p() /* kernel, function */ {\n  vars %4000000000:long\nb0:\n  return\n}\n",
        "func #0 p() /* kernel, function */ {\n  vars %0:long\nb0:\n  %0 = 1 # f:4000000000:4000000000\n  return\n}\n",
        "func #0 p() /* kernel, function */ {\n  vars %0:string\nb0:\n  %0 = \"\\777\\9\"\n  return\n}\n",
        "global @0:a long = 99999999999999999999\n",
    ] {
        assert!(parse(text).is_err(), "{text}");
    }
}
