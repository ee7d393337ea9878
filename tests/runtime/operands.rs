//! Operands are evaluated left to right, each kept as it was when it was
//! evaluated: `a + a++` adds the old `a`, on both sides.

use super::foreach::on_both_sides;
use super::{PASS5, as_root};

#[test]
fn operands_are_evaluated_left_to_right_on_both_sides() {
    if !as_root("operand order in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The cases of SystemTap's increment test, then a comparison, call
    // arguments, printf's values and an array's keys.
    let body = "a = 0; b = 0; c = 0; d = 0; e = 0; f = 0; g = 0; h = 0\n\
        a = a + a++; b = b + ++b; c = ++c + c; d = ++d + ++c\n\
        e = ++e + e++; f = f++ + f; g = g++ + ++g; h = h++ + h++\n\
        printf(\"%d %d %d %d %d %d %d %d\\n\", a, b, c, d, e, f, g, h)\n\
        x = 5; y = x < x--; printf(\"%d %d\\n\", y, x)\n\
        x = 1; println(substr(\"abcdef\", x, x++))\n\
        x = 7; printf(\"%d %d %d\\n\", x, x++, x)\n\
        x = 1; m[1, 2] = 12; m[2, 2] = 22; printf(\"%d %d\\n\", m[x, ++x], x)\n";
    let (status, user, kernel, err) = on_both_sides("m", body, &[]);
    let want = "0 1 3 4 2 1 2 1\n0 4\nb\n7 7 8\n12 2\n";
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}
