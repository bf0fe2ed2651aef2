#!/bin/sh
# The files prompt driven through a pipe: `g 1` fetches file 1 and prints
# hops and virtual time; `s terra pins` and `s WORD` (WORD: the first word
# of file 1's title) search with real keyword records, the latter finding
# file 1 among complete, numbered results; `g 1` then fetches result 1;
# `g 0` is refused; `l 2` lists files again; `q` quits (the command after
# it never runs); and the output is the same twice.
# usage: prompt.sh TSN_SIM
set -eu
sim="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
args="files -n 150 --files 1 --fetches 10 --searches 0 --interactive"

# file 1's first title word (lower-case already)
word=$(printf 'l 1\nq\n' | "$sim" $args | sed -n 's/^ *1  \([a-z]*\) .*/\1/p')
[ -n "$word" ] || { echo "FAIL: l 1 did not list file 1"; exit 1; }

for i in 1 2; do
	printf 'h\ng 1\ns terra pins\ns %s\ng 1\ng 0\nl 2\ng 2\nq\ng 3\n' "$word" |
		"$sim" $args > "$tmp/out$i"
done
out="$tmp/out1"
fail() { echo "FAIL: $1"; cat "$out"; exit 1; }
grep -q '^g 1: ".*" (.* KiB, [0-9]* chunks) fetched by node [0-9]*: ok in [0-9]* ms virtual, hops [1-9]' "$out" ||
	fail "g 1 did not print a successful fetch with hops and virtual time"
grep -q '^s terra pins: [0-9]* results\{0,1\} by node [0-9]* in [0-9]* ms virtual .*, hops [0-9]*, [0-9]* messages, 2 words; complete' "$out" ||
	fail "s terra pins did not print a complete search"
grep -q "^s $word: [1-9][0-9]* results\{0,1\} by node [0-9]* in [1-9][0-9]* ms virtual (first result [1-9][0-9]* ms), hops [1-9], [1-9][0-9]* messages, 1 word; complete" "$out" ||
	fail "s $word did not find results, completely"
grep -q '^    1  [a-z]' "$out" || fail "s $word did not number its results"
grep -q '^ *[0-9]*  .*(file 1)$' "$out" || fail "s $word did not find file 1"
grep -q '^result 1 is file [0-9]*$' "$out" || fail "g 1 after the search did not take result 1"
n=$(sed -n 's/^result 1 is file \([0-9]*\)$/\1/p' "$out")
grep -q "^g $n: \".*\" .* fetched by node [0-9]*: ok in [0-9]* ms virtual" "$out" ||
	fail "result 1 (file $n) was not fetched"
grep -q '^g N: N is a search result number' "$out" || fail "g 0 after a search was not refused"
grep -q '^  *2  ' "$out" || fail "l 2 did not list file 2"
grep -q '^g 2: ' "$out" || fail "g 2 after l did not fetch file 2"
grep -q '^  g N ' "$out" || fail "h printed no help"
if grep -q '^g 3:' "$out"; then fail "q did not quit"; fi
grep -v '^wall:' "$tmp/out1" > "$tmp/a"
grep -v '^wall:' "$tmp/out2" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "two runs differ"
grep -E '^(g 1|s |result 1)' "$out"
