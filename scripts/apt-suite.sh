#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# usage: apt-suite.sh SUITE apt-get|apt-cache ARGS...
#        apt-suite.sh SUITE update     refresh SUITE's lists now
#        apt-suite.sh SUITE mirror     print the mirror URI
#        apt-suite.sh SUITE keyring    print the keyring SUITE verifies with
#        apt-suite.sh SUITE filter     copy stdin to stdout, host names masked
#
# Run apt with a private configuration that adds Debian suite SUITE
# (bookworm-backports, sid, ...) to this machine's own release, without
# touching /etc/apt.  Everything lives under $BUFPOOL_CACHE/apt/SUITE:
#   sources.sources  deb822: this machine's entries for its release
#                    (release, -updates, -security; copied from its own
#                    sources, Types cut to deb) plus "SUITE main" from the
#                    URI of the entry whose Suites hold the release itself
#   lists/, cache/   Dir::State::Lists and Dir::Cache (pkgcache enabled)
#   empty.d/         Dir::Etc::SourceParts: nothing else is read
# Acquire::Check-Valid-Until is off (the mirror may be a snapshot).  The
# lists are refreshed when missing, older than $BUFPOOL_APT_MAX_AGE
# minutes (default 360), or when the sources changed.  A refresh that
# fails while old lists exist only warns (and is not tried again for 10
# minutes); with no lists it is fatal.
#
# Trust: signature checking stays on.  SUITE is first verified with the
# keyring this machine's own release entry names (Signed-By, normally
# Debian 12's debian-archive-keyring, which already carries trixie's
# keys).  If apt then reports a signature it cannot check (NO_PUBKEY,
# "not signed", expired key), a newer debian-archive-keyring is taken
# from Debian's "stable" suite, which the installed keyring verifies:
# InRelease (signed, checked) -> Packages (hash in InRelease) -> .deb
# (hash in Packages), all checked by apt-get download through this same
# script.  Its keyrings are extracted under $BUFPOOL_CACHE/apt/keyrings/
# and SUITE's entry gets Signed-By that debian-archive-keyring.gpg; the
# choice is remembered in $BUFPOOL_CACHE/apt/SUITE/keyring.  If that
# also fails, apt's error stands.  BUFPOOL_APT_KEYRING=FILE replaces the
# machine's keyring as the starting point (to exercise this path).
#
# Exit status: apt's.  3, with one line "apt-suite: SUITE unreachable:
# WHY" on stderr, when SUITE's lists cannot be had at all.  apt's output
# passes through with every mirror host name replaced by "<mirror>", so
# that no log kept in the tree names one.
set -eu

usage() { echo "usage: apt-suite.sh SUITE apt-get|apt-cache|update|mirror|keyring|filter [ARGS...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
suite=$1 cmd=$2
shift 2
case $suite in ''|*/*|*' '*) usage ;; esac
case $cmd in apt-get|apt-cache|update|mirror|keyring|filter) ;; *) usage ;; esac

here=$(cd "$(dirname "$0")" && pwd)
cache=${BUFPOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bufpool}
top=$cache/apt
dir=$top/$suite
maxage=${BUFPOOL_APT_MAX_AGE:-360}

# shellcheck disable=SC1091
release=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[ -n "$release" ] || { echo "apt-suite: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }

# ------------------------------------------------- this machine's sources
SL='' SP=''
eval "$(apt-config shell SL Dir::Etc::SourceList/f SP Dir::Etc::SourceParts/d)"

# One-line entries (sources.list, *.list) as deb822 stanzas.
oneline_to_deb822() {
	awk '
	/^[ \t]*(#|$)/ { next }
	$1 != "deb" { next }
	{
		i = 2; opts = ""
		if ($2 ~ /^\[/) {
			opts = substr($0, index($0, "[") + 1)
			opts = substr(opts, 1, index(opts, "]") - 1)
			while (i <= NF && $i !~ /\]$/) i++
			i++
		}
		print "Types: deb"
		print "URIs: " $i
		print "Suites: " $(i + 1)
		c = ""
		for (j = i + 2; j <= NF; j++) c = c " " $j
		if (c != "") print "Components:" c
		n = split(opts, o, /[ \t]+/)
		for (j = 1; j <= n; j++) {
			if (o[j] !~ /^[a-z-]+=/) continue
			k = substr(o[j], 1, index(o[j], "=") - 1)
			v = substr(o[j], index(o[j], "=") + 1)
			gsub(/,/, " ", v)
			if (k == "arch") k = "Architectures"
			else if (k == "lang") k = "Languages"
			else if (k == "target") k = "Targets"
			else {
				m = split(k, w, "-"); k = ""
				for (x = 1; x <= m; x++)
					k = k (x > 1 ? "-" : "") toupper(substr(w[x], 1, 1)) substr(w[x], 2)
			}
			print k ": " v
		}
		print ""
	}' "$@"
}

machine_sources() {
	[ -r "$SL" ] && oneline_to_deb822 "$SL"
	for f in "$SP"*.list; do
		[ -r "$f" ] && oneline_to_deb822 "$f"
	done
	for f in "$SP"*.sources; do
		[ -r "$f" ] && { cat "$f"; echo; }
	done
	:
}

# Keep the enabled binary stanzas of this release (REL, REL-updates,
# REL-security, ...), comments dropped and Types cut to "deb".
release_stanzas() {
	awk -v rel="$release" '
	function flush(   i, t, s, keep) {
		if (n) {
			keep = (types ~ /(^|[ \t])deb([ \t]|$)/) && tolower(enabled) != "no"
			if (keep) {
				keep = 0
				t = split(suites, s, /[ \t]+/)
				for (i = 1; i <= t; i++)
					if (s[i] == rel || index(s[i], rel "-") == 1) keep = 1
			}
			if (keep) {
				for (i = 1; i <= n; i++)
					if (f[i] == "types") { if (!done) print "Types: deb"; done = 1 }
					else print l[i]
				print ""
			}
		}
		n = 0; types = ""; suites = ""; enabled = ""; cur = ""; done = 0
	}
	/^[ \t]*#/ { next }
	/^[ \t]*$/ { flush(); next }
	/^[ \t]/ { n++; l[n] = $0; f[n] = cur
		if (cur == "types") types = types " " $0
		if (cur == "suites") suites = suites " " $0
		next }
	{
		cur = tolower(substr($0, 1, index($0, ":") - 1))
		v = substr($0, index($0, ":") + 1)
		n++; l[n] = $0; f[n] = cur
		if (cur == "types") types = v
		if (cur == "suites") suites = v
		if (cur == "enabled") { enabled = v; gsub(/[ \t]/, "", enabled) }
	}
	END { flush() }'
}

# FIELD of the first stanza whose Suites hold the release itself.
release_field() { # field
	awk -v rel="$release" -v want="$(echo "$1" | tr '[:upper:]' '[:lower:]')" '
	function flush(   i, t, s) {
		t = split(suites, s, /[ \t]+/)
		for (i = 1; i <= t; i++)
			if (s[i] == rel && !found) { print val; found = 1 }
		suites = ""; val = ""
	}
	/^[ \t]*$/ { flush(); next }
	/^[ \t]/ { next }
	{
		k = tolower(substr($0, 1, index($0, ":") - 1))
		v = substr($0, index($0, ":") + 1)
		sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
		if (k == "suites") suites = v
		if (k == want) { val = v; sub(/[ \t].*/, "", val) }
	}
	END { flush() }' "$dir/machine.sources"
}

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/empty.d"
tmpsrc=$(mktemp "$dir/.machine.XXXXXX")
machine_sources | release_stanzas > "$tmpsrc"
mv "$tmpsrc" "$dir/machine.sources"
mirror=$(release_field URIs)
[ -n "$mirror" ] || { echo "apt-suite: no entry for $release in this machine's apt sources" >&2; exit 1; }
mirror=${mirror%/}

# Mask every host of the sources (and any URI's host) in apt's output.
hosts=$(sed -n 's/^[ \t]*URIs:[ \t]*//p' "$dir/machine.sources" | tr -s '[:blank:]' '\n' |
	sed -n 's#^[a-z+]*://\([^/:@]*@\)\{0,1\}\([^/:]*\).*#\2#p' | sort -u)
filter_script=
for h in $hosts; do
	filter_script="${filter_script}s/$(printf '%s' "$h" | sed 's/[].[*^$\\/]/\\&/g')/<mirror>/g;"
done
filter_script="${filter_script}s#\\([a-z+]*://\\)[^/[:space:]'\"]*#\\1<mirror>#g"
hide() { sed "$filter_script"; }

case $cmd in
mirror) echo "$mirror"; exit 0 ;;
filter) hide; exit 0 ;;
esac

host_keyring=${BUFPOOL_APT_KEYRING:-$(release_field Signed-By)}
case $host_keyring in /*) ;; *) host_keyring= ;; esac
keyring() {
	if [ -s "$dir/keyring" ]; then cat "$dir/keyring"; else echo "$host_keyring"; fi
}

write_sources() {
	k=$(keyring)
	new=$(mktemp "$dir/.sources.XXXXXX")
	{
		cat "$dir/machine.sources"
		if ! awk -v s="$suite" '/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) f = 1 } END { exit !f }' \
			"$dir/machine.sources"; then
			echo "Types: deb"
			echo "URIs: $mirror"
			echo "Suites: $suite"
			echo "Components: main"
			[ -z "$k" ] || echo "Signed-By: $k"
		fi
	} > "$new"
	if cmp -s "$new" "$dir/sources.sources"; then
		rm -f "$new"
	else
		mv "$new" "$dir/sources.sources"
		rm -f "$dir/updated"
	fi
}

# with_conf PROG ARGS...: run apt-get or apt-cache with the private configuration
sandbox=
# apt drops to _apt to download; a cache under /root is out of its reach
# and apt would fall back to root anyway, with a warning each time.
if [ "$(id -u)" = 0 ] && ! runuser -u _apt -- test -w "$dir/lists/partial" 2>/dev/null; then
	sandbox=APT::Sandbox::User=root
fi
with_conf() {
	prog=$1
	shift
	"$prog" -o "Dir::Etc::SourceList=$dir/sources.sources" \
		-o "Dir::Etc::SourceParts=$dir/empty.d" \
		-o "Dir::State::Lists=$dir/lists" \
		-o "Dir::Cache=$dir/cache" \
		-o "Dir::Cache::pkgcache=pkgcache.bin" \
		-o "Dir::Cache::srcpkgcache=srcpkgcache.bin" \
		-o "Acquire::Check-Valid-Until=false" \
		-o "Acquire::Languages=none" \
		${sandbox:+-o} ${sandbox:+"$sandbox"} "$@"
}

# run CMD... with stdout and stderr passed through hide; status kept
run_hidden() {
	st=$(mktemp "$dir/.st.XXXXXX")
	{ { rc=0; "$@" 2>&1 >&3 3>&- || rc=$?; echo $rc > "$st"; } | hide >&2; } 3>&1 | hide
	rc=$(cat "$st")
	rm -f "$st"
	return "$rc"
}

fetch_newer_keyring() {
	[ "$suite" != stable ] || return 1
	kdir=$top/keyrings
	mkdir -p "$kdir"
	t=$(mktemp -d "$kdir/.dl.XXXXXX")
	echo "apt-suite: $suite: signature not verifiable with $(keyring);" \
		"taking debian-archive-keyring from stable" >&2
	if (cd "$t" && BUFPOOL_APT_KEYRING='' "$here/apt-suite.sh" stable apt-get -q download debian-archive-keyring >&2) &&
	   dpkg-deb -x "$t"/debian-archive-keyring_*.deb "$t/x" &&
	   [ -s "$t/x/usr/share/keyrings/debian-archive-keyring.gpg" ]; then
		v=$(dpkg-deb -f "$t"/debian-archive-keyring_*.deb Version)
		rm -rf "${kdir:?}/$v"
		mv "$t/x/usr/share/keyrings" "$kdir/$v"
		rm -rf "$t"
		echo "$kdir/$v/debian-archive-keyring.gpg" > "$dir/keyring"
		return 0
	fi
	rm -rf "$t"
	return 1
}

# Lines of apt-get update's log that say SUITE itself failed.  (apt-get
# update exits 0 when a host cannot be reached: the log decides.)
suite_errors() {
	grep -E "^(Err:[0-9]+ |[EW]: ).*[ /]${suite}[ /]" "$dir/update.log" |
		grep -v '^W: Some index files'
}

# update: refresh the lists; status 0, or 3 with the reason on stderr
update() {
	for attempt in 1 2; do
		write_sources
		rc=0
		run_hidden with_conf apt-get -q update > "$dir/update.log" 2>&1 || rc=$?
		if ! suite_errors > /dev/null; then
			[ "$rc" = 0 ] || echo "apt-suite: warning: apt-get update: exit $rc" \
				"(see $dir/update.log)" >&2
			touch "$dir/updated"
			return 0
		fi
		if [ $attempt = 1 ] && [ ! -s "$dir/keyring" ] &&
		   suite_errors | grep -Eq 'NO_PUBKEY|EXPKEYSIG|KEYEXPIRED|not signed|signatures (couldn.t|were) (be )?(verified|invalid)'; then
			fetch_newer_keyring || break
			continue
		fi
		break
	done
	why=$(suite_errors | grep -E '^[EW]: ' | head -n 1 | sed 's/^[EW]: *//; s/  */ /g')
	echo "apt-suite: $suite unreachable: ${why:-apt-get update failed (see $dir/update.log)}" >&2
	return 3
}

exec 9> "$dir/.lock"
flock 9
if [ "$cmd" = update ]; then
	update || exit $?
	exit 0
fi
write_sources
if [ "$cmd" = keyring ]; then
	keyring
	exit 0
fi
have_lists() { ls "$dir/lists/"*_dists_"${suite}"_*Packages* > /dev/null 2>&1; }
if [ -z "$(find "$dir/updated" -mmin "-$maxage" 2>/dev/null)" ] &&
   ! { have_lists && [ -n "$(find "$dir/update.err" -mmin -10 2>/dev/null)" ]; }; then
	echo "apt-suite: refreshing the lists of $suite" >&2
	if update 2> "$dir/update.err.new"; then
		rm -f "$dir/update.err" "$dir/update.err.new"
	else
		mv "$dir/update.err.new" "$dir/update.err"
		if ! have_lists; then
			cat "$dir/update.err" >&2
			exit 3
		fi
		# Old lists will do; the next try is in 10 minutes.
		echo "apt-suite: warning: $suite not refreshed, using its old lists:" \
			"$(sed 's/^apt-suite: //' "$dir/update.err")" >&2
	fi
fi
flock -u 9
exec 9>&-

# The command itself: the private options first, then its own arguments.
run_hidden with_conf "$cmd" "$@"
