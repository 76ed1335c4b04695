#!/bin/sh
# Makes sure Criterion's headers and library are there; installs Debian's libcriterion-dev when
# it can (root, or sudo without a password), else prints the exact command and fails.
CC=${1:-cc}
have() { printf '#include <criterion/criterion.h>\nTest(a,b){}\n' | "$CC" -x c - -o /dev/null -lcriterion >/dev/null 2>&1; }
have && exit 0
echo "make test: Criterion is not installed; trying to install libcriterion-dev" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq libcriterion-dev >&2
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq libcriterion-dev >&2
fi
have && exit 0
echo "make test: Criterion is missing. Install it with:" >&2
echo "    sudo apt-get install -y libcriterion-dev" >&2
exit 1
