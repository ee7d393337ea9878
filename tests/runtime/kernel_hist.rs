//! Histograms printed in kernel handlers: the same text as the user side
//! draws for the same values.

use super::foreach::on_both_sides;
use super::{PASS5, as_root};

#[test]
fn histograms_print_in_kernel_handlers_as_on_the_user_side() {
    if !as_root("histograms in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // A log and a linear histogram, one keyed, one of a key with no
    // values, and println's newline after one.
    let body = "delete h; delete k\n\
        for (i = 1; i <= 40; i++) { h <<< i * 3; k[\"a\", 1] <<< i % 17 - 2 }\n\
        print(@hist_log(h)); println(\"|\")\n\
        print(@hist_linear(k[\"a\", 1], 0, 12, 4)); println(@hist_linear(k[\"b\", 2], 0, 12, 4)); println(\"|\")\n";
    let (status, user, kernel, err) = on_both_sides("h, k", body, &[]);
    assert_eq!(status, 0, "{err}");
    assert!(user.contains("   64 |@@@@@@@@@@@@@@@@@@@") && user.contains("   <0 |"), "the user side drew:\n{user}");
    assert_eq!(kernel, user, "the kernel: {err}");
}
