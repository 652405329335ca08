#!/bin/sh
# gen.sh regenerates the default voice pack under default/ from units.tsv.
#
# For each unit it uses, in order:
#   1. recordings/<stem>.wav (or any format sox reads: .flac, .mp3 if sox has it)
#      - a human recording, dropped in by hand;
#   2. a row whose third column starts with "synth " is a tone, not speech: the
#      rest of the column is handed to sox's synth effect (the key beep);
#   3. otherwise espeak-ng speaking the unit's pinyin with the cmn-latn-pinyin voice.
# Every spoken clip is converted to 16 kHz mono signed 16-bit little-endian raw
# PCM, leading and trailing silence trimmed, gently compressed ($COMPAND) and
# loudness-normalised: gain to an
# RMS level of $TARGET_RMS dBFS (default -16), lowered if that would put the
# peak above -1 dBFS, so a phrase and the digits after it sound equally loud
# (peak normalisation alone left 4 dB between them). Clips are written as
# default/<stem>.pcm, then turned into IMA ADPCM (default/<stem>.adpcm, see
# scripts/voiceadpcm); default/manifest.json maps unit text -> file. Units
# written <name> (e.g. <beep>) are sounds, listed under "sounds" in the
# manifest: they are not words, so text never selects them.
#
# Needs: espeak-ng (only for units without a recording), sox.
# Usage: audio/voice/gen.sh            (from anywhere)
#        SPEED=150 audio/voice/gen.sh  (espeak-ng words per minute, default 180)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# PACK=default is Mandarin, spoken from the pinyin column; PACK=yue is
# Cantonese (粤语), espeak-ng's yue voice reading the units' characters
# (it reads them in Jyutping: 微信收款 mei4 seon3 sau1 fun2).
pack=${PACK:-default}
case "$pack" in
default) out="$here/default" rec="$here/recordings" voice=${VOICE:-cmn-latn-pinyin} ;;
yue) out="$here/yue" rec="$here/recordings/yue" voice=${VOICE:-yue} ;;
*) echo "gen.sh: PACK=$pack: default or yue" >&2; exit 1 ;;
esac
speed=${SPEED:-180}
target=${TARGET_RMS:--16}
# A gentle compressor (2 ms attack, 50 ms release; 10 dB of gain reduction
# at full scale) takes speech's crest from about 16 dB to 14, so the RMS
# target is reached under the -1 dBFS peak limit: loud enough for a shop
# at the default volume without clipping.
compand=${COMPAND:-0.002,0.05 -60,-60,-40,-24,-24,-14,0,-5 -3 -90 0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v sox >/dev/null || { echo "gen.sh: sox not found" >&2; exit 1; }
raw="-r 16000 -c 1 -b 16 -e signed-integer -L -t raw"

mkdir -p "$out"
rm -f "$out"/*.pcm
: >"$tmp/clips"
: >"$tmp/sounds"

# Read the tab-separated table; skip comments and blank lines.
grep -v '^#' "$here/units.tsv" | grep -v '^[[:space:]]*$' >"$tmp/units"
while IFS='	' read -r unit stem pinyin; do
	src=""
	for f in "$rec/$stem".*; do
		[ -f "$f" ] && { src="$f"; break; }
	done
	case "$pinyin" in
	synth\ *)
		if [ -z "$src" ]; then
			# shellcheck disable=SC2086 # the synth arguments are words
			sox -n $raw "$out/$stem.pcm" $pinyin gain -n -6
		else
			# shellcheck disable=SC2086
			sox "$src" $raw "$out/$stem.pcm" gain -n -6
		fi
		;;
	*)
		if [ -z "$src" ]; then
			command -v espeak-ng >/dev/null || { echo "gen.sh: espeak-ng not found (needed for $stem)" >&2; exit 1; }
			src="$tmp/$stem.wav"
			text=$pinyin
			[ "$pack" = yue ] && text=$unit
			espeak-ng -v "$voice" -s "$speed" -w "$src" "$text"
		fi
		# shellcheck disable=SC2086
		sox -G -D "$src" $raw "$tmp/$stem.pcm" \
			silence 1 0.02 1% reverse silence 1 0.02 1% reverse
		# shellcheck disable=SC2086
		sox -D $raw "$tmp/$stem.pcm" $raw "$tmp/$stem.c.pcm" compand $compand
		mv "$tmp/$stem.c.pcm" "$tmp/$stem.pcm"
		# shellcheck disable=SC2086
		gain=$(sox $raw "$tmp/$stem.pcm" -n stats 2>&1 | awk -v t="$target" '
			/^RMS lev dB/ { rms = $4 } /^Pk lev dB/ { pk = $4 }
			END { g = t - rms; if (pk + g > -1) g = -1 - pk; printf "%.2f", g }')
		# shellcheck disable=SC2086
		sox -D $raw "$tmp/$stem.pcm" $raw "$out/$stem.pcm" gain "$gain"
		;;
	esac
	case "$unit" in
	\<*\>) name=${unit#<}; printf '    "%s": "%s.pcm"' "${name%>}" "$stem" >>"$tmp/sounds" ;;
	*) printf '    "%s": "%s.pcm"' "$unit" "$stem" >>"$tmp/clips" ;;
	esac
	printf ',\n' >>"$tmp/$([ "${unit#<}" = "$unit" ] && echo clips || echo sounds)"
done <"$tmp/units"

# Join the entries (each ends ",\n"; the last of a list loses its comma).
list() { sed '$ s/,$//' "$1"; }
{
	printf '{\n  "sample_rate": 16000,\n  "format": "s16le mono raw",\n  "clips": {\n'
	list "$tmp/clips"
	printf '  },\n  "sounds": {\n'
	list "$tmp/sounds"
	printf '  }\n}\n'
} >"$tmp/manifest.json"
mv "$tmp/manifest.json" "$out/manifest.json"
rm -f "$out"/*.adpcm
# The clips are committed (and compiled in) as IMA ADPCM, compressed: a fifth
# of the raw size; the sounds stay raw (scripts/voiceadpcm, run from the module).
(cd "$here/../.." && go run ./scripts/voiceadpcm "$out")
echo "gen.sh: $(ls "$out"/*.adpcm | wc -l) clips, $(du -ck "$out"/*.adpcm "$out"/*.pcm | tail -1 | cut -f1) KiB"
