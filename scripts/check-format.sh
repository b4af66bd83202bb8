#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when any C file of ours is not formatted as .clang-format says.
# Looks at tracked and untracked-but-not-ignored files alike.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard -- 'src/*.[ch]' 'tests/*.[ch]')
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086
exec clang-format --dry-run --Werror $files
