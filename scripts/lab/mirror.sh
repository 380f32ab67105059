#!/usr/bin/env bash
# Print the Debian mirror URI that apt on this machine is configured to use for
# the running release (deb822 *.sources first, then one-line *.list files).
# Nothing is hard-coded: the answer is read from /etc/apt at run time.
# LAB_MIRROR overrides.
set -euo pipefail
if [[ -n "${LAB_MIRROR:-}" ]]; then echo "$LAB_MIRROR"; exit 0; fi
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ -n "$codename" ]] || { echo "mirror.sh: cannot read VERSION_CODENAME" >&2; exit 1; }
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  # deb822 stanzas: Types / URIs / Suites / Components
  awk -v cn="$codename" '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && (" " comps " ") ~ / main /) {
        split(uris, u, " "); print u[1]; found=1; exit
      }
      types=""; uris=""; suites=""; comps=""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    tolower($1) == "types:"      { $1=""; types=$0 }
    tolower($1) == "uris:"       { $1=""; uris=$0 }
    tolower($1) == "suites:"     { $1=""; suites=$0 }
    tolower($1) == "components:" { $1=""; comps=$0 }
    END { if (!found) flush() }
  ' "$f" | head -n1 | grep . && exit 0
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -r "$f" ]] || continue
  sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
    awk -v cn="$codename" '$1 == "deb" && $3 == cn { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }' |
    head -n1 | grep . && exit 0
done
echo "mirror.sh: no apt source for '$codename' main found in /etc/apt; set LAB_MIRROR" >&2
exit 1
