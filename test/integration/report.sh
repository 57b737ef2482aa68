#!/usr/bin/env bash
# pqrt report and pqrt status --watch. A real run (a scheduler and a worker, local storage, 300
# records in jobs of 10, four of them tampered so that they fail for good) is reported: the file
# is mode 0600 and refers to nothing outside itself (an HTML parser written here checks every
# src and href and every URL) and holds no record data or result blob name; headless Chromium
# renders it behind a recording proxy that must see no request (a page that does make one shows
# the proxy would), its screenshot is not blank (the PNG decoded here by hand; a blank page's is)
# and its DOM holds the totals `pqrt status` gives and a row for each failed record. A run of
# 1,000,000 records synthesized in Redis gives a report under 2 MiB with every count right and
# the failures table capped. `status --watch` ends with 0 or 1 as the run did, redraws a
# terminal, prints a line per refresh otherwise, follows a run to its end and stops on SIGTERM.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
STORE="$WORK/store"
STORAGE=(--storage local --local-storage-dir "$STORE")
"$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
"$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
KEYS=(--key aes.encrypted --unwrap-with rsa.pem)
KEY_CFG=(--key-source local --rsa-private-key-file "$WORK/rsa.pem")

PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
common() {
  echo --redis "$URL" "${STORAGE[@]}" "${KEY_CFG[@]}" --encrypted-aes-key-filename aes.encrypted
}
rcli() { redis-cli -u "$URL" "$@"; }

# --- page.py: the report's HTML, read as a browser would ------------------------------------
# page.py refs FILE: fails naming each reference to anything outside the file: a src or href
# that is not a #fragment or data:, a URL anywhere but an xmlns attribute or the CSP, a script,
# link, iframe, object or embed element, url() or @import in a style; and fails without the CSP.
# page.py text FILE ID: the text of the element with that id. page.py failures FILE: the
# data-index of each tr.failure, one a line. page.py count FILE TAG [CLASS]: how many such
# elements. page.py has FILE TEXT: whether the page's text holds TEXT.
cat >page.py <<'PY'
import re, sys
from html.parser import HTMLParser

URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://|//[a-z0-9.-]+\.[a-z]{2,}/")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
FORBIDDEN = {"script", "link", "iframe", "object", "embed", "frame", "base", "form", "audio",
             "video", "source"}
VOID = {"meta", "br", "img", "input", "hr", "col", "area", "wbr", "link", "base", "source"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems, self.csp, self.stack, self.texts, self.text = [], False, [], {}, []
        self.failures, self.counts, self.in_style = [], {}, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for cls in (a.get("class") or "").split() + [""]:
            key = (tag, cls)
            self.counts[key] = self.counts.get(key, 0) + 1
        if tag in FORBIDDEN:
            self.problems.append("a <%s> element" % tag)
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content") == CSP
        for name, value in attrs:
            value = value or ""
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data"):
                if not (value.startswith("#") or value.startswith("data:")):
                    self.problems.append("%s=%r on <%s>" % (name, value, tag))
            if name == "style" and re.search(r"(?i)url\(|@import", value):
                self.problems.append("url() in a style attribute")
            if URL.search(value) and name != "xmlns" and not (tag == "meta" and name == "content"):
                self.problems.append("a URL in %s=%r" % (name, value))
        if tag == "tr" and "failure" in (a.get("class") or "").split():
            self.failures.append(a.get("data-index"))
        self.in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        self.in_style = False
        if tag in VOID or not self.stack:
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.in_style and re.search(r"(?i)url\(|@import", data):
            self.problems.append("url() or @import in a stylesheet")
        if URL.search(data):
            self.problems.append("a URL in the text: %r" % URL.search(data).group(0))
        self.text.append(data)
        for i in self.stack:
            if i:
                self.texts[i] = self.texts.get(i, "") + data


def main():
    mode, path = sys.argv[1], sys.argv[2]
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    if mode == "refs":
        if not p.csp:
            p.problems.append("no Content-Security-Policy meta element with %r" % CSP)
        for problem in p.problems[:20]:
            print("%s: %s" % (path, problem), file=sys.stderr)
        sys.exit(1 if p.problems else 0)
    if mode == "text":
        print(p.texts.get(sys.argv[3], "").strip())
    elif mode == "failures":
        print("\n".join(i or "?" for i in p.failures))
    elif mode == "count":
        print(p.counts.get((sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else ""), 0))
    elif mode == "has":
        sys.exit(0 if sys.argv[3] in "".join(p.text) else 1)


main()
PY
refs() { "$PY" page.py refs "$1" 2>>"$WORK/html.err"; }
text_of() { "$PY" page.py text "$1" "$2"; }

# The checker is not vacuous: it passes a clean page and rejects each kind of reference.
csp='<meta http-equiv="Content-Security-Policy" content="default-src '"'none'"'; style-src '"'unsafe-inline'"'; img-src data:">'
printf '<html><head>%s</head><body><a href="#x">x</a><svg><rect/></svg></body></html>' "$csp" >good.html
check "the HTML checker passes a page that refers to nothing" refs good.html
rejected=0
for bad in '<img src="https://example.com/a.png">' '<link rel="stylesheet" href="x.css">' \
  '<script>1</script>' '<style>body{background:url(x.png)}</style>' \
  '<a href="http://example.com/">x</a>' '<p>see https://example.com/</p>' \
  '<div style="background:url(a)">x</div>'; do
  printf '<html><head>%s</head><body>%s</body></html>' "$csp" "$bad" >bad.html
  refs bad.html || rejected=$((rejected + 1))
done
printf '<html><head></head><body>x</body></html>' >bad.html
refs bad.html || rejected=$((rejected + 1))
check "the HTML checker rejects an image, a stylesheet, a script, url(), links, a URL, no CSP" \
  test "$rejected" -eq 8
: >"$WORK/html.err"

# --- a real run: 300 records in jobs of 10, records 7, 123, 124 and 250 tampered -----------
FAILED_IDX=(7 123 124 250)
# Each record holds a marker that must appear nowhere in the report.
"$PY" -c 'print("\n".join("PLAINTEXT-MARKER record %d" % i for i in range(300)))' >records.txt
"$PQRT" encrypt records "${KEYS[@]}" --in records.txt --out records.encrypted 2>/dev/null
# Change one character inside each of those records (line i + 2: the header is line 1).
"$PY" - records.encrypted "${FAILED_IDX[@]}" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
for i in map(int, sys.argv[2:]):
    line = lines[i + 1]
    lines[i + 1] = line[:40] + ("A" if line[40] != "A" else "B") + line[41:]
open(sys.argv[1], "w").write("\n".join(lines))
PY
"$PQRT" upload $(common) records.encrypted aes.encrypted 2>/dev/null
RUN=(--encrypted-data-filename records.encrypted --processor sleep:20 --records-per-job 10)
"$PQRT" --role=worker $(common) "${RUN[@]}" --concurrency 2 >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
"$PQRT" --role=scheduler $(common) "${RUN[@]}" --run-id r1 >"$WORK/scheduler.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
wait_pid "$SCHED" 300
check_log "the run with four tampered records completes with failures (scheduler exit 1)" \
  scheduler.log test "$rc" -eq 1
stop_pid "$WORKER"

run "$PQRT" status --redis "$URL" --run-id r1
status_total="$(sed -n 's/^total: //p' "$WORK/out")"
status_finished="$(sed -n 's/^finished: //p' "$WORK/out")"
status_failed="$(sed -n 's/^failed: //p' "$WORK/out")"
check "pqrt status counts 300 records: 296 finished, 4 failed" \
  test "$status_total/$status_finished/$status_failed" = 300/296/4

# --- 1: the report file -------------------------------------------------------------------
run "$PQRT" report --redis "$URL" --run-id r1 --out report.html
expect "pqrt report writes the run's report" 0
check "the report is mode 0600" test "$(stat -c %a report.html 2>/dev/null)" = 600
check "the report is not empty" test -s report.html
check "the report refers to nothing outside itself (src, href, URLs, scripts, styles, CSP)" \
  refs report.html
check "the report holds no record data (the marker in every record is not in it)" \
  sh -c "! grep -q 'PLAINTEXT-MARKER' report.html"
blobs="$(find "$STORE" -path '*r1/results/*' -type f | wc -l)"
leaked=0
while IFS= read -r f; do
  grep -qF "$(basename "$f")" report.html && leaked=$((leaked + 1))
done < <(find "$STORE" -path '*r1/results/*' -type f)
check "the report names none of the run's $blobs result blobs" \
  test "$blobs" -gt 0 -a "$leaked" -eq 0 -a "$(grep -c '/results/' report.html)" -eq 0
check "its totals are pqrt status's" \
  test "$(text_of report.html total-records)/$(text_of report.html finished-records)/$(text_of report.html failed-records)" \
  = "$status_total/$status_finished/$status_failed"
check "it lists exactly the four failed records" \
  test "$("$PY" page.py failures report.html | sort -n | tr '\n' ' ')" = "7 123 124 250 "
check "a failure row gives the tampered record's error" \
  "$PY" page.py has report.html "authentication failed"
check "the workers table has the run's one worker, with its 300 records" \
  test "$("$PY" page.py count report.html tr worker)" = 1 -a \
  "$(grep -o '<td class="n">300</td>' report.html | wc -l)" -ge 1
check "it has the records-over-time and job-duration charts" \
  test "$("$PY" page.py count report.html polyline)" -ge 2 -a \
  "$("$PY" page.py count report.html rect bar)" -ge 1
check "the queue chart comes from the run monitor's samples (no autoscaler ran)" \
  test "$(rcli llen pqrt:run:r1:samples)" -ge 1 -a "$(rcli llen pqrt:run:r1:autoscale)" = 0 -a \
  -n "$(grep -o 'id="load-chart"' report.html)" -a \
  -n "$("$PY" page.py has report.html "run monitor's samples" && echo yes)"

run "$PQRT" report --redis "$URL" --run-id nosuch --out nosuch.html
expect "a run that is not in Redis: exit 1, naming it" 1 "no run nosuch in Redis"
check "and no file is written" test ! -e nosuch.html
DEAD="$(free_port)"
run "$PQRT" report --redis "redis://127.0.0.1:$DEAD" --run-id r1 --out dead.html
expect "Redis unreachable: exit 1, naming the server" 1 "127.0.0.1:$DEAD"
check "and no file is written" test ! -e dead.html
run "$PQRT" report --redis "$URL" --out x.html
expect "no --run-id: a usage error" 2 "run-id"

# --- 2: headless Chromium, behind a proxy that records every request ----------------------
cat >proxy.py <<'PY'
import socketserver, sys, threading

log, port_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if line:
            with lock, open(log, "a") as f:
                f.write(line + "\n")
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


socketserver.ThreadingTCPServer.allow_reuse_address = True
server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
PY
: >proxy.requests
"$PY" proxy.py "$WORK/proxy.requests" "$WORK/proxy.port" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
wait_until 20 "test -s '$WORK/proxy.port'"
PROXY_PORT="$(cat "$WORK/proxy.port" 2>/dev/null)"
CHROMIUM="${TEST_CHROMIUM:-/usr/bin/chromium}"
# chrome ARGS...: headless Chromium with every request through the proxy (loopback too) and the
# browser's own traffic off, so that whatever the proxy sees comes from the page: background
# networking, component updates, sync and the network time query by flags; the on-device model
# manifest (fetched through the component updater even so) from an empty local folder; and the
# sign-in check (ListAccounts, sent for every profile, which no flag turns off) sent to a closed
# loopback port that is the one address not proxied. Output in chrome.log.
mkdir -p "$WORK/no-models"
GAIA_PORT="$(free_port)"
chrome() {
  timeout 120 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
    --proxy-server="http://127.0.0.1:$PROXY_PORT" \
    --proxy-bypass-list="<-loopback>;127.0.0.1:$GAIA_PORT" --gaia-url="http://127.0.0.1:$GAIA_PORT" \
    --user-data-dir="$WORK/chrome-profile" --no-first-run --no-default-browser-check \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --disable-features=NetworkTimeServiceQuerying \
    --optimization-guide-manifest-override="$WORK/no-models" \
    --hide-scrollbars --virtual-time-budget=3000 "$@" 2>>"$WORK/chrome.log"
}
# png.py FILE: "WIDTH HEIGHT COLOURS FOREGROUND_SHARE" of a PNG, decoded here (8-bit RGB/RGBA).
cat >png.py <<'PY'
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG")
pos, idat, width = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        if depth != 8 or colour not in (2, 6) or interlace:
            sys.exit("unsupported PNG: depth %d colour type %d interlace %d" % (depth, colour, interlace))
        bpp = 3 if colour == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
counts = {}
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        counts[px] = counts.get(px, 0) + 1
    prev = line
total = width * height
print(width, height, len(counts), (total - max(counts.values())) / total)
PY
# not_blank PNG: at least 5 colours and over 1% of the pixels not the background.
not_blank() {
  "$PY" png.py "$1" 2>>"$WORK/png.err" |
    awk '{ print > "/dev/stderr"; exit !($3 >= 5 && $4 > 0.01) }' 2>>"$WORK/png.err"
}

if [ ! -x "$CHROMIUM" ]; then
  fail "Chromium renders the report" "no $CHROMIUM (bootstrap/install_deps.sh --test installs it)"
else
  # The proxy sees what a page asks for: images over http, https and from loopback reach it.
  printf '<html><body><img src="http://report-test.invalid/a.png"><img src="https://report-tls.invalid/b.png"><img src="http://127.0.0.1:%s/c.png"></body></html>' \
    "$(free_port)" >fetches.html
  chrome --dump-dom "file://$WORK/fetches.html" >/dev/null
  check "the recording proxy sees a page's requests (a control page: http, https, loopback)" \
    sh -c "grep -q 'GET http://report-test.invalid/a.png' proxy.requests &&
      grep -q 'CONNECT report-tls.invalid:443' proxy.requests && grep -q 'GET http://127.0.0.1:.*/c.png' proxy.requests"
  printf '<html><body style="background:#fff"></body></html>' >blank.html
  chrome --screenshot="$WORK/blank.png" --window-size=1280,2400 "file://$WORK/blank.html" >/dev/null
  check "the blank-screenshot check rejects a blank page's screenshot" \
    sh -c "test -s '$WORK/blank.png' && ! '$PY' png.py '$WORK/blank.png' | awk '{ exit !(\$3 >= 5 && \$4 > 0.01) }'"
  : >proxy.requests

  chrome --screenshot="$WORK/shot.png" --window-size=1280,2400 "file://$WORK/report.html" >/dev/null
  chrome --dump-dom "file://$WORK/report.html" >dom.html
  check "rendering the report made no request at all (the proxy saw none)" \
    test ! -s proxy.requests
  check "the screenshot exists and is not blank (5+ colours, over 1% drawn)" not_blank shot.png
  check "the rendered DOM holds pqrt status's totals" \
    test "$(text_of dom.html total-records)/$(text_of dom.html finished-records)/$(text_of dom.html failed-records)" \
    = "$status_total/$status_finished/$status_failed"
  check "the rendered DOM has a tr.failure for each failed record" \
    test "$("$PY" page.py failures dom.html | sort -n | tr '\n' ' ')" = "7 123 124 250 "
  check "the rendered DOM still refers to nothing outside itself" refs dom.html
  if [ -s proxy.requests ]; then echo "# proxy saw:"; sed 's/^/#   /' proxy.requests | head; fi
fi

# --- 3: a run of 1,000,000 records, synthesized in Redis ----------------------------------
# 998,800 finished in jobs of 64 over an hour by 8 workers (every 5,000th on a second attempt),
# 1,200 failed for good on a third attempt with a 700-character error that tries to be HTML;
# 12 samples and 12 autoscaler rounds. The run hash is r1's with another total.
cat >synth.py <<'PY'
import datetime, json, sys

run, prefix, total = "big", "task-status-", 1000000
out = sys.stdout.buffer
base = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=2)
stamps = {}


def stamp(us):
    s = us // 1000000
    if s not in stamps:
        stamps[s] = (base + datetime.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S")
    return "%s.%06dZ" % (stamps[s], us % 1000000)


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


info = dict(zip(sys.argv[1::2], sys.argv[2::2]))
info.update(total=str(total), records_per_job="64", state="done_with_failures")
args = ["pqrt:run:" + run]
for k, v in info.items():
    args += [k, v]
out.write(cmd("DEL", "pqrt:run:" + run) + cmd("HSET", *args))
error = ("<script>alert('x')</script> & \"quoted\" " + "x" * 700)[:700]
fin, bad = bytearray(total // 8), bytearray(total // 8)
failed = retried = 0
chunk = []
for i in range(total):
    first = i - i % 64
    ended = stamp(i * 3600)  # 3.6 ms apart: one hour
    secs = "%.6f" % (0.05 * 2 ** ((first // 64) % 9))
    worker = "worker-%d" % (first // 64 % 8)
    if i % 833 == 832 and failed < 1200:
        failed += 1
        retried += 1
        bad[i // 8] |= 0x80 >> (i % 8)
        chunk.append(cmd("HSET", prefix + "%s-%d" % (run, i), "state", "failed", "attempts", 3,
                         "job_id", "%s-%d" % (run, first), "worker", worker, "ended_at", ended,
                         "job_secs", secs, "error", error))
    else:
        attempts = 2 if i % 5000 == 0 else 1
        retried += attempts > 1
        fin[i // 8] |= 0x80 >> (i % 8)
        chunk.append(cmd("HSET", prefix + "%s-%d" % (run, i), "state", "finished", "attempts",
                         attempts, "job_id", "%s-%d" % (run, first), "worker", worker,
                         "ended_at", ended, "job_secs", secs))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
out.write(cmd("SET", "pqrt:run:%s:finished" % run, bytes(fin)))
out.write(cmd("SET", "pqrt:run:%s:failed" % run, bytes(bad)))
t0 = int((base - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)
for k in range(12):
    t = t0 + k * 300000
    out.write(cmd("RPUSH", "pqrt:run:%s:samples" % run, json.dumps(
        {"t": t, "done": k * 83000, "failed": k * 100, "total": total, "queued": 15000 - k * 1250,
         "in_flight": 16, "rate": 277})))
    out.write(cmd("RPUSH", "pqrt:run:%s:autoscale" % run, json.dumps(
        {"t": t, "queued": 15000 - k * 1250, "in_flight": 16, "workers": 8, "current": 8,
         "target": 8, "action": "hold", "dry_run": "false"})))
with open("big.expected", "w") as f:
    f.write("%d %d %d %d\n" % (total, total - failed, failed, retried))
PY
mapfile -t r1_info < <(rcli --raw hgetall pqrt:run:r1)
"$PY" synth.py "${r1_info[@]}" | rcli --pipe >synth.log 2>&1
read -r big_total big_finished big_failed big_retried <big.expected 2>/dev/null
check "1,000,000 records are in Redis (status records, bitmaps, samples)" \
  sh -c "grep -q 'errors: 0' synth.log && test '$(rcli exists task-status-big-999999)' = 1 -a \
    '$(rcli bitcount pqrt:run:big:finished)' = '$big_finished' -a '$big_failed' = 1200"
RSS_LIMIT_KB=$((96 * 1024))
run /usr/bin/time -f '%M' -o "$WORK/report.rss" "$PQRT" report --redis "$URL" --run-id big --out big.html
expect "pqrt report on the 1,000,000-record run" 0
size="$(stat -c %s big.html 2>/dev/null || echo 0)"
check "its report is under 2 MiB ($size bytes)" test "$size" -gt 0 -a "$size" -lt 2097152
check "it says 1000000 records, $big_finished finished, $big_failed failed, $big_retried retried" \
  test "$(text_of big.html total-records)/$(text_of big.html finished-records)/$(text_of big.html failed-records)/$(text_of big.html retried-records)" \
  = "$big_total/${big_finished:-?}/${big_failed:-?}/${big_retried:-?}" -a "$big_total" = 1000000
check "it lists 1,000 failures and says how many more there are (200)" \
  test "$("$PY" page.py count big.html tr failure)" = 1000 -a \
  "$(text_of big.html failures-left-out)" = "And 200 more failed records, not listed."
check "the failures are the first 1,000 failed records" \
  test "$("$PY" page.py failures big.html | head -n 2 | tr '\n' ' ')$("$PY" page.py failures big.html | tail -n 1)" = "832 1665 832999"
check "error texts are escaped (no <script>) and cut to 500 characters" \
  sh -c "! grep -q '<script' big.html && grep -q '&lt;script&gt;alert(&#39;x&#39;)' big.html &&
    test \"\$(grep -o '<td class=\"err\">[^<]*' big.html | head -n 1 | sed 's/<td class=\"err\">//; s/&[a-z0-9#]*;/_/g' | wc -m)\" -le 502"
check "the 8 workers are in the workers table" test "$("$PY" page.py count big.html tr worker)" = 8
check "the queue chart comes from the autoscaler's 12 rounds (4 lines)" \
  sh -c "grep -q 'Autoscaler rounds: 12, hold 12' big.html && \
    test \"\$(grep -o '<svg id=\"load-chart\".*</svg>' big.html | grep -o '<polyline' | wc -l)\" = 4"
check "the big report refers to nothing outside itself" refs big.html
# Bounded memory: the records are summed batch by batch, not held (plain builds only).
peak="$(tail -n 1 "$WORK/report.rss" 2>/dev/null)"
if [ "$SANITIZE" = OFF ]; then
  check "pqrt report's peak RSS over 1,000,000 records is under 96 MiB (${peak:-?} KiB)" \
    test "${peak:-999999999}" -lt "$RSS_LIMIT_KB"
fi

# --- 4: pqrt status --watch ----------------------------------------------------------------
# lines FILE PATTERN: FILE has lines, one matches PATTERN, and none holds an escape sequence.
lines() { test -s "$1" && grep -qE "$2" "$1" && ! grep -q $'\x1b' "$1"; }
# drawn FILE: a terminal's screen was cleared and a full progress bar drawn.
drawn() { grep -qF $'\x1b[H\x1b[2J' "$1" && grep -qF "[$(printf '#%.0s' $(seq 40))] 100.0%" "$1"; }
run timeout 60 "$PQRT" status --redis "$URL" --run-id r1 --watch
check "watch on a run complete with failures exits 1 (rc $rc)" test "$rc" -eq 1
check "not on a terminal it prints a line per refresh, with the counts and no escapes" \
  lines "$WORK/out" 'run=r1 .*done=300/300 finished=296 failed=4'
cp "$WORK/out" watch.lines
rcli hset pqrt:run:clean total 3 state 'done' >/dev/null
rcli setbit pqrt:run:clean:finished 0 1 >/dev/null
rcli setbit pqrt:run:clean:finished 1 1 >/dev/null
rcli setbit pqrt:run:clean:finished 2 1 >/dev/null
run timeout 60 "$PQRT" status --redis "$URL" --run-id clean --watch
check "watch on a run complete without failures exits 0 (rc $rc)" test "$rc" -eq 0 -a -s "$WORK/out"
run timeout 60 script -qec "'$PQRT' status --redis '$URL' --run-id clean --watch" /dev/null
check "on a terminal it clears the screen and draws a progress bar" drawn "$WORK/out"
apart() { ! drawn watch.lines && ! lines "$WORK/out" 'run'; }
check "the two checks tell a terminal's screen from lines (each rejects the other)" apart
run timeout 60 "$PQRT" status --redis "$URL" --run-id nosuch --watch
expect "watch on an unknown run exits 1, naming it" 1 "no run nosuch in Redis"
run "$PQRT" status --redis "$URL" --run-id r1 --watch --interval 5ms
expect "an interval under 100ms is a usage error" 2 "interval"
# A run that ends while it is watched: two of three records, then the third.
rcli hset pqrt:run:live total 3 state running >/dev/null
rcli setbit pqrt:run:live:finished 0 1 >/dev/null
rcli setbit pqrt:run:live:failed 1 1 >/dev/null
"$PQRT" status --redis "$URL" --run-id live --watch --interval 200ms >live.out 2>live.err &
LIVE=$!
PIDS+=("$LIVE")
wait_until 30 "grep -q 'done=2/3' '$WORK/live.out'"
rcli setbit pqrt:run:live:finished 2 1 >/dev/null
wait_pid "$LIVE" 60
check "watching a run to its end: it redraws, sees the last record and exits 1 (one failed)" \
  sh -c "test '$rc' -eq 1 && grep -q 'done=2/3' '$WORK/live.out' && tail -n 1 '$WORK/live.out' | grep -q 'done=3/3 finished=2 failed=1'"
rcli hset pqrt:run:stuck total 3 state running >/dev/null
"$PQRT" status --redis "$URL" --run-id stuck --watch --interval 200ms >stuck.out 2>stuck.err &
STUCK=$!
PIDS+=("$STUCK")
wait_until 30 "test \"\$(wc -l <'$WORK/stuck.out')\" -ge 2"
stop_pid "$STUCK"
check "SIGTERM ends a watch at once, with 128 + 15 (rc $rc)" test "$rc" -eq 143
run "$PQRT" status --redis "$URL" --run-id r1
check "without --watch status prints what it did before" \
  sh -c "grep -qx 'run: r1' '$WORK/out' && grep -qx 'finished: 296' '$WORK/out' && grep -qx 'failed: 4' '$WORK/out' && grep -qx 'total: 300' '$WORK/out'"

if [ -s "$WORK/html.err" ]; then echo "# HTML checker:"; sed 's/^/#   /' "$WORK/html.err" | head -20; fi
finish
