"""Library scanning: a generated library of small tagged files scanned from an empty
database and rescanned with nothing changed, on SQLite and on PostgreSQL, beside a plain
mutagen loop over the same files.

Run it from the repository root::

    .venv/bin/python benchmarks/scan.py                   # 100,000 files, both databases
    .venv/bin/python benchmarks/scan.py --files 10000     # a quicker look
    .venv/bin/python benchmarks/scan.py --databases sqlite --reference mutagen,probe

What it does, every process started here stopped here:

1. Generates the library once under ``benchmarks/.data/scan/library-<N>/`` (git-ignored;
   reused while its ``.complete`` marker matches): one 2-second template per format made
   with ffmpeg (MP3, FLAC, M4A/AAC, Ogg Vorbis), copied and retagged with mutagen for every
   track (unique titles, artists, albums, track numbers n/total, album artists, about one
   album in eight a compilation, genres, years; an embedded JPEG cover, unique per album,
   in about one album in three), in albums of 6 to 14 tracks under
   ``Artist/Album (Year)/NN - Title.ext``, one format per album.
2. The references, each in a fresh process: ``mutagen`` is ``mutagen.File`` on every file
   in one process (the floor of reading the tags); ``probe`` is the scanner's own per-file
   work (content hash and ``transcoder.probe``) in one process, with no database.
3. Per database (``--databases``): ``streamer scan LIBRARY --no-progress`` from an empty
   database, then again with nothing changed. SQLite lives in a fresh data directory;
   PostgreSQL is a cluster of our own (Debian's server binaries, ``initdb`` in a temporary
   folder, a free port on 127.0.0.1, initdb's default settings: fsync on), stopped and
   removed at the end. The covers a scan stores (``.streamer/`` in the library) are
   removed before each scan from empty.

Each run is timed from process start to exit (the scan's own figure, without start-up
and migrations, is shown beside it); peak RSS is the sum over the scanning process and its
children, sampled every 0.1 s; CPU is theirs (user + system), and for PostgreSQL also the
server's. The files are read once by the references first, so every run starts from the
page cache. Prints a table; raw figures go to benchmarks/results/scan-<time>.json (git
ignores it). A script, not a test: nothing here asserts, but it exits 1 if a scan fails or
its counts are wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import random
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.demo.tags import write_tags  # noqa: E402
from transcoder.ffmpeg import ffmpeg_exe  # noqa: E402

DATA = ROOT / "benchmarks" / ".data" / "scan"
RESULTS = ROOT / "benchmarks" / "results"
LAYOUT_VERSION = 1  # bump when the generated library changes shape
AUDIO = (".mp3", ".flac", ".m4a", ".ogg")
GOAL_EMPTY_S = 120.0
GOAL_RESCAN_S = 10.0

# Album formats, by weight; each template is 2 s of a tone over pink noise.
FORMATS: dict[str, tuple[int, tuple[str, ...]]] = {
    "mp3": (40, ("-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3")),
    "flac": (25, ("-ac", "2", "-ar", "44100", "-c:a", "flac", "-sample_fmt", "s16", "-f", "flac")),
    "m4a": (20, ("-ac", "2", "-ar", "44100", "-c:a", "aac", "-b:a", "128k", "-f", "ipod")),
    "ogg": (15, ("-ac", "2", "-ar", "44100", "-c:a", "libvorbis", "-q:a", "3", "-f", "ogg")),
}
COVER_SIZES = (300, 500, 600, 800)  # base JPEGs; each album's cover is made unique
WORDS = [
    "love", "night", "blue", "river", "fire", "dream", "light", "rain", "gold", "heart",
    "stone", "moon", "road", "wild", "home", "city", "sun", "star", "ocean", "storm",
    "silver", "shadow", "echo", "glass", "summer", "winter", "Café", "Nöel", "Ñandú",
]  # fmt: skip
GENRES = [
    "Rock", "Jazz", "Electronic", "Classical", "Folk", "Hip-Hop", "Ambient", "Blues",
    "Soul", "Metal", "Pop", "Reggae", "Country", "Funk", "Latin", "World",
]  # fmt: skip


# --------------------------------------------------------------------------- processes
# Our own copies, not benchmarks.ranges': that script changes with its own benchmark.


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pids: Sequence[int], *, reaped: int | None = None) -> float:
    """User + system CPU time of ``pids`` (all their threads) so far; with ``reaped``, also
    that of the children that process has waited for (a server's ended sessions)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            if pid == reaped:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --------------------------------------------------------------------------- the library


Track = tuple[str, str, dict[str, str], int | None]  # path, format, tags, cover album number


def plan(files: int, seed: int) -> list[Track]:
    """Every track of the library: seeded, so the same ``files`` gives the same library."""
    rng = random.Random(seed)
    names, weights = list(FORMATS), [w for w, _ in FORMATS.values()]
    tracks: list[Track] = []
    album_number = 0
    while len(tracks) < files:
        album_number += 1
        artist = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {album_number // 4}"
        album = f"{' '.join(rng.sample(WORDS, 2)).title()} {album_number}"
        year = rng.randint(1955, 2026)
        genre = rng.choice(GENRES)
        fmt = rng.choices(names, weights)[0]
        compilation = rng.random() < 0.125
        cover = album_number if rng.random() < 1 / 3 else None
        count = min(rng.randint(6, 14), files - len(tracks))
        album_artist = "Various Artists" if compilation else artist
        folder = f"{album_artist}/{album} ({year})"
        for number in range(1, count + 1):
            title = f"{' '.join(rng.sample(WORDS, 3)).title()} {len(tracks)}"
            tags = {
                "title": title,
                "artist": f"{rng.choice(WORDS).title()} {rng.randint(1, 5000)}"
                if compilation
                else artist,
                "album": album,
                "albumartist": album_artist,
                "tracknumber": f"{number}/{count}",
                "genre": genre,
                "date": str(year),
            }
            path = f"{folder}/{number:02d} - {title}.{fmt}"
            tracks.append((path, fmt, tags, cover))
    return tracks


def ensure_templates(folder: Path) -> None:
    """One short file per format and the base covers, made with ffmpeg once."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg = ffmpeg_exe()
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=2", "-f", "lavfi", "-i",
            "anoisesrc=c=pink:a=0.05:d=2", "-filter_complex", "amix=inputs=2"]  # fmt: skip
    bitexact = ["-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1"]
    for fmt, (_, encoder) in FORMATS.items():
        target = folder / f"template.{fmt}"
        if not target.exists():
            _ffmpeg([ffmpeg, "-nostdin", "-loglevel", "error", "-y", *tone, *bitexact,
                     *encoder, str(target)])  # fmt: skip
    for size in COVER_SIZES:
        target = folder / f"cover-{size}.jpg"
        if not target.exists():
            source = f"gradients=s={size}x{size}:seed={size}:d=1"
            _ffmpeg([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                     source, "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "4", *bitexact,
                     "-f", "image2", str(target)])  # fmt: skip


def _ffmpeg(command: list[str]) -> None:
    tmp = command[-1] + ".part"
    subprocess.run([*command[:-1], tmp], check=True, timeout=60, stdin=subprocess.DEVNULL)
    os.replace(tmp, command[-1])


def _unique_cover(base: bytes, album: int) -> bytes:
    """``base`` with a JPEG comment naming the album: distinct bytes, the same picture."""
    text = f"album {album}".encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + base[2:]


def _write_chunk(library: str, templates: str, tracks: list[Track]) -> int:
    covers = {size: (Path(templates) / f"cover-{size}.jpg").read_bytes() for size in COVER_SIZES}
    for path, fmt, tags, cover_album in tracks:
        target = Path(library) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(templates) / f"template.{fmt}", target)
        cover = None
        if cover_album is not None:
            base = covers[COVER_SIZES[cover_album % len(COVER_SIZES)]]
            cover = _unique_cover(base, cover_album)
        write_tags(target, fmt, tags, cover)
    return len(tracks)


def ensure_library(files: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The library of ``files`` tracks, generated unless its marker says it is complete."""
    library = DATA / f"library-{files}"
    marker = library / ".complete"
    wanted = {"files": files, "seed": seed, "layout": LAYOUT_VERSION}
    if marker.exists() and json.loads(marker.read_text()).get("params") == wanted:
        return library, json.loads(marker.read_text())
    templates = DATA / "templates"
    ensure_templates(templates)
    shutil.rmtree(library, ignore_errors=True)
    library.mkdir(parents=True)
    tracks = plan(files, seed)
    started = time.monotonic()
    print(f"generating {files:,} files in {library} ...", flush=True)
    chunks = [tracks[n : n + 500] for n in range(0, len(tracks), 500)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = [pool.submit(_write_chunk, str(library), str(templates), c) for c in chunks]
        for future in futures:
            future.result(timeout=600)
    by_format: dict[str, int] = {}
    for _, fmt, _, _ in tracks:
        by_format[fmt] = by_format.get(fmt, 0) + 1
    size = sum(p.stat().st_size for p in library.rglob("*") if p.is_file())
    info = {
        "params": wanted,
        "by_format": by_format,
        "with_cover": sum(1 for t in tracks if t[3] is not None),
        "albums": len({t[0].rsplit("/", 1)[0] for t in tracks}),
        "bytes": size,
        "generated_in_s": round(time.monotonic() - started, 1),
    }
    marker.write_text(json.dumps(info))
    print(f"generated in {info['generated_in_s']} s, {size / 1e6:,.0f} MB", flush=True)
    return library, info


def audio_files(library: Path) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(library):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(folder, n) for n in sorted(names) if n.endswith(AUDIO)]
    return found


# --------------------------------------------------------------------------- references


def reference_child(kind: str, library: Path) -> None:
    """Run in a fresh process: read every file as ``kind`` says; print what it took."""
    import mutagen

    from streamer.catalogue.probe_workers import hash_file
    from transcoder.probe import ProbeError, probe

    paths = audio_files(library)
    failed = 0
    started = time.monotonic()  # after the imports
    for path in paths:
        if kind == "mutagen":
            try:
                audio = mutagen.File(path)
                failed += audio is None or not audio.info.length
            except Exception:
                failed += 1
            continue
        with open(path, "rb") as fh:
            _, size = hash_file(fh)
            try:
                probe(fh, path, size)
            except ProbeError:
                failed += 1
    seconds = time.monotonic() - started
    print(json.dumps({"files": len(paths), "failed": failed, "seconds": seconds}))


# --------------------------------------------------------------------------- measuring


class Watched:
    """A process we start, its tree's RSS sampled until it exits (bounded by ``timeout``)."""

    def __init__(self, command: list[str], env: dict[str, str], timeout: float) -> None:
        self.command, self.env, self.timeout = command, env, timeout
        self.peak_kb = 0
        self.stdout = ""
        self.returncode: int | None = None
        self.wall = 0.0
        self.cpu = 0.0

    def run(self) -> Watched:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        done = threading.Event()
        sampler = threading.Thread(target=self._sample, args=(proc.pid, done), daemon=True)
        sampler.start()
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            out, _ = proc.communicate(timeout=30)
            out += f"\n(killed after {self.timeout:.0f} s)".encode()
        self.wall = time.monotonic() - started
        done.set()
        sampler.join(timeout=5)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.stdout = out.decode(errors="replace")
        self.returncode = proc.returncode
        return self

    def _sample(self, pid: int, done: threading.Event) -> None:
        while not done.is_set():
            total = sum(rss_kb(p) for p in [pid, *descendants(pid)])
            self.peak_kb = max(self.peak_kb, total)
            done.wait(0.1)


class Postgres:
    """A PostgreSQL cluster of our own on a free port (as the tests start one)."""

    def __init__(self) -> None:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        found = shutil.which("initdb")
        if not candidates and not found:
            raise RuntimeError(
                "PostgreSQL's server binaries are missing: apt-get install postgresql"
            )
        self.bindir = candidates[0].parent if candidates else Path(str(found)).parent
        self.root = Path(tempfile.mkdtemp(prefix="streamer-bench-pg-"))
        self.data, sockets = self.root / "data", self.root / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            for path in (self.root, sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.port = free_port()
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1"
        self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                   "-w", "-t", "60", "start"])  # fmt: skip
        self.databases = 0

    def _run(self, command: list[str], *, check: bool = True) -> None:
        command = [str(self.bindir / command[0]), *command[1:]]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                       *command]  # fmt: skip
        subprocess.run(command, check=check, capture_output=True, timeout=120)

    def new_database(self) -> str:
        import psycopg

        self.databases += 1
        name = f"scan{self.databases}"
        base = f"postgresql://postgres:bench@127.0.0.1:{self.port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}?ssl=disable"

    def cpu_seconds(self) -> float:
        """CPU time of the server: the postmaster, its processes, and ended sessions'."""
        try:
            leader = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return cpu_seconds([leader, *descendants(leader)], reaped=leader)

    def stop(self) -> None:
        self._run(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"],
                  check=False)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def parse_scan(output: str) -> dict[str, Any]:
    """The counts of `streamer scan`'s summary line."""
    for line in output.splitlines():
        if " files, " in line and " added, " in line:
            counts = line.split(": ", 1)[1]
            fields: dict[str, Any] = {}
            for part in counts.replace(" in ", ", ").split(", "):
                value, _, label = part.partition(" ")
                if label == "s":
                    fields["scan_seconds"] = float(value)
                else:
                    fields[label] = int(value)
            return fields
    return {}


def scan_once(library: Path, data_dir: Path, url: str | None, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "STREAMER_DATA_DIR": str(data_dir)}
    env.pop("STREAMER_DATABASE_URL", None)
    if url:
        env["STREAMER_DATABASE_URL"] = url
    command = [str(ROOT / ".venv" / "bin" / "streamer"), "scan", str(library), "--no-progress"]
    run = Watched(command, env, timeout).run()
    return {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "peak_rss_mb": run.peak_kb / 1024,
        "returncode": run.returncode,
        "output_tail": run.stdout[-2000:],
        **parse_scan(run.stdout),
    }


def run_reference(kind: str, library: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--reference-child", kind,
               str(library)]  # fmt: skip
    run = Watched(command, dict(os.environ), timeout).run()
    result: dict[str, Any] = {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "peak_rss_mb": run.peak_kb / 1024,
        "returncode": run.returncode,
    }
    try:
        result.update(json.loads(run.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        result["output_tail"] = run.stdout[-2000:]
    return result


@contextlib.contextmanager
def postgres_if(wanted: bool) -> Iterator[Postgres | None]:
    if not wanted:
        yield None
        return
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- report


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (f"{'run':<34} | {'database':<10} | {'files':>7} | {'wall s':>7} | {'scan s':>7} | "
            f"{'files/s':>7} | {'CPU s':>7} | {'DB CPU s':>8} | {'peak RSS MB':>11}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for row in rows:
        files = row.get("total", row.get("files", 0)) or 0
        wall = row["wall_s"]
        scan_s = row.get("scan_seconds")
        db_cpu = row.get("db_cpu_s")
        lines.append(
            f"{row['label']:<34} | {row.get('database', '-'):<10} | {files:>7,} | {wall:>7.1f} | "
            f"{'-' if scan_s is None else f'{scan_s:.1f}':>7} | {files / wall:>7,.0f} | "
            f"{row['cpu_s']:>7.1f} | {'-' if db_cpu is None else f'{db_cpu:.1f}':>8} | "
            f"{row['peak_rss_mb']:>11.0f}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="library size (100,000)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")  # fmt: skip
    parser.add_argument("--reference", default="mutagen",
                        help="comma-separated: mutagen, probe; 'none' for none")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run, at most")
    parser.add_argument("--reference-child", nargs=2, metavar=("KIND", "LIBRARY"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    args.databases = [d for d in args.databases.split(",") if d]
    args.reference = [r for r in args.reference.split(",") if r and r != "none"]
    if set(args.databases) - {"sqlite", "postgresql"} or set(args.reference) - {"mutagen", "probe"}:
        parser.error("unknown database or reference")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reference_child:
        reference_child(args.reference_child[0], Path(args.reference_child[1]))
        return 0
    library, info = ensure_library(args.files, args.seed)
    print(f"library: {library} ({info['by_format']}, {info['with_cover']:,} with a cover, "
          f"{info['albums']:,} albums, {info['bytes'] / 1e6:,.0f} MB)", flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    failed = False
    load_before = os.getloadavg()
    labels = {"mutagen": "mutagen.File loop, 1 process", "probe": "hash + probe loop, 1 process"}
    for kind in args.reference:
        print(f"reference: {kind} ...", flush=True)
        result = run_reference(kind, library, args.timeout)
        rows.append({"label": labels[kind], **result})
        if result.get("returncode") != 0 or result.get("files") != args.files:
            failed = True
            print(f"  unexpected outcome:\n{result.get('output_tail', '')}", flush=True)
    with postgres_if("postgresql" in args.databases) as server:
        for database in args.databases:
            data_dir = Path(tempfile.mkdtemp(prefix="streamer-bench-scan-"))
            try:
                url = server.new_database() if database == "postgresql" and server else None
                shutil.rmtree(library / ".streamer", ignore_errors=True)
                for label in ("streamer scan, from empty", "streamer scan, rescan"):
                    print(f"{database}: {label} ...", flush=True)
                    db_before = server.cpu_seconds() if url and server else None
                    result = scan_once(library, data_dir, url, args.timeout)
                    if db_before is not None and server:
                        result["db_cpu_s"] = server.cpu_seconds() - db_before
                    rows.append({"label": label, "database": database, **result})
                    expected = "added" if "empty" in label else "unchanged"
                    if result["returncode"] != 0 or result.get(expected) != args.files:
                        failed = True
                        print(f"  unexpected outcome:\n{result['output_tail']}", flush=True)
            finally:
                shutil.rmtree(data_dir, ignore_errors=True)
    print()
    print(format_table(rows))
    print()
    for database in args.databases:
        empty, rescan = (r for r in rows if r.get("database") == database)
        print(f"{database}: from empty {empty['wall_s']:.1f} s (goal < {GOAL_EMPTY_S:.0f} s: "
              f"{'met' if empty['wall_s'] < GOAL_EMPTY_S else 'NOT met'}), rescan "
              f"{rescan['wall_s']:.1f} s (goal < {GOAL_RESCAN_S:.0f} s: "
              f"{'met' if rescan['wall_s'] < GOAL_RESCAN_S else 'NOT met'})")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"scan-{stamp}.json"
    out.write_text(json.dumps({
        "options": {k: v for k, v in vars(args).items() if k != "reference_child"},
        "library": {"path": str(library), **info},
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_before": load_before, "load_after": os.getloadavg()},
    }, indent=2))  # fmt: skip
    print(f"raw figures: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
