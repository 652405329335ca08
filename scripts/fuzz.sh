#!/usr/bin/env bash
# fuzz.sh FUZZTIME [GO]: runs every fuzz target of the module for FUZZTIME
# each. A crasher is saved under the package's testdata/fuzz/FuzzX/ and
# fails the run (commit it: it is a regression input).
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# as a failure at the very end of a -fuzztime window when a worker is slow
# to stop (go.dev/issue/75804, fixed in Go 1.27). That run found nothing:
# no input is written and nothing panicked. It is run once more, and if it
# ends the same way again it is reported and not counted as a failure. Any
# other failure fails the run.
set -u
fuzztime=${1:?usage: fuzz.sh FUZZTIME [GO]}
go=${2:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# boundary_race: the run's output is only the coordinator's deadline race.
boundary_race() {
	grep -q 'context deadline exceeded' "$log" &&
		! grep -q -e 'Failing input written' -e 'panic:' -e '_test.go:[0-9]*:' "$log"
}

for pkg in $("$go" list ./...); do
	for f in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo "== $pkg $f"
		for try in 1 2; do
			"$go" test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"
			[ "${PIPESTATUS[0]}" -eq 0 ] && break
			if ! boundary_race; then
				exit 1
			fi
			if [ "$try" -eq 1 ]; then
				echo "== $f: ended on the fuzz-time deadline race (go.dev/issue/75804), no failing input; running it again"
			else
				echo "== $f: the deadline race again, no failing input: not counted as a failure"
			fi
		done
	done
done
