#!/usr/bin/env bash
# Regenerate the tiny H.264 clips that mockserver serves as video results.
#
# ffmpeg is needed only here, never at runtime: mockserver.media ships these files
# as package data and returns the clip whose aspect ratio is closest to the request.
#
# Each clip: 1 s, 12 fps, yuv420p H.264 (baseline, so every player decodes it),
# low bitrate, no audio, moov before mdat (+faststart) so it streams, metadata
# stripped and bitexact flags set so reruns produce (near-)identical bytes.
#
# Usage: scripts/make_media_assets.sh   (from anywhere; requires ffmpeg with libx264)
set -euo pipefail

out="$(cd "$(dirname "$0")/.." && pwd)/mockserver/assets"
mkdir -p "$out"

make_clip() {  # make_clip NAME WIDTHxHEIGHT
    local name="$1" size="$2"
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=${size}:rate=12:duration=1" \
        -c:v libx264 -profile:v baseline -preset veryslow -crf 40 -pix_fmt yuv420p \
        -an -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
        -movflags +faststart \
        "$out/${name}.mp4"
    echo "$out/${name}.mp4: $(wc -c <"$out/${name}.mp4") bytes"
}

make_clip landscape 256x144  # 16:9
make_clip portrait 144x256   # 9:16
make_clip square 256x256     # 1:1
