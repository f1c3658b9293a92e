#!/bin/sh
# readme_block.sh -- prints one copy-paste block of README.md, so that a
# client test runs the very commands README shows.
#
# Usage: sh tests/clients/readme_block.sh NAME [README]
# A block is the fenced code block (``` ... ```) that follows the line
#   <!-- block: NAME -->
# in README.md (blank lines between the two are allowed). Prints the lines
# between the fences; exits 1, saying so on stderr, when there is no such
# block or it is empty.

name=${1:?usage: readme_block.sh NAME [README]}
readme=${2:-$(cd "$(dirname "$0")/../.." && pwd)/README.md}
awk -v name="$name" '
  $0 == "<!-- block: " name " -->" { want = 1; next }
  want && !inside && /^```/ { inside = 1; next }
  want && !inside && /^[[:space:]]*$/ { next }
  want && !inside { want = 0 }
  inside && /^```/ { found = 1; exit }
  inside { print; lines++ }
  END { exit !(found && lines > 0) }
' "$readme" || {
  echo "readme_block.sh: no block '$name' in $readme (a fenced block after <!-- block: $name -->)" >&2
  exit 1
}
