#!/bin/sh
# Rebuilds demo.mp3: a 25.6 s plucked arpeggio over soft sine pads, made from
# nothing but sox and lame so the asset carries no third-party recording.
# 64 kbit/s mono CBR at 44.1 kHz: 209-byte frames, within streamserve's
# documented `-frame-bytes 300`. No ID3 tags and no LAME/Info frame, because
# the file is served in a loop and a tag would land mid-stream each time.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="${1:-$here/demo.mp3}"
for tool in sox lame; do
  command -v "$tool" >/dev/null || { echo "make-demo.sh: $tool is not installed" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rate=44100
step=0.2   # one arpeggio note; 16 per chord, so 3.2 s per chord

# Chords as semitones from A4 (440 Hz): C, G/B, Am, F, C, G, F, G.
chords="-9,-5,-2 -10,-5,-2 -12,-9,-5 -16,-12,-9 -9,-5,-2 -14,-10,-7 -16,-12,-9 -14,-10,-7"

hz() { awk -v s="$1" 'BEGIN { printf "%.3f", 440 * 2 ^ (s / 12) }'; }

n=0
for chord in $chords; do
  n=$((n + 1))
  set -- $(echo "$chord" | tr ',' ' ')
  r=$1 t=$2 f=$3
  # Up and down over two octaves: root third fifth octave ... and back.
  notes=""
  for s in $r $t $f $((r + 12)) $((t + 12)) $((f + 12)) $((r + 24)) $((f + 12)) \
           $((t + 12)) $((r + 12)) $f $t $r $t $f $((r + 12)); do
    notes="$notes $(hz "$s")"
  done
  i=0
  for freq in $notes; do
    i=$((i + 1))
    # Each note fades out within its step so consecutive notes never click.
    sox -q -n -r $rate -c 1 "$tmp/n$n-$(printf %02d $i).wav" synth $step pluck "$freq" fade q 0.005 $step 0.06 vol 0.5
  done
  sox -q "$tmp"/n$n-*.wav "$tmp/arp$n.wav"
  # A pad an octave below, faded at both ends so chord changes swell instead of cut.
  for s in $((r - 12)) $((t - 12)) $((f - 12)); do
    sox -q -n -r $rate -c 1 "$tmp/pad$n-$s.wav" synth 3.2 sine "$(hz "$s")" fade h 0.4 3.2 0.4 vol 0.12
  done
  sox -q -m "$tmp"/pad$n-*.wav "$tmp/pad$n.wav"
  sox -q -m -v 1 "$tmp/arp$n.wav" -v 1 "$tmp/pad$n.wav" "$tmp/bar$(printf %02d $n).wav"
done

sox -q "$tmp"/bar*.wav "$tmp/raw.wav"
# Lowpass and reverb soften the plucks. The loop fades in briefly and out at
# the end so the seam where the stream starts over is silent, not a click.
sox -q "$tmp/raw.wav" "$tmp/loop.wav" lowpass 4500 reverb 40 50 60 gain -n -3 fade q 0.05 25.6 0.6
lame --quiet --cbr -b 64 -m m --resample 44.1 --noreplaygain -t -q 2 "$tmp/loop.wav" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
