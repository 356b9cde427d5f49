#!/usr/bin/env bash
# Lists "package target" for every fuzz target in the repository.
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r f; do
	pkg="./$(dirname "$f")"
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r t; do
		echo "$pkg $t"
	done
done
