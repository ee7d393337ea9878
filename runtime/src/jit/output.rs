//! The print family's text, as stap writes it: `printf`/`sprintf` through
//! the shared formatter, `print` and `sprint` as the values one after the
//! other (a long in decimal), `printd` with the delimiter between them,
//! and the `ln` forms with a newline at the end.

use stp_compiler::format::{self, Arg, Piece};
use stp_compiler::ir::PrintKind;
use stp_compiler::ir::Ty;

use super::rt::Scalar;

/// One call of the print family, as compiled.
#[derive(Clone, Debug)]
pub struct PrintDesc {
    pub kind: PrintKind,
    /// The parsed format of `printf` and `sprintf`.
    pub pieces: Vec<Piece>,
    /// The values' types, in order.
    pub tys: Vec<Ty>,
    /// Whether a delimiter (`printd`) comes before the values.
    pub delimiter: bool,
}

pub fn render(d: &PrintDesc, delimiter: &[u8], values: &[Scalar]) -> Vec<u8> {
    let mut out = Vec::new();
    match d.kind {
        PrintKind::Printf | PrintKind::Sprintf => {
            let args: Vec<Arg<'_>> = values
                .iter()
                .map(|v| match v {
                    Scalar::Long(n) => Arg::Long(*n),
                    Scalar::Str(s) => Arg::Bytes(s),
                })
                .collect();
            format::render(&d.pieces, &args, &mut out);
        }
        kind => {
            let delimited =
                matches!(kind, PrintKind::Printd | PrintKind::Printdln | PrintKind::Sprintd | PrintKind::Sprintdln);
            for (i, v) in values.iter().enumerate() {
                if delimited && i > 0 {
                    out.extend_from_slice(delimiter);
                }
                match v {
                    Scalar::Long(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    Scalar::Str(s) => out.extend_from_slice(s),
                }
            }
            if matches!(kind, PrintKind::Println | PrintKind::Printdln | PrintKind::Sprintln | PrintKind::Sprintdln) {
                out.push(b'\n');
            }
        }
    }
    out
}
