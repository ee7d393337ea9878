//! Strings as the generated code keeps them: NUL-terminated bytes in
//! buffers of `round8(MAXSTRINGLEN)` bytes, never more than
//! `MAXSTRINGLEN - 1` bytes long. These functions read and write such
//! buffers through raw pointers, for the helpers the code calls.

/// The bytes of the NUL-terminated string at `p`, at most `cap` of them.
///
/// # Safety
/// `p` points to readable bytes up to its first NUL or `cap` bytes,
/// whichever comes first, and they stay unchanged while the result lives.
pub(crate) unsafe fn read<'a>(p: *const u8, cap: usize) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    let mut n = 0;
    // SAFETY: the caller promises the bytes up to the NUL or `cap`.
    while n < cap && unsafe { p.add(n).read() } != 0 {
        n += 1;
    }
    // SAFETY: the `n` bytes were just read.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// Writes `s` (truncated to `max_len - 1` bytes) and its NUL at `dst`.
///
/// # Safety
/// `dst` points to `max_len` writable bytes that `s` does not overlap
/// beyond what `copy` allows (it is a memmove).
pub(crate) unsafe fn write(dst: *mut u8, s: &[u8], max_len: usize) {
    if dst.is_null() || max_len == 0 {
        return;
    }
    let n = s.len().min(max_len - 1);
    // SAFETY: `dst` holds `max_len > n` bytes; `copy` allows overlap.
    unsafe {
        std::ptr::copy(s.as_ptr(), dst, n);
        dst.add(n).write(0);
    }
}

/// Like [`write`], and zeroes the rest of the `size`-byte buffer, as the
/// globals record and map records keep their strings.
///
/// # Safety
/// `dst` points to `size >= max_len` writable bytes.
pub(crate) unsafe fn write_padded(dst: *mut u8, s: &[u8], max_len: usize, size: usize) {
    let n = s.len().min(max_len.saturating_sub(1));
    // SAFETY: as for `write`; the padding stays inside `size` bytes.
    unsafe {
        write(dst, s, max_len);
        std::ptr::write_bytes(dst.add(n), 0, size.saturating_sub(n));
    }
}

/// `s` cut to the length a string may have.
pub(crate) fn truncate(s: &[u8], max_len: usize) -> &[u8] {
    s.get(..s.len().min(max_len.saturating_sub(1))).unwrap_or(s)
}

/// The string in a zero-padded record field.
pub(crate) fn from_field(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..end).unwrap_or_default()
}
