#!/usr/bin/env bash
# The admin API with curl: list libraries and tracks, make a playlist, edit it safely with
# If-Match (and see a stale one refused with 412), read its HLS master playlist, delete it.
# docs/api-guide.md walks through it.
#
#   STREAMER_URL=http://127.0.0.1:8000 STREAMER_API_KEY=stk_... bash docs/examples/api.sh
#
# Needs curl; reads JSON with jq when it is installed, else with python3. Exits non-zero,
# saying why, at the first answer it did not expect.
set -euo pipefail

base=${STREAMER_URL:?set STREAMER_URL, e.g. http://127.0.0.1:8000}
base=${base%/}
key=${STREAMER_API_KEY:?set STREAMER_API_KEY (streamer apikey create --name NAME --role editor)}

work=$(mktemp -d)
playlist=""
cleanup() {
  # A run that failed half-way removes the playlist it made (without If-Match: any revision).
  if [ -n "$playlist" ]; then
    curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $key" "$base/api/v1/playlists/$playlist" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "unexpected: $*" >&2
  exit 1
}

# json_get FILE PATH: the value at PATH (keys and list indexes joined by dots, as in
# items.0.id), as text; empty when it is missing or null.
json_get() {
  if command -v jq >/dev/null 2>&1; then
    jq -r --arg path "$2" \
      'getpath($path | split(".") | map(tonumber? // .)) // empty
       | if type == "array" or type == "object" then tojson else . end' "$1"
  else
    python3 -c '
import json, sys
value = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    try:
        value = value[int(part)] if isinstance(value, list) else value.get(part)
    except (IndexError, AttributeError):
        value = None
    if value is None:
        break
if value is not None:
    print(json.dumps(value) if isinstance(value, (list, dict)) else value)
' "$1" "$2"
  fi
}

# call METHOD PATH [curl arguments...]: sets $status; the body is in $work/body and the
# response's header fields in $work/headers.
call() {
  local method=$1 path=$2
  shift 2
  status=$(curl -sS -X "$method" -o "$work/body" -D "$work/headers" -w '%{http_code}' \
    -H "Authorization: Bearer $key" "$@" "$base$path") || fail "$method $path: no answer"
}

# header NAME: a field of the last response.
header() {
  grep -i "^$1:" "$work/headers" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

expect() {
  if [ "$status" != "$1" ]; then
    fail "$2 answered $status, not $1: $(head -c 300 "$work/body")"
  fi
}

# 1. The libraries this key may read (a plain list).
call GET /api/v1/libraries
expect 200 "GET /api/v1/libraries"
library=$(json_get "$work/body" 0.id)
[ -n "$library" ] || fail "no library is readable with this key"
echo "GET /api/v1/libraries -> 200: first library $library ($(json_get "$work/body" 0.name))"

# 2. Tracks of that library: a page {items, total, limit, offset, next_cursor}.
call GET "/api/v1/tracks?library=$library&status=ok&sort=title&limit=2"
expect 200 "GET /api/v1/tracks"
first=$(json_get "$work/body" items.0.id)
second=$(json_get "$work/body" items.1.id)
[ -n "$second" ] || fail "the library needs at least two playable tracks"
echo "GET /api/v1/tracks -> 200: $(json_get "$work/body" total) tracks; using $first and $second"

# 3. A playlist of those two tracks: 201 with Location and ETag "1" (the revision).
body=$(printf '{"library_id": "%s", "name": "API example", "track_ids": ["%s", "%s"]}' \
  "$library" "$first" "$second")
call POST /api/v1/playlists -H 'Content-Type: application/json' --data "$body"
expect 201 "POST /api/v1/playlists"
playlist=$(json_get "$work/body" id)
echo "POST /api/v1/playlists -> 201: playlist $playlist at $(header location)"

# 4. Read it back with its ETag.
call GET "/api/v1/playlists/$playlist"
expect 200 "GET /api/v1/playlists/$playlist"
etag=$(header etag)
echo "GET /api/v1/playlists/$playlist -> 200: \"$(json_get "$work/body" name)\"," \
  "$(json_get "$work/body" item_count) items, ETag $etag"

# 5. Rename it, on condition that nobody changed it since: If-Match with that ETag.
call PATCH "/api/v1/playlists/$playlist" -H "If-Match: $etag" \
  -H 'Content-Type: application/json' --data '{"name": "API example (renamed)"}'
expect 200 "PATCH with If-Match: $etag"
current=$(header etag)
echo "PATCH /api/v1/playlists/$playlist (If-Match: $etag) -> 200: renamed, ETag $current"

# 6. The old ETag is stale now: 412, a problem+json body, and the current ETag.
call PATCH "/api/v1/playlists/$playlist" -H "If-Match: $etag" \
  -H 'Content-Type: application/json' --data '{"name": "lost update"}'
expect 412 "PATCH with the stale If-Match: $etag"
ctype=$(header content-type)
[ "$ctype" = "application/problem+json" ] || fail "412 came as $ctype, not application/problem+json"
echo "PATCH /api/v1/playlists/$playlist (If-Match: $etag) -> 412 $ctype:" \
  "$(json_get "$work/body" title): $(json_get "$work/body" detail) (current ETag $(header etag))"

# 7. The playlist as one HLS stream. With URL signing on, /signed gives a URL with a token;
#    with it off, /signed answers 409 and the plain URL (urls.hls) is public.
call GET "/api/v1/playlists/$playlist/signed?seconds=600"
if [ "$status" = 200 ]; then
  hls=$(json_get "$work/body" urls.hls)
  echo "GET /api/v1/playlists/$playlist/signed -> 200: a signed URL, good for 600 s"
else
  expect 409 "GET /api/v1/playlists/$playlist/signed"
  call GET "/api/v1/playlists/$playlist"
  expect 200 "GET /api/v1/playlists/$playlist"
  hls=$(json_get "$work/body" urls.hls)
  echo "GET /api/v1/playlists/$playlist/signed -> 409: URL signing is off; the HLS URL is public"
fi
# Media and HLS URLs take no credentials (a player fetches them): no Authorization here.
status=$(curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' "$base$hls") ||
  fail "GET $hls: no answer"
expect 200 "GET $hls"
echo "GET ${hls%%\?*} -> 200 $(header content-type):"
head -n 4 "$work/body" | sed 's/^/  /'

# 8. Delete it (If-Match again: only the revision we last saw), then it is gone.
call DELETE "/api/v1/playlists/$playlist" -H "If-Match: $current"
expect 204 "DELETE /api/v1/playlists/$playlist"
echo "DELETE /api/v1/playlists/$playlist (If-Match: $current) -> 204"
deleted=$playlist
playlist=""
call GET "/api/v1/playlists/$deleted"
expect 404 "GET /api/v1/playlists/$deleted after DELETE"
echo "GET /api/v1/playlists/$deleted -> 404: $(json_get "$work/body" detail)"
echo "done"
