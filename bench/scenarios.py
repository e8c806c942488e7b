"""The scenarios: each drives every client the same way and returns one Markdown table.

A client that fails (an exception, a timeout) gets a "failed" row and the
failure is listed at the end of the run; the other clients still run.
"""

from __future__ import annotations

import math
import statistics
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import count
from typing import TypeVar

from playwright.sync_api import Browser, Page

from bench.browser import (
    AUTHFETCH,
    AUTHFETCH_BARE,
    CLASSIC,
    CLIENTS,
    PEERS,
    PYSCRIPT_ONLY,
    READY_PROBE,
    READY_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    Client,
    StaticServer,
    login,
    new_context,
    open_pages,
)
from e2e_tests.serverproc import ServerProcess

#: Past the access token's 30 s lifetime plus the server's 5 s leeway.
EXPIRE_S = 40
#: The access token's usable life on the server: 30 s TTL + 5 s leeway.
LIFETIME_S = 35.0
BURST_REQUESTS = 50
TABS = 5
REQUESTS_PER_TAB = 10
OVERHEAD_WARMUP = 10
API_PATH = "/api/me"

#: Overhead, start-up and memory also measure authfetch alone on a page (no demo UI)...
PAGE_CLIENTS = (AUTHFETCH, AUTHFETCH_BARE, *PEERS)
#: ...and start-up and memory the platform alone, PyScript + Pyodide with nothing on top.
STARTUP_CLIENTS = (PYSCRIPT_ONLY, *PAGE_CLIENTS)

_keys = count(1)
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """How much work each scenario does."""

    burst_runs: int = 3
    tabs_runs: int = 3
    lifetimes: int = 30
    overhead_requests: int = 200
    overhead_rounds: int = 4
    startup_runs: int = 3
    memory_runs: int = 3

    @classmethod
    def quick(cls) -> Settings:
        """A smaller run for a quick look (one round of each, fewer requests)."""
        return cls(
            burst_runs=1,
            tabs_runs=1,
            lifetimes=5,
            overhead_requests=50,
            overhead_rounds=2,
            startup_runs=1,
            memory_runs=1,
        )


@dataclass
class Bench:
    """What every scenario needs: the browser, the servers and the settings."""

    browser: Browser
    strict: ServerProcess
    lenient: ServerProcess
    static: StaticServer
    settings: Settings
    failures: list[str] = field(default_factory=list)


@dataclass
class Table:
    """One scenario's results as a Markdown table plus notes."""

    key: str
    title: str
    what: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_failure(self, bench: Bench, client_label: str, error: BaseException) -> None:
        """A "failed" row for ``client_label``, and the failure in the run's list."""
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        message = f"{type(error).__name__}: {first_line}"
        self.rows.append([client_label, f"**failed**: {message}"] + [""] * (len(self.columns) - 2))
        bench.failures.append(f"{self.key} / {client_label}: {message}")
        traceback.print_exception(error)

    def markdown(self) -> str:
        """The table under its title, with the description and notes."""
        lines = [f"### {self.title}", "", self.what, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in self.columns) + " |")
        for row in self.rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


# -- small helpers ---------------------------------------------------------------


def reset(server: ServerProcess) -> None:
    """No sessions, zero counters, real time, no faults."""
    server.reset()


def advance(server: ServerProcess, seconds: float) -> None:
    """Move the server clock forward."""
    server.advance(seconds)


def stats(server: ServerProcess) -> dict[str, int]:
    """The server's counters."""
    return dict(server.stats())


def refresh_calls(counters: dict[str, int]) -> int:
    """Refresh requests that reached the server (``reuse_detected`` is a subset of failed)."""
    return counters["refresh_ok"] + counters["refresh_failed"]


def fire(page: Page, count_: int, path: str = API_PATH) -> list:
    """Fire ``count_`` concurrent ``peer.fetch(path)``; their outcomes (status or error name)."""
    key = f"k{next(_keys)}"
    page.evaluate(
        """([path, n, key]) => {
            window.__benchDone = window.__benchDone || {};
            Promise.all(Array.from({length: n}, () => peer.fetch(path))).then(
                (outcomes) => { window.__benchDone[key] = outcomes; },
                (error) => { window.__benchDone[key] = ['driver error: ' + error]; });
        }""",
        [path, count_, key],
    )
    page.wait_for_function(
        "key => window.__benchDone[key] !== undefined", arg=key, timeout=REQUEST_TIMEOUT_MS
    )
    return page.evaluate("key => window.__benchDone[key]", key)


def others(outcomes: Iterable) -> str:
    """The outcomes other than 200 with their counts (``401: 49``), or ``""``."""
    counted = Counter(str(outcome) for outcome in outcomes if outcome != 200)
    return ", ".join(f"{outcome}: {n}" for outcome, n in counted.most_common())


def med(values: Iterable[float]) -> str:
    """The median, without a trailing ``.0`` for whole numbers."""
    value = statistics.median(list(values))
    return f"{value:g}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def for_each_client(
    bench: Bench, table: Table, clients: Iterable[Client], body: Callable[[Client], None]
) -> None:
    """Run ``body`` for every client; a failure becomes a row and the others go on."""
    for client in clients:
        print(f"  {table.key}: {client.label}", flush=True)
        try:
            body(client)
        except Exception as error:
            table.add_failure(bench, client.label, error)


def round_robin(
    bench: Bench, table: Table, items: list[T], rounds: int, step: Callable[[T, int], None]
) -> list[T]:
    """Run ``step(item, round)`` for every item in every round, the order rotating each round.

    An item whose step fails gets a failure row and is left out of later rounds;
    the items that never failed are returned, in their original order.
    """
    failed: set[int] = set()
    for round_ in range(rounds):
        shift = round_ % len(items)
        for index in [*range(shift, len(items)), *range(shift)]:
            if index in failed:
                continue
            label = getattr(items[index], "label", str(items[index]))
            print(f"  {table.key}: {label} (round {round_ + 1} of {rounds})", flush=True)
            try:
                step(items[index], round_)
            except Exception as error:
                failed.add(index)
                table.add_failure(bench, label, error)
    return [item for index, item in enumerate(items) if index not in failed]


# -- 1. burst ----------------------------------------------------------------------


@dataclass
class Round:
    """One round at expiry: refresh calls, outcomes, revocation, tabs still logged in."""

    refreshes: int
    outcomes: list
    revoked: bool
    kept: int | None = None

    @property
    def ok(self) -> int:
        """Requests answered 200."""
        return sum(1 for outcome in self.outcomes if outcome == 200)

    def describe(self) -> str:
        """``1 refresh, 50/50 ok, kept`` and the other outcomes."""
        noun = "refresh" if self.refreshes == 1 else "refreshes"
        text = f"{self.refreshes} {noun}, {self.ok}/{len(self.outcomes)} ok"
        if self.kept is not None:
            text += f", kept in {self.kept} tabs"
        text += ", **revoked**" if self.revoked else ""
        rest = others(self.outcomes)
        return text + (f" ({rest})" if rest else "")


def burst(bench: Bench) -> Table:
    """50 concurrent requests right after expiry in one tab, reuse grace 0."""
    runs = bench.settings.burst_runs
    table = Table(
        "burst",
        f"burst: {BURST_REQUESTS} concurrent requests at expiry, one tab, reuse grace 0 "
        f"({runs} runs)",
        "Log in, move the server clock past the access token's expiry, fire "
        f"{BURST_REQUESTS} `GET {API_PATH}` at once. Refresh calls = the server's "
        "`refresh_ok + refresh_failed`; revoked = the server detected reuse of a "
        "rotated refresh token and revoked the login.",
        ["client", "refresh calls (median)", f"ok of {BURST_REQUESTS} (median)", "revoked", "runs"],
    )
    server = bench.strict

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            page = open_pages(context, server.url, client)[0]
            rounds = []
            for _ in range(runs):
                reset(server)
                login(page)
                advance(server, EXPIRE_S)
                outcomes = fire(page, BURST_REQUESTS)
                counters = stats(server)
                rounds.append(
                    Round(refresh_calls(counters), outcomes, counters["reuse_detected"] > 0)
                )
        table.rows.append(
            [
                client.label,
                med(r.refreshes for r in rounds),
                med(r.ok for r in rounds),
                f"{sum(r.revoked for r in rounds)} of {runs}",
                "; ".join(r.describe() for r in rounds),
            ]
        )

    for_each_client(bench, table, CLIENTS, body)
    return table


# -- 2. tabs -------------------------------------------------------------------------

#: Each tab fires when a BroadcastChannel message arrives, so all start together.
ARM_TAB = """([requests, path]) => {
    window.__benchRounds = {};
    const fire = (round) => Promise.all(Array.from({length: requests}, () => peer.fetch(path)))
        .then((outcomes) => { window.__benchRounds[round] = outcomes; },
              (error) => { window.__benchRounds[round] = ['driver error: ' + error]; });
    const channel = new BroadcastChannel('authfetch-bench-go');
    channel.onmessage = (event) => fire(event.data);
    window.__benchGo = (round) => { channel.postMessage(round); fire(round); };
}"""


def tabs(bench: Bench) -> Table:
    """Five tabs, ten requests each, fired at the same instant at expiry, reuse grace 0."""
    runs = bench.settings.tabs_runs
    total = TABS * REQUESTS_PER_TAB
    table = Table(
        "tabs",
        f"tabs: {TABS} tabs, {REQUESTS_PER_TAB} requests each at expiry, fired together, "
        f"reuse grace 0 ({runs} runs)",
        f"{TABS} tabs of one browser context share the login (localStorage). After expiry "
        "one tab posts a BroadcastChannel message and every tab fires its requests in the "
        "same instant. Kept = tabs that are still logged in and get a 200 for one more "
        "request afterwards.",
        [
            "client",
            "refresh calls (median)",
            f"ok of {total} (median)",
            f"tabs keeping the session (of {TABS}, median)",
            "revoked",
            "runs",
        ],
    )
    server = bench.strict

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            pages = open_pages(context, server.url, client, TABS)
            for page in pages:
                page.evaluate(ARM_TAB, [REQUESTS_PER_TAB, API_PATH])
            rounds = []
            for run in range(1, runs + 1):
                reset(server)
                expires = login(pages[0])["expiresAt"]
                for page in pages[1:]:
                    page.wait_for_function(
                        "e => peer.state().loggedIn && peer.state().expiresAt === e",
                        arg=expires,
                        timeout=REQUEST_TIMEOUT_MS,
                    )
                advance(server, EXPIRE_S)
                pages[0].evaluate("run => window.__benchGo(run)", run)
                outcomes = []
                for page in pages:
                    page.wait_for_function(
                        "run => window.__benchRounds[run] !== undefined",
                        arg=run,
                        timeout=REQUEST_TIMEOUT_MS,
                    )
                    outcomes += page.evaluate("run => window.__benchRounds[run]", run)
                counters = stats(server)
                kept = sum(1 for page in pages if still_logged_in(page))
                rounds.append(
                    Round(refresh_calls(counters), outcomes, counters["reuse_detected"] > 0, kept)
                )
        table.rows.append(
            [
                client.label,
                med(r.refreshes for r in rounds),
                med(r.ok for r in rounds),
                med(r.kept or 0 for r in rounds),
                f"{sum(r.revoked for r in rounds)} of {runs}",
                "; ".join(r.describe() for r in rounds),
            ]
        )

    for_each_client(bench, table, CLIENTS, body)
    return table


def still_logged_in(page: Page) -> bool:
    """The tab holds a session and one more request through it is answered 200."""
    if not page.evaluate("peer.state().loggedIn"):
        return False
    return fire(page, 1) == [200]


# -- 3. lifetimes ------------------------------------------------------------------------


def lifetimes(bench: Bench) -> Table:
    """Many access lifetimes with a request every half lifetime, on fake clocks."""
    n = bench.settings.lifetimes
    step = LIFETIME_S / 2
    table = Table(
        "lifetimes",
        f"lifetimes: {n} access lifetimes, a request every half lifetime",
        f"A request every {step:g} s (half of the access token's 30 s + 5 s server leeway) "
        f"for {n} lifetimes ({2 * n} requests). The server's test clock and the page's "
        "clock (Playwright `page.clock`) are moved forward together, so this takes seconds. "
        "401s = the server's `api_401`.",
        ["client", "401s on the wire", "refresh calls", "failed requests", "requests"],
    )
    server = bench.lenient

    def body(client: Client) -> None:
        with new_context(bench.browser) as context:
            page = open_pages(context, server.url, client, fake_clock=True)[0]
            reset(server)
            login(page)
            outcomes = []
            for _ in range(2 * n):
                advance(server, step)
                page.clock.fast_forward(int(step * 1000))
                outcomes += fire(page, 1)
            counters = stats(server)
        failed = len(outcomes) - outcomes.count(200)
        rest = others(outcomes)
        table.rows.append(
            [
                client.label,
                str(counters["api_401"]),
                str(refresh_calls(counters)),
                f"{failed}" + (f" ({rest})" if rest else ""),
                str(len(outcomes)),
            ]
        )

    for_each_client(bench, table, CLIENTS, body)
    return table


# -- 4. overhead -------------------------------------------------------------------------

#: Sequential requests timed in the page; ``token`` set means a raw ``fetch``.
OVERHEAD_LOOP = """async ([path, count, warmup, token]) => {
    const call = token === null ? () => peer.fetch(path) : () =>
        fetch(path, {headers: {Authorization: 'Bearer ' + token}})
            .then(async (response) => { await response.text(); return response.status; });
    for (let i = 0; i < warmup; i++) await call();
    const times = [], failures = [];
    for (let i = 0; i < count; i++) {
        const start = performance.now();
        const outcome = await call();
        times.push(performance.now() - start);
        if (outcome !== 200) failures.push(outcome);
    }
    return {times, failures};
}"""


@dataclass
class Subject:
    """One row of the overhead table: a client's page, or raw ``fetch`` in a peer's page."""

    label: str
    client: Client
    raw: bool = False
    times: list[float] = field(default_factory=list)
    refreshes: int = 0


def overhead(bench: Bench) -> Table:
    """Per-request time of sequential requests with a valid token, clients interleaved."""
    n, rounds = bench.settings.overhead_requests, bench.settings.overhead_rounds
    per_block = math.ceil(n / rounds)
    table = Table(
        "overhead",
        f"overhead: per-request time, {per_block * rounds} sequential `GET {API_PATH}` "
        "with a valid token",
        "Timed in the page with `performance.now()` around each request, body read. "
        f"Every client's page is open at once; the requests run in {rounds} blocks of "
        f"{per_block} per client, taking turns (so a busy moment of the machine hits all "
        f"of them), each block after a fresh login and {OVERHEAD_WARMUP} warm-up requests. "
        "Raw fetch adds the Authorization header by hand (in the classic peer's page).",
        ["client", "median ms", "p90 ms", "requests", "refresh calls during the run"],
    )
    server = bench.lenient
    subjects = [Subject("raw fetch (hand-added header)", CLASSIC, raw=True)]
    subjects += [Subject(client.label, client) for client in PAGE_CLIENTS]
    with ExitStack() as stack:
        pages: dict[str, Page] = {}

        def open_page(client: Client, _round: int) -> None:
            context = stack.enter_context(new_context(bench.browser))
            pages[client.key] = open_pages(context, server.url, client)[0]

        round_robin(bench, table, list(PAGE_CLIENTS), 1, open_page)
        reset(server)

        def block(subject: Subject, _round: int) -> None:
            page = pages.get(subject.client.key)
            if page is None:
                raise RuntimeError(f"{subject.client.label} page did not open")
            login(page)  # a fresh token: no refresh falls due during the block
            token = page.evaluate("peer.accessToken()") if subject.raw else None
            before = refresh_calls(stats(server))
            result = page.evaluate(OVERHEAD_LOOP, [API_PATH, per_block, OVERHEAD_WARMUP, token])
            subject.refreshes += refresh_calls(stats(server)) - before
            if result["failures"]:
                raise RuntimeError(f"requests failed: {others(result['failures'])}")
            subject.times += result["times"]

        for subject in round_robin(bench, table, subjects, rounds, block):
            times = subject.times
            table.rows.append(
                [
                    subject.label,
                    f"{statistics.median(times):.2f}",
                    f"{percentile(times, 0.9):.2f}",
                    str(len(times)),
                    str(subject.refreshes),
                ]
            )
    return table


# -- 5. start-up ----------------------------------------------------------------------------


def page_url(bench: Bench, client: Client) -> str:
    """Where start-up loads ``client``: the demo from its server, the rest from the static one."""
    return (bench.static.url if client.routed else bench.lenient.url) + client.path


def load_ready_ms(page: Page, url: str) -> float:
    """Navigate to ``url``; ms from navigation start until the page marked itself ready."""
    page.goto(url)
    page.wait_for_function("window.__benchReadyAt !== undefined", timeout=READY_TIMEOUT_MS)
    return page.evaluate("window.__benchReadyAt")


def startup(bench: Bench) -> Table:
    """Navigation to ready, cold (new context) and warm (second load, cached)."""
    runs = bench.settings.startup_runs
    table = Table(
        "startup",
        f"start-up: navigation to ready (median of {runs})",
        "`performance.now()` when the page sets its ready marker (authfetch: "
        '`data-authfetch="ready"`; peers: `data-peer="ready"`; baseline: '
        '`data-pyscript="ready"`), i.e. ms since navigation start. '
        "Cold = first load in a new browser context; warm = the second load in "
        "the same context (HTTP cache filled). The clients take turns in each run. The "
        "demo page comes from the project's server; the other pages from a "
        "small static server with the same caching (versioned files immutable, pages "
        "revalidated).",
        ["client", "cold ms (median)", "warm ms (median)", "cold runs", "warm runs"],
    )
    cold: dict[str, list[float]] = {client.key: [] for client in STARTUP_CLIENTS}
    warm: dict[str, list[float]] = {client.key: [] for client in STARTUP_CLIENTS}

    def load_twice(client: Client, _round: int) -> None:
        with new_context(bench.browser) as context:
            context.add_init_script(READY_PROBE)
            page = context.new_page()
            cold[client.key].append(load_ready_ms(page, page_url(bench, client)))
            warm[client.key].append(load_ready_ms(page, page_url(bench, client)))

    for client in round_robin(bench, table, list(STARTUP_CLIENTS), runs, load_twice):
        table.rows.append(
            [
                client.label,
                f"{statistics.median(cold[client.key]):.0f}",
                f"{statistics.median(warm[client.key]):.0f}",
                ", ".join(f"{value:.0f}" for value in cold[client.key]),
                ", ".join(f"{value:.0f}" for value in warm[client.key]),
            ]
        )
    return table


# -- 6. memory --------------------------------------------------------------------------------

#: Keeps the WebAssembly memories a page instantiates (exported or imported) for measuring.
WASM_PROBE = """(() => {
    const memories = new Set();
    const keep = (value) => { if (value instanceof WebAssembly.Memory) memories.add(value); };
    const collect = (result) => {
        const instance =
            result instanceof WebAssembly.Instance ? result : result && result.instance;
        if (instance) Object.values(instance.exports).forEach(keep);
        return result;
    };
    for (const name of ['instantiate', 'instantiateStreaming']) {
        const original = WebAssembly[name];
        WebAssembly[name] = function (source, imports, ...rest) {
            for (const module of Object.values(imports || {})) {
                Object.values(module || {}).forEach(keep);
            }
            return original.call(this, source, imports, ...rest).then(collect);
        };
    }
    window.__benchWasmBytes = () =>
        [...memories].reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
})();"""


def memory(bench: Bench) -> Table:
    """JavaScript heap and WebAssembly memory in use once the page is ready."""
    runs = bench.settings.memory_runs
    table = Table(
        "memory",
        f"memory: after start-up, garbage collected (median of {runs})",
        "Once the page is ready (logged out): the V8 heap in use (CDP `Runtime.getHeapUsage` "
        "after `HeapProfiler.collectGarbage`) and the WebAssembly linear memory the page "
        "instantiated (Pyodide's, recorded by wrapping `WebAssembly.instantiate*`). "
        "authfetch is the whole demo page (PyScript, Pyodide, the wheels, the library, "
        "the demo UI); the bare page drops the demo UI; the baseline is PyScript + "
        "Pyodide with nothing on top.",
        ["client", "JS heap used MB", "WebAssembly memory MB", "total MB"],
    )

    def body(client: Client) -> None:
        heaps, wasm = [], []
        for _ in range(runs):
            with new_context(bench.browser) as context:
                context.add_init_script(READY_PROBE)
                context.add_init_script(WASM_PROBE)
                page = context.new_page()
                load_ready_ms(page, page_url(bench, client))
                cdp = context.new_cdp_session(page)
                cdp.send("HeapProfiler.collectGarbage")
                heaps.append(cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20)
                wasm.append(page.evaluate("window.__benchWasmBytes()") / 2**20)
        heap, linear = statistics.median(heaps), statistics.median(wasm)
        table.rows.append([client.label, f"{heap:.1f}", f"{linear:.1f}", f"{heap + linear:.1f}"])

    for_each_client(bench, table, STARTUP_CLIENTS, body)
    return table


SCENARIOS: dict[str, Callable[[Bench], Table]] = {
    "burst": burst,
    "tabs": tabs,
    "lifetimes": lifetimes,
    "overhead": overhead,
    "startup": startup,
    "memory": memory,
}
