#!/bin/sh
# Checks the two ways stp is installed, from one release build (the one
# tests/run.sh's start-up gate made; built here when missing):
#
#   cargo install --locked --path .   into a scratch root: the installed
#                                     stp runs a script
#   cargo deb --no-build              the Debian package: dpkg-deb -c lists
#                                     the binary, the man page, the three
#                                     completions, the README and docs/
#                                     references and every example; the stp
#                                     unpacked from it runs a script, and its
#                                     man page is docs/stp.1
#
# Installs cargo-deb (cargo install --locked) when it is missing. As root a
# script is run (pass 5); otherwise it is compiled with -p4.
set -eu
cd "$(dirname "$0")/.."
die() { echo "tools/check_install.sh: $*" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cargo build --release -q --bin stp

# A run of the installed stp: it prints what the script says.
runs() {
    if [ "$(id -u)" -eq 0 ]; then
        out=$("$1" -e 'probe begin { printf("%d\n", 6 * 7); exit() }') || die "$1 failed to run a script"
        [ "$out" = 42 ] || die "$1 printed '$out', not 42"
    else
        (cd "$scratch" && "$1" -p4 -m check -e 'probe begin { exit() }' >/dev/null) || die "$1 -p4 failed"
    fi
    "$1" --version | grep -q '^stp ' || die "$1 --version"
}

# cargo install, reusing target/release (a --path install builds in the
# workspace's target directory).
cargo install -q --locked --path . --root "$scratch/cargo" --bin stp
runs "$scratch/cargo/bin/stp"
echo "tools/check_install.sh: cargo install --path . gives a working stp"

# The Debian package.
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "tools/check_install.sh: installing cargo-deb"
    cargo install -q --locked cargo-deb --version 3.8.0
fi
cargo deb -q --no-build --fast -o "$scratch/deb/" >/dev/null
deb=$(find "$scratch/deb" -name 'stp_*.deb' -print -quit)
[ -n "$deb" ] || die "cargo deb made no package"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./||' >"$scratch/contents"
want="usr/bin/stp
usr/share/man/man1/stp.1.gz
usr/share/bash-completion/completions/stp
usr/share/zsh/vendor-completions/_stp
usr/share/fish/vendor_completions.d/stp.fish
usr/share/doc/stp/README.md
usr/share/doc/stp/copyright"
for f in docs/*.md examples/*; do
    [ -f "$f" ] || continue
    case $f in
    docs/*) want="$want
usr/share/doc/stp/${f#docs/}" ;;
    *) want="$want
usr/share/doc/stp/$f" ;;
    esac
done
missing=$(echo "$want" | while read -r f; do grep -qxF "$f" "$scratch/contents" || echo "$f"; done)
[ -z "$missing" ] || die "$deb lacks: $missing"
dpkg-deb -x "$deb" "$scratch/root"
runs "$scratch/root/usr/bin/stp"
gzip -dc "$scratch/root/usr/share/man/man1/stp.1.gz" | cmp -s - docs/stp.1 || die "the package's man page is not docs/stp.1"
echo "tools/check_install.sh: $(basename "$deb") holds $(echo "$want" | wc -l) expected files, and its stp runs"
