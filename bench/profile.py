"""``python -m bench.profile`` (``make profile``): where the time of one request goes, from
Chromium's own CPU profiler.

For each page — authfetch alone (``setup()``), the same with DPoP on, and the
passthrough floor (JavaScript calling one Python function that only calls
``fetch``) — on each interpreter, every page open at once in its own browser
context, it logs in through ``window.peer``, then in ``--rounds`` blocks, the
pages taking turns, warms up and records a CPU profile (a CDP session:
``Profiler.start`` / ``Profiler.stop``, sampling every ``--sampling-us`` µs) over
sequential requests through ``peer.fetch`` (for authfetch:
``window.authfetch.fetch``, body read), ``--requests`` per page in all. Each
block's profile is saved as a ``.cpuprofile`` (Chrome DevTools → Performance →
load profile) in ``bench/results/profile/``, and the self time of every sample
is summed by category, per request, split into the synchronous call (samples
under the call from the driver's loop) and the rest (the promise callbacks that
bring the response back, the body, the browser's own work, idle). The tables go
to the terminal and ``bench/results/profile.md``.

``--no-network`` replaces ``fetch`` in every page, after the login, with one that
answers at once (a ``Response`` made in the page): what is left is each client's
own work per request, without the network, the server or the waits between
them (the figure the timed loop gives is then CPU time per request).

The pure part (:func:`summarize`, :func:`render`) reads a profile as JSON and
needs no browser; the unit tests feed it a hand-made one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, CDPSession, sync_playwright
from pytest_authfetch import AuthfetchServer, ServerOptions

from bench.browser import (
    AUTHFETCH_BARE,
    AUTHFETCH_DPOP,
    BENCH_DIR,
    INTERPRETERS,
    PASSTHROUGH,
    ROOT,
    Client,
    launch,
    login,
    open_pages,
)

RESULTS_DIR = BENCH_DIR / "results" / "profile"
REPORT = BENCH_DIR / "results" / "profile.md"
API_PATH = "/api/me"
WARMUP = 30
#: The pages profiled, in order: name -> the page on each interpreter.
PAGES: dict[str, dict[str, Client]] = {
    "floor": PASSTHROUGH,
    "bare": AUTHFETCH_BARE,
    "dpop": AUTHFETCH_DPOP,
}
#: The function the loop calls for each request: every sample under it is the synchronous call.
CALL_FRAME = "authfetchProfiledCall"
#: The timed loop, run with the profiler on. Requests one after the other, body read.
PROFILED_LOOP = """async ([path, count]) => {
    const authfetchProfiledCall = (url) => peer.fetch(url);
    const failures = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
        const outcome = await authfetchProfiledCall(path);
        if (outcome !== 200) failures.push(outcome);
    }
    return {ms: performance.now() - start, failures};
}"""
#: ``--no-network``: ``fetch`` answers at once, in the page (no network, no server).
NO_NETWORK = """() => {
    window.fetch = () => Promise.resolve(new Response('{"ok": true}', {status: 200}));
}"""
WARMUP_LOOP = """async ([path, count]) => {
    for (let i = 0; i < count; i++) await peer.fetch(path);
}"""

# -- categories --------------------------------------------------------------------------------

IDLE = "idle"
PROGRAM = "program"
BROWSER_GC = "gc"
FETCH = "fetch"
NATIVE = "native"
WASM = "wasm"
MPY_GC = "mpy-gc"
TRANSITION = "transition"
GLUE = "glue"
PYSCRIPT = "pyscript"
HELPERS = "helpers"
DRIVER = "driver"
OTHER = "other"

#: Category -> its label in the tables, in the tables' order.
CATEGORIES = {
    WASM: "interpreter, WebAssembly (the Python running)",
    MPY_GC: "MicroPython GC at the return to JavaScript",
    TRANSITION: "JS <-> WebAssembly transitions",
    GLUE: "interpreter's JavaScript (FFI glue: pyodide.asm.js / micropython.mjs)",
    PYSCRIPT: "PyScript's JavaScript",
    HELPERS: "authfetch's JavaScript helpers (`new Function`)",
    DRIVER: "the page's driver (`window.peer`, the loop)",
    FETCH: "browser `fetch()` call (native)",
    NATIVE: "other Web APIs and builtins (native: text, URL, Headers, JSON, ...)",
    PROGRAM: "(program): browser work outside JavaScript",
    BROWSER_GC: "(garbage collector): V8's GC",
    OTHER: "other JavaScript",
    IDLE: "(idle): waiting for the network",
}

#: Markers in the source of a script with no URL (``new Function``, ``page.evaluate``).
HELPERS_MARKER = "helpers.bridge"
DRIVER_MARKERS = ("window.peer", "authfetchProfiledCall", "peer.fetch")
#: MicroPython's entry for a call from JavaScript into Python; a void ``invoke_v`` straight
#: under it is ``external_call_depth_dec``, which runs the pending GC (``gc_collect_top_level``).
MPY_CALL_ENTRY = "proxy_c_to_js_call"
MPY_GC_WRAPPER = "invoke_v"


@dataclass(frozen=True)
class Frame:
    """One node's call frame: what the profiler knows of the function."""

    name: str
    url: str
    script_id: str

    @property
    def file(self) -> str:
        """The script's file name (the last part of its URL path), or ``""``."""
        return urlsplit(self.url).path.rsplit("/", 1)[-1] if self.url else ""

    @property
    def is_wasm(self) -> bool:
        """A WebAssembly function (named by its index, or by the module's export table)."""
        return self.url.endswith(".wasm") or self.name.startswith("wasm-function[")


def frame_of(node: Mapping) -> Frame:
    """The :class:`Frame` of a profile node."""
    call = node["callFrame"]
    return Frame(call.get("functionName", ""), call.get("url", ""), str(call.get("scriptId", "")))


def wasm_export_names(data: bytes) -> dict[int, str]:
    """Function index -> export name of a WebAssembly module (imports count in the index,
    as in V8's ``wasm-function[N]``). Unexported functions have no name here."""

    def leb(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, at

    def name(at: int) -> tuple[str, int]:
        size, at = leb(at)
        return data[at : at + size].decode("utf-8", "replace"), at + size

    if data[:4] != b"\0asm":
        return {}
    at = 8
    names: dict[int, str] = {}
    while at < len(data):
        section, at = data[at], at + 1
        size, at = leb(at)
        if section == 7:  # exports: name, kind, index (kind 0: a function)
            count, cursor = leb(at)
            for _ in range(count):
                label, cursor = name(cursor)
                kind, cursor = data[cursor], cursor + 1
                index, cursor = leb(cursor)
                if kind == 0:
                    names.setdefault(index, label)
        at += size
    return names


@dataclass
class Scripts:
    """What is known of the profile's scripts beyond their URL: the kind of each script with
    no URL (from its source), and names for WebAssembly functions (by module URL)."""

    kinds: dict[str, str] = field(default_factory=dict)
    wasm_names: dict[str, dict[int, str]] = field(default_factory=dict)

    def wasm_name(self, frame: Frame) -> str:
        """The export name of a ``wasm-function[N]`` frame, else its own name."""
        names = self.wasm_names.get(frame.file)
        if names and frame.name.startswith("wasm-function["):
            index = int(frame.name[len("wasm-function[") : -1])
            return names.get(index, frame.name)
        return frame.name


def kind_of_source(source: str) -> str:
    """The category of a script with no URL, from its source."""
    if HELPERS_MARKER in source:
        return HELPERS
    if any(marker in source for marker in DRIVER_MARKERS):
        return DRIVER
    return OTHER


def category(frame: Frame, scripts: Scripts) -> str:
    """The category of a sample's own frame (its self time)."""
    name, url = frame.name, frame.url
    if name == "(idle)":
        return IDLE
    if name == "(program)":
        return PROGRAM
    if name == "(garbage collector)":
        return BROWSER_GC
    if name in ("(root)", "(unknown)"):
        return OTHER
    if name.startswith(("js-to-wasm", "wasm-to-js")):
        return TRANSITION
    if frame.is_wasm:
        return WASM
    if not url:
        kind = scripts.kinds.get(frame.script_id)
        if kind is not None:
            return kind
        if frame.script_id in ("0", ""):
            return FETCH if name == "fetch" else NATIVE
        return OTHER
    path = urlsplit(url).path
    if "/vendor/pyscript/" in path:
        return PYSCRIPT
    if "/vendor/pyodide/" in path or "/vendor/micropython/" in path:
        return GLUE
    if path.startswith("/bench/"):
        return DRIVER
    return OTHER


@dataclass
class Function:
    """One function's self time over the profile."""

    name: str
    file: str
    category: str
    us: float = 0.0


@dataclass
class Summary:
    """A profile summed by category: microseconds over the whole profile, in the call and
    after it, and the top functions by self time."""

    requests: int
    wall_us: float
    in_call: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    after: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    functions: dict[tuple[str, str, str], Function] = field(default_factory=dict)

    def per_request(self, us: float) -> float:
        """Microseconds per request."""
        return us / self.requests if self.requests else 0.0

    @property
    def busy_us(self) -> float:
        """Everything but idle."""
        return self.wall_us - self.total(IDLE)

    def total(self, key: str) -> float:
        """A category's microseconds, in the call and after it."""
        return self.in_call.get(key, 0.0) + self.after.get(key, 0.0)

    def add(self, other: Summary) -> None:
        """Add another profile's sums (another block of the same page)."""
        self.requests += other.requests
        self.wall_us += other.wall_us
        for mine, theirs in ((self.in_call, other.in_call), (self.after, other.after)):
            for kind, us in theirs.items():
                mine[kind] += us
        for key, function in other.functions.items():
            if key in self.functions:
                self.functions[key].us += function.us
            else:
                self.functions[key] = Function(
                    function.name, function.file, function.category, function.us
                )

    def top(self, count: int = 15) -> list[Function]:
        """The functions with the most self time (idle and program included)."""
        return sorted(self.functions.values(), key=lambda f: -f.us)[:count]


def sample_durations(profile: Mapping) -> list[float]:
    """Each sample's duration in µs: the time to the next sample (the last one: to the end)."""
    stamps: list[float] = []
    now = float(profile["startTime"])
    for delta in profile.get("timeDeltas", []):
        now += max(float(delta), 0.0)
        stamps.append(now)
    ends = [*stamps[1:], max(float(profile["endTime"]), stamps[-1] if stamps else 0.0)]
    return [max(end - start, 0.0) for start, end in zip(stamps, ends, strict=True)]


def summarize(profile: Mapping, requests: int, scripts: Scripts | None = None) -> Summary:
    """Sum the profile's samples by category, per phase (in the call: under the frame
    :data:`CALL_FRAME`), and by function."""
    scripts = scripts or Scripts()
    nodes = {node["id"]: node for node in profile["nodes"]}
    parents = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    frames = {key: frame_of(node) for key, node in nodes.items()}
    in_call: dict[int, bool] = {}
    mpy_gc: dict[int, bool] = {}

    def under_call(key: int) -> bool:
        """Whether the node is (under) the driver's call."""
        if key not in in_call:
            parent = parents.get(key)
            in_call[key] = frames[key].name == CALL_FRAME or (
                parent is not None and under_call(parent)
            )
        return in_call[key]

    def under_mpy_gc(key: int) -> bool:
        """Whether the node is under ``invoke_v`` called from ``proxy_c_to_js_call``."""
        if key not in mpy_gc:
            parent = parents.get(key)
            found = False
            if frames[key].name == MPY_GC_WRAPPER and parent is not None:
                caller = parent
                while caller is not None and frames[caller].name.startswith("wasm-to-js"):
                    caller = parents.get(caller)
                found = caller is not None and scripts.wasm_name(frames[caller]) == MPY_CALL_ENTRY
            mpy_gc[key] = found or (parent is not None and under_mpy_gc(parent))
        return mpy_gc[key]

    durations = sample_durations(profile)
    summary = Summary(requests, sum(durations))
    for key, us in zip(profile.get("samples", []), durations, strict=True):
        frame = frames[key]
        kind = category(frame, scripts)
        if kind == WASM and under_mpy_gc(key):
            kind = MPY_GC
        phase = summary.in_call if under_call(key) else summary.after
        phase[kind] += us
        name = scripts.wasm_name(frame) or "(anonymous)"
        entry = (name, frame.file, kind)
        if entry not in summary.functions:
            summary.functions[entry] = Function(name, frame.file, kind)
        summary.functions[entry].us += us
    return summary


# -- rendering ---------------------------------------------------------------------------------


def _share(part: float, whole: float) -> str:
    """A percentage with one decimal."""
    return f"{100 * part / whole:.1f} %" if whole else "-"


def category_table(summary: Summary) -> list[str]:
    """Markdown lines: per category, µs per request in the call, after it, in all, and the
    share of the wall time and of the busy (non-idle) time."""
    lines = [
        "| where | in the call µs | after µs | per request µs | share | share of busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in CATEGORIES.items():
        total = summary.total(key)
        if not total:
            continue
        busy = _share(total, summary.busy_us) if key != IDLE else ""
        lines.append(
            f"| {label} | {summary.per_request(summary.in_call.get(key, 0.0)):.0f} "
            f"| {summary.per_request(summary.after.get(key, 0.0)):.0f} "
            f"| {summary.per_request(total):.0f} | {_share(total, summary.wall_us)} | {busy} |"
        )
    call = sum(summary.in_call.values())
    after = sum(summary.after.values())
    lines.append(
        f"| **all** | **{summary.per_request(call):.0f}** | **{summary.per_request(after):.0f}** "
        f"| **{summary.per_request(summary.wall_us):.0f}** | 100 % | "
        f"busy {summary.per_request(summary.busy_us):.0f} µs |"
    )
    return lines


def top_table(summary: Summary, count: int = 15) -> list[str]:
    """Markdown lines: the functions with the most self time."""
    lines = [
        "| function | script | where | µs per request | share |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for function in summary.top(count):
        label = CATEGORIES[function.category].split(" (")[0].split(":")[0]
        lines.append(
            f"| `{function.name}` | {function.file or '-'} | {label} "
            f"| {summary.per_request(function.us):.1f} | {_share(function.us, summary.wall_us)} |"
        )
    return lines


def difference_table(base: Summary, other: Summary, base_label: str, label: str) -> list[str]:
    """Markdown lines: per category, µs per request of ``other`` minus ``base``."""
    lines = [
        f"| where | {base_label} µs | {label} µs | difference µs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, name in CATEGORIES.items():
        a, b = base.per_request(base.total(key)), other.per_request(other.total(key))
        if round(a) or round(b):
            lines.append(f"| {name} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")
    a, b = base.per_request(base.wall_us), other.per_request(other.wall_us)
    lines.append(f"| **all** | **{a:.0f}** | **{b:.0f}** | **{b - a:+.0f}** |")
    return lines


def side_by_side_table(results: Sequence[Profiled]) -> list[str]:
    """Markdown lines: every page in a column, per category µs per request in the call and
    in all (``call / all``)."""
    short = {"floor": "floor", "bare": "authfetch", "dpop": "DPoP"}
    heads = [
        f"{short.get(r.page, r.page)}, {INTERPRETERS[r.client.interpreter or 'py'][0]}"
        for r in results
    ]
    lines = [
        "| µs per request: in the call / all | " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * len(results),
    ]
    for key, label in CATEGORIES.items():
        cells = [
            f"{r.summary.per_request(r.summary.in_call.get(key, 0.0)):.0f} / "
            f"{r.summary.per_request(r.summary.total(key)):.0f}"
            for r in results
        ]
        if any(cell != "0 / 0" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = [
        f"**{r.summary.per_request(sum(r.summary.in_call.values())):.0f} / "
        f"{r.summary.per_request(r.summary.wall_us):.0f}**"
        for r in results
    ]
    lines.append("| **all** | " + " | ".join(cells) + " |")
    busy = [f"{r.summary.per_request(r.summary.busy_us):.0f}" for r in results]
    lines.append("| busy (all but idle) | " + " | ".join(busy) + " |")
    return lines


@dataclass
class Profiled:
    """One page's profile: the page, its summary, the measured time, the saved file."""

    client: Client
    page: str
    summary: Summary
    loop_ms: float
    path: Path | None = None


def render(results: Sequence[Profiled], command: str, note: str = "") -> str:
    """The Markdown report: per page its categories and top functions, then each page
    against the passthrough floor of its interpreter."""
    lines = [
        "# Where the time of one request goes (CPU profile)",
        "",
        f"`{command}`. {note}".strip(),
        "",
        "Self time of every sample of Chromium's profiler, summed by category, per request. "
        "*In the call*: samples under the synchronous call from the loop into "
        "`peer.fetch` (for authfetch `window.authfetch.fetch`); *after*: everything else "
        "while the requests ran (the callbacks that bring the response back, reading the "
        "body, the browser's own work, idle).",
    ]
    if len(results) > 1:
        lines += ["", "## Side by side", "", *side_by_side_table(results)]
    for result in results:
        summary = result.summary
        saved = (
            f" Profiles: `{result.path.relative_to(ROOT).parent}/{result.client.key}-*.cpuprofile`."
            if result.path
            else ""
        )
        lines += [
            "",
            f"## {result.client.label}",
            "",
            f"{summary.requests} requests in {result.loop_ms:.0f} ms "
            f"({result.loop_ms * 1000 / summary.requests:.0f} µs each, timed in the page "
            f"with the profiler on).{saved}",
            "",
            *category_table(summary),
            "",
            *top_table(summary),
        ]
    floors = {r.client.interpreter: r for r in results if r.page == "floor"}
    pairs = [(floors.get(r.client.interpreter), r) for r in results if r.page != "floor"]
    bares = {r.client.interpreter: r for r in results if r.page == "bare"}
    pairs += [(bares.get(r.client.interpreter), r) for r in results if r.page == "dpop"]
    for base, other in pairs:
        if base is None:
            continue
        lines += [
            "",
            f"## {other.client.label} against {base.client.label}",
            "",
            *difference_table(base.summary, other.summary, base.page, other.page),
        ]
    return "\n".join(lines) + "\n"


# -- the browser -------------------------------------------------------------------------------


def wasm_names_for(files: Iterable[str]) -> dict[str, dict[int, str]]:
    """Export names of the vendored WebAssembly modules, by file name."""
    names: dict[str, dict[int, str]] = {}
    for path in sorted((ROOT / "vendor").glob("*/*/*.wasm")):
        if path.name in files:
            names[path.name] = wasm_export_names(path.read_bytes())
    return names


def script_kinds(session: CDPSession, profile: Mapping) -> dict[str, str]:
    """The kind of each profiled script with no URL, from its source (Debugger domain,
    enabled only after the profile is taken)."""
    wanted = {
        str(node["callFrame"]["scriptId"])
        for node in profile["nodes"]
        if not node["callFrame"].get("url") and str(node["callFrame"]["scriptId"]) not in ("0", "")
    }
    kinds: dict[str, str] = {}
    session.send("Debugger.enable")
    try:
        for script_id in sorted(wanted):
            try:
                source = session.send("Debugger.getScriptSource", {"scriptId": script_id})
            except Exception:  # collected since: left as "other"
                continue
            kinds[script_id] = kind_of_source(source.get("scriptSource", ""))
    finally:
        session.send("Debugger.disable")
    return kinds


class PageUnderProfile:
    """One page open in its own browser context, logged in, profiled block by block."""

    def __init__(
        self,
        context: BrowserContext,
        origin: str,
        client: Client,
        page_name: str,
        no_network: bool = False,
    ) -> None:
        """Open ``client``'s page and log in (then, ``no_network``, fake ``fetch``)."""
        self.client, self.page_name = client, page_name
        self.page = open_pages(context, origin, client)[0]
        state = login(self.page)
        if not state.get("loggedIn"):
            raise RuntimeError(f"{client.label}: login failed: {state}")
        if no_network:
            self.page.evaluate(NO_NETWORK)
        self.session = context.new_cdp_session(self.page)
        self.result: Profiled | None = None

    def block(self, requests: int, warmup: int, sampling_us: int, number: int) -> None:
        """Warm up, profile ``requests`` requests, save the profile, add it to the result."""
        self.page.evaluate(WARMUP_LOOP, [API_PATH, warmup])
        session = self.session
        session.send("Profiler.enable")
        session.send("Profiler.setSamplingInterval", {"interval": sampling_us})
        session.send("Profiler.start")
        result = self.page.evaluate(PROFILED_LOOP, [API_PATH, requests])
        profile = session.send("Profiler.stop")["profile"]
        session.send("Profiler.disable")
        if result["failures"]:
            raise RuntimeError(f"{self.client.label}: requests failed: {result['failures'][:5]}")
        files = {frame_of(node).file for node in profile["nodes"] if frame_of(node).is_wasm}
        scripts = Scripts(script_kinds(session, profile), wasm_names_for(files))
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.client.key}-{number}.cpuprofile"
        path.write_text(json.dumps(profile))
        summary = summarize(profile, requests, scripts)
        if self.result is None:
            self.result = Profiled(self.client, self.page_name, summary, float(result["ms"]), path)
        else:
            self.result.summary.add(summary)
            self.result.loop_ms += float(result["ms"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests profiled per page")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="blocks per page, the pages taking turns (a busy moment hits all of them)",
    )
    parser.add_argument("--warmup", type=int, default=WARMUP, help="requests before each block")
    parser.add_argument(
        "--interpreter", choices=["py", "mpy", "both"], default="both", help="which interpreter"
    )
    parser.add_argument(
        "--sampling-us", type=int, default=50, help="the profiler's sampling interval (µs)"
    )
    parser.add_argument(
        "--pages",
        default=",".join(PAGES),
        help=f"comma-separated pages to profile: {', '.join(PAGES)}",
    )
    parser.add_argument(
        "--no-network",
        action="store_true",
        help="fetch answers at once in the page: each client's own CPU time per request",
    )
    parser.add_argument("--output", type=Path, default=REPORT, help="the Markdown report")
    args = parser.parse_args(argv)
    args.pages = [name.strip() for name in args.pages.split(",") if name.strip()]
    unknown = [name for name in args.pages if name not in PAGES]
    if unknown:
        parser.error(f"unknown page {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    return args


def main(argv: list[str]) -> int:
    """Start the mock server and Chromium, profile each page, print and write the report."""
    args = parse_args(argv)
    interpreters = list(INTERPRETERS) if args.interpreter == "both" else [args.interpreter]
    started = time.perf_counter()
    results: list[Profiled] = []
    for stale in RESULTS_DIR.glob("*.cpuprofile"):
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="authfetch-profile-") as tmp:
        # Long-lived tokens: no refresh falls due while the requests run.
        server = AuthfetchServer.launch(
            Path(tmp) / "profile.sqlite3", ServerOptions(access_ttl=600)
        )
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                chromium = f"Chromium {browser.version}"
                pages = []
                for interpreter in interpreters:
                    for page_name in args.pages:
                        client = PAGES[page_name][interpreter]
                        print(f"profile: opening {client.label}", flush=True)
                        context = browser.new_context()
                        pages.append(
                            PageUnderProfile(
                                context, server.url, client, page_name, args.no_network
                            )
                        )
                per_block = -(-args.requests // args.rounds)
                for number in range(1, args.rounds + 1):
                    for page in pages:
                        print(f"profile: round {number}, {page.client.label}", flush=True)
                        page.block(per_block, args.warmup, args.sampling_us, number)
                results = [page.result for page in pages if page.result is not None]
                browser.close()
        finally:
            server.stop()
    command = "make profile" + (f' PROFILE_ARGS="{" ".join(argv)}"' if argv else "")
    note = (
        f"{chromium}, sampling every {args.sampling_us} µs, every page open at once, "
        f"{args.rounds} blocks each taking turns, each after {args.warmup} warm-up requests, "
        f"{time.perf_counter() - started:.0f} s in all."
        + (" No network: `fetch` answered at once in the page." if args.no_network else "")
    )
    report = render(results, command, note)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print()
    print(report)
    print(f"profile: report written to {args.output}, profiles in {RESULTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
