#!/bin/sh
# Runs the whole test suite: the layer check of the compiler's modules
# (tools/check_layers.py), unit, golden, command-line, conformance,
# round-trip and runtime tests, and the tests that run in a VM
# (tests/vm/stp-vm), then the start-up gate of bench/library.sh. Installs
# what the tests need first (as root, with apt), so that it works on a
# fresh machine.
set -eu
cd "$(dirname "$0")/.."

# Debian packages the tests use, by the command that shows each is there.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    missing="${missing:-} $2"
}
need timeout coreutils
need python3 python3
need bpftool bpftool
need gcc gcc
# The shells whose completion scripts tests/docs.rs tries.
need zsh zsh
need fish fish
# The VM: qemu, and a static busybox and cpio for its initramfs.
need qemu-system-x86_64 qemu-system-x86
need cpio cpio
if ! ldd /bin/busybox 2>&1 | grep -q 'not a dynamic\|statically linked'; then
    missing="${missing:-} busybox-static"
fi
# sys/sdt.h, for the USDT tests' programs.
if [ ! -f /usr/include/sys/sdt.h ] && [ ! -f /usr/include/x86_64-linux-gnu/sys/sdt.h ]; then
    missing="${missing:-} systemtap-sdt-dev"
fi
# SystemTap's example scripts, which tests/examples.rs compiles.
if [ ! -d /usr/share/systemtap/examples ]; then
    missing="${missing:-} systemtap-doc"
fi
# A Prometheus server, which scrapes `stp --metrics` in tests/runtime/metrics.rs.
need prometheus prometheus
need curl curl
if [ -n "${missing:-}" ]; then
    echo "installing:${missing}"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing}
fi

# The compiler's modules form layers (cheap: no build).
python3 tools/check_layers.py --self-test
python3 tools/check_layers.py

cargo test --workspace --all-targets

# The start-up gate (bench/library.sh, a release build): stp's start-up
# with the whole embedded library stays within 20 ms as the library grows.
if [ "$(id -u)" -eq 0 ]; then
    bench/library.sh --gate
else
    echo "tests/run.sh: the start-up gate needs root (pass 5 loads a program); skipped"
fi

# The installs, from the release build above: cargo install --path . into
# a scratch directory, and the Debian package (cargo-deb), its contents
# listed by dpkg-deb -c.
tools/check_install.sh
