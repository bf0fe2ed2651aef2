#!/bin/sh
# The files prompt driven through a pipe: `g 1` fetches file 1 and prints
# hops and virtual time, `s` says search is not there yet, `q` quits (the
# command after it never runs), and the output is the same twice.
# usage: prompt.sh TSN_SIM
set -eu
sim="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

for i in 1 2; do
	printf 'h\ng 1\ns terra pins\ng 0\nl 2\nq\ng 2\n' |
		"$sim" files -n 150 --files 1 --fetches 10 --interactive > "$tmp/out$i"
done
out="$tmp/out1"
fail() { echo "FAIL: $1"; cat "$out"; exit 1; }
grep -q '^g 1: ".*" (.* KiB, [0-9]* chunks) fetched by node [0-9]*: ok in [0-9]* ms virtual, hops [1-9]' "$out" ||
	fail "g 1 did not print a successful fetch with hops and virtual time"
grep -q '^search: not available yet' "$out" || fail "s did not say search is not there yet"
grep -q '^g N: N is a file number' "$out" || fail "g 0 was not refused"
grep -q '^  *2  ' "$out" || fail "l 2 did not list file 2"
grep -q '^  g N ' "$out" || fail "h printed no help"
if grep -q '^g 2:' "$out"; then fail "q did not quit"; fi
grep -v '^wall:' "$tmp/out1" > "$tmp/a"
grep -v '^wall:' "$tmp/out2" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "two runs differ"
grep '^g 1:' "$out"
