//! The `-p1` dump: a parsed file printed in stap's layout.
//!
//! Operands are fully parenthesized and every statement of a block ends
//! with `;` on its own line, as stap prints them. Where stap's dump would
//! not parse back to the same tree, we print what does: string literals
//! are escaped once (stap doubles backslashes), function signatures keep
//! their types, `private` and overload priorities, `try` blocks are not
//! wrapped twice, and embedded code keeps its exact text. The printed
//! text parses again to the same tree; a test checks this for every
//! corpus file.

use std::fmt::Write;

use super::ast::*;
use super::lexer::escape_bytes;

/// Prints one file as `stap -p1` does, after its two header lines.
pub fn print_script(s: &Script, file_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# parse tree dump");
    let _ = writeln!(out, "# file {file_name}");
    out.push_str(&print_items(s));
    // stap ends the dump with an empty line.
    out.push('\n');
    out
}

/// Prints the items of a file, without the header.
pub fn print_items(s: &Script) -> String {
    let mut p = Printer { out: String::new() };
    for e in &s.embeds {
        p.out.push_str("%{");
        p.out.push_str(&e.code);
        p.out.push_str("%}\n");
    }
    for g in &s.globals {
        p.global(g);
    }
    for a in &s.aliases {
        p.alias(a);
    }
    for pr in &s.probes {
        p.probe(pr);
    }
    for f in &s.functions {
        p.function(f);
    }
    p.out
}

/// Prints one expression as the dump would.
pub fn print_expr(e: &Expr) -> String {
    let mut p = Printer { out: String::new() };
    p.expr(e);
    p.out
}

/// Prints a block as the dump would.
pub fn print_block(b: &Block) -> String {
    let mut p = Printer { out: String::new() };
    p.block(b);
    p.out
}

/// Prints one probe point as the dump would.
pub fn print_point(pp: &ProbePoint) -> String {
    let mut p = Printer { out: String::new() };
    p.point(pp);
    p.out
}

struct Printer {
    out: String,
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Number(n) => n.to_string(),
        Literal::String(s) => format!("\"{}\"", escape_bytes(s)),
    }
}

fn type_name(t: TypeName) -> &'static str {
    match t {
        TypeName::Long => "long",
        TypeName::String => "string",
    }
}

fn binary_op(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::Shl => "<<",
        BinaryOp::Shr => ">>",
        BinaryOp::BitAnd => "&",
        BinaryOp::BitOr => "|",
        BinaryOp::BitXor => "^",
        BinaryOp::Concat => ".",
    }
}

pub fn compare_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "==",
        CompareOp::Ne => "!=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

pub fn assign_op(op: AssignOp) -> String {
    match op {
        AssignOp::Assign => "=".to_string(),
        AssignOp::Aggregate => "<<<".to_string(),
        AssignOp::Op(b) => format!("{}=", binary_op(b)),
    }
}

/// The operator's spelling, for diagnostics (`near operator '/'`).
pub fn binary_op_name(op: BinaryOp) -> &'static str {
    binary_op(op)
}

impl Printer {
    fn global(&mut self, g: &Global) {
        if g.private {
            self.out.push_str("private ");
        }
        self.out.push_str("global ");
        self.out.push_str(&g.name.name);
        if g.wrap {
            self.out.push('%');
        }
        if g.array {
            match g.size {
                Some(n) => {
                    let _ = write!(self.out, "[{n}]");
                }
                None => self.out.push_str("[]"),
            }
        }
        if let Some((l, _)) = &g.init {
            self.out.push_str(" = ");
            self.out.push_str(&literal(l));
        }
        self.out.push('\n');
    }

    fn point(&mut self, p: &ProbePoint) {
        for (i, c) in p.components.iter().enumerate() {
            if i > 0 {
                self.out.push('.');
            }
            self.out.push_str(&c.name);
            if let Some((l, _)) = &c.arg {
                self.out.push('(');
                self.out.push_str(&literal(l));
                self.out.push(')');
            }
        }
        if p.optional {
            self.out.push('?');
        }
        if p.sufficient {
            self.out.push('!');
        }
        if let Some(c) = &p.condition {
            self.out.push_str(" if (");
            self.expr(c);
            self.out.push(')');
        }
    }

    fn points(&mut self, ps: &[ProbePoint], sep: &str) {
        for (i, p) in ps.iter().enumerate() {
            if i > 0 {
                self.out.push_str(sep);
            }
            self.point(p);
        }
    }

    fn probe(&mut self, p: &Probe) {
        self.out.push_str("probe ");
        self.points(&p.points, ",");
        self.block(&p.body);
        self.out.push('\n');
    }

    fn alias(&mut self, a: &ProbeAlias) {
        self.out.push_str("probe ");
        self.points(&a.names, ",");
        self.out.push_str(if a.epilogue { " += " } else { " = " });
        self.points(&a.points, ", ");
        self.block(&a.body);
        if let Some(b) = &a.epilogue_body {
            self.out.push_str(", ");
            self.block(b);
        }
        self.out.push('\n');
    }

    fn function(&mut self, f: &Function) {
        if f.private {
            self.out.push_str("private ");
        }
        self.out.push_str("function ");
        self.out.push_str(&f.name.name);
        if let Some((t, _)) = f.ret {
            self.out.push(':');
            self.out.push_str(type_name(t));
        }
        self.out.push_str(" (");
        for (i, p) in f.params.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&p.name.name);
            if let Some((t, _)) = p.ty {
                self.out.push(':');
                self.out.push_str(type_name(t));
            }
        }
        self.out.push(')');
        if let Some((n, _)) = f.priority {
            let _ = write!(self.out, " :{n}");
        }
        self.out.push('\n');
        match &f.body {
            FunctionBody::Script(b) => self.block(b),
            FunctionBody::Embedded(e) => {
                self.out.push_str("%{");
                self.out.push_str(&e.code);
                self.out.push_str("%}");
            }
        }
        self.out.push('\n');
    }

    fn block(&mut self, b: &Block) {
        self.out.push_str("{\n");
        for s in &b.stmts {
            self.stmt(s);
            self.out.push_str(";\n");
        }
        self.out.push('}');
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Null => self.out.push(';'),
            StmtKind::Block(b) => self.block(b),
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::If { cond, then, otherwise } => {
                self.out.push_str("if (");
                self.expr(cond);
                self.out.push_str(") ");
                self.stmt(then);
                self.out.push('\n');
                if let Some(o) = otherwise {
                    self.out.push_str("else ");
                    self.stmt(o);
                    self.out.push('\n');
                }
            }
            StmtKind::For { init, cond, incr, body } => {
                self.out.push_str("for (");
                if let Some(i) = init {
                    self.expr(i);
                }
                self.out.push_str("; ");
                self.expr(cond);
                self.out.push_str("; ");
                if let Some(i) = incr {
                    self.expr(i);
                }
                self.out.push_str(") ");
                self.stmt(body);
            }
            StmtKind::Foreach(f) => self.foreach(f),
            StmtKind::Delete(e) => {
                self.out.push_str("delete ");
                self.expr(e);
            }
            StmtKind::Return(e) => {
                self.out.push_str("return");
                if let Some(e) = e {
                    self.out.push(' ');
                    self.expr(e);
                }
            }
            StmtKind::Next => self.out.push_str("next"),
            StmtKind::Break => self.out.push_str("break"),
            StmtKind::Continue => self.out.push_str("continue"),
            StmtKind::Try { body, var, catch } => {
                self.out.push_str("try ");
                self.block(body);
                self.out.push_str(" catch ");
                if let Some(v) = var {
                    let _ = write!(self.out, "({}) ", v.name);
                }
                self.block(catch);
            }
        }
    }

    fn sort_mark(&mut self, descending: bool) {
        self.out.push(if descending { '-' } else { '+' });
    }

    fn foreach(&mut self, f: &Foreach) {
        self.out.push_str("foreach (");
        if let Some(v) = &f.value {
            self.out.push_str(&v.name);
            self.out.push_str(" = ");
        }
        self.out.push('[');
        for (i, k) in f.keys.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&k.name);
            if let Some(s) = f.sort.filter(|s| s.by == SortBy::Key(i)) {
                self.sort_mark(s.descending);
            }
        }
        self.out.push_str("] in ");
        self.expr(&f.array);
        if let Some(slice) = &f.slice {
            self.keys(slice);
        }
        if let Some(op) = f.aggregate {
            self.out.push_str(" @");
            self.out.push_str(op.name());
        }
        if let Some(s) = f.sort.filter(|s| s.by == SortBy::Value) {
            self.sort_mark(s.descending);
        }
        if let Some(l) = &f.limit {
            self.out.push_str(" limit ");
            self.expr(l);
        }
        self.out.push_str(") ");
        self.stmt(&f.body);
    }

    fn keys(&mut self, keys: &[Option<Expr>]) {
        self.out.push('[');
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            match k {
                Some(k) => self.expr(k),
                None => self.out.push('*'),
            }
        }
        self.out.push(']');
    }

    fn args(&mut self, args: &[Expr]) {
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(a);
        }
    }

    fn paren(&mut self, e: &Expr) {
        self.out.push('(');
        self.expr(e);
        self.out.push(')');
    }

    fn infix(&mut self, l: &Expr, op: &str, r: &Expr) {
        self.paren(l);
        self.out.push(' ');
        self.out.push_str(op);
        self.out.push(' ');
        self.paren(r);
    }

    fn string(&mut self, s: &[u8]) {
        self.out.push('"');
        self.out.push_str(&escape_bytes(s));
        self.out.push('"');
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            // Negative values only come from wrapping; their unsigned
            // spelling reads back to the same value.
            ExprKind::Number(n) if *n < 0 => {
                let _ = write!(self.out, "{}", *n as u64);
            }
            ExprKind::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
            ExprKind::String(s) => self.string(s),
            ExprKind::Var(v) => self.out.push_str(v),
            ExprKind::Index { base, keys } => {
                self.expr(base);
                self.keys(keys);
            }
            ExprKind::Call { name, args } => {
                self.out.push_str(&name.name);
                self.out.push('(');
                self.args(args);
                self.out.push(')');
            }
            ExprKind::Print { kind, format, delimiter, args } => {
                self.out.push_str(kind.name());
                self.out.push('(');
                let mut first = true;
                if let Some((f, _)) = format {
                    self.string(f);
                    first = false;
                }
                if let Some(d) = delimiter {
                    self.expr(d);
                    first = false;
                }
                for a in args {
                    if !first {
                        self.out.push_str(", ");
                    }
                    first = false;
                    self.expr(a);
                }
                self.out.push(')');
            }
            ExprKind::Unary { op, operand } => {
                self.out.push_str(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                    UnaryOp::Not => "!",
                    UnaryOp::BitNot => "~",
                });
                self.paren(operand);
            }
            ExprKind::Crement { op, prefix, operand } => {
                let s = match op {
                    Crement::Incr => "++",
                    Crement::Decr => "--",
                };
                if *prefix {
                    self.out.push_str(s);
                    self.paren(operand);
                } else {
                    self.paren(operand);
                    self.out.push_str(s);
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.infix(lhs, binary_op(*op), rhs),
            ExprKind::Logical { op, lhs, rhs } => {
                self.infix(lhs, if *op == LogicalOp::And { "&&" } else { "||" }, rhs);
            }
            ExprKind::Compare { op, lhs, rhs } => self.infix(lhs, compare_op(*op), rhs),
            ExprKind::Regex { negated, operand, pattern, .. } => {
                self.paren(operand);
                self.out.push_str(if *negated { " !~ " } else { " =~ " });
                self.string(pattern);
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                self.paren(cond);
                self.out.push('?');
                self.paren(then);
                self.out.push(':');
                self.paren(otherwise);
            }
            ExprKind::Assign { op, lhs, rhs } => self.infix(lhs, &assign_op(*op), rhs),
            ExprKind::In { keys, array } => {
                self.keys(keys);
                self.out.push_str(" in ");
                self.expr(array);
            }
            ExprKind::Stat { op, operand, extra } => {
                self.out.push('@');
                self.out.push_str(op.name());
                self.out.push('(');
                self.expr(operand);
                for x in extra {
                    self.out.push_str(", ");
                    self.expr(x);
                }
                self.out.push(')');
            }
            ExprKind::Hist { kind, operand } => match kind {
                HistKind::Log => {
                    self.out.push_str("@hist_log(");
                    self.expr(operand);
                    self.out.push(')');
                }
                HistKind::Linear { start, stop, step } => {
                    self.out.push_str("@hist_linear(");
                    self.expr(operand);
                    for x in [start, stop, step] {
                        self.out.push_str(", ");
                        self.expr(x);
                    }
                    self.out.push(')');
                }
            },
            ExprKind::Target(t) => self.target(t),
            ExprKind::Defined(x) => {
                self.out.push_str("@defined(");
                self.expr(x);
                self.out.push(')');
            }
            ExprKind::Entry(x) => {
                self.out.push_str("@entry(");
                self.expr(x);
                self.out.push(')');
            }
            ExprKind::Perf(name) => {
                self.out.push_str("@perf(");
                self.string(name);
                self.out.push(')');
            }
            ExprKind::ProbeWrite(v) => {
                let _ = write!(self.out, "@probewrite({})", v.name);
            }
            ExprKind::Register { user, number } => {
                self.out.push_str(if *user { "@uregister(" } else { "@kregister(" });
                self.expr(number);
                self.out.push(')');
            }
            ExprKind::Deref { user, size, addr } => {
                self.out.push_str(if *user { "@uderef(" } else { "@kderef(" });
                self.expr(size);
                self.out.push_str(", ");
                self.expr(addr);
                self.out.push(')');
            }
            ExprKind::Embedded(code) => {
                self.out.push_str("%{");
                self.out.push_str(code);
                self.out.push_str("%}");
            }
        }
    }

    fn target(&mut self, t: &Target) {
        if t.addr_of {
            self.out.push('&');
        }
        match &t.base {
            TargetBase::Var(name) => {
                self.out.push('$');
                self.out.push_str(name);
            }
            TargetBase::Context(c) => self.out.push_str(c.name()),
            TargetBase::Cast { operand, type_name, module } => {
                self.out.push_str("@cast(");
                self.expr(operand);
                self.out.push_str(", ");
                self.string(type_name.as_bytes());
                if let Some(m) = module {
                    self.out.push_str(", ");
                    self.string(m.as_bytes());
                }
                self.out.push(')');
            }
            TargetBase::AtVar { name, module } => {
                self.out.push_str("@var(");
                self.string(name.as_bytes());
                if let Some(m) = module {
                    self.out.push_str(", ");
                    self.string(m.as_bytes());
                }
                self.out.push(')');
            }
            TargetBase::Autocast(e) => self.paren(e),
        }
        for op in &t.ops {
            match op {
                TargetOp::Member(m) => {
                    self.out.push_str("->");
                    self.out.push_str(&m.name);
                }
                TargetOp::Index(i) => {
                    self.out.push('[');
                    self.expr(i);
                    self.out.push(']');
                }
            }
        }
        match t.pretty {
            None => {}
            Some(Pretty::Shallow) => self.out.push('$'),
            Some(Pretty::Deep) => self.out.push_str("$$"),
        }
    }
}
