"""The profiling harness's pure part (bench/profile.py): a hand-made CPU profile summed by
category, per request, in the call and after it. No browser."""

from __future__ import annotations

import pytest

from bench.profile import (
    CALL_FRAME,
    DRIVER,
    FETCH,
    GLUE,
    HELPERS,
    IDLE,
    MPY_GC,
    NATIVE,
    OTHER,
    PROGRAM,
    PYSCRIPT,
    TRANSITION,
    WASM,
    Frame,
    Scripts,
    category,
    category_table,
    kind_of_source,
    render,
    sample_durations,
    summarize,
    top_table,
    wasm_export_names,
)

ORIGIN = "http://127.0.0.1:8000"
MPY = f"{ORIGIN}/vendor/micropython/v/micropython.wasm"
MPY_JS = f"{ORIGIN}/vendor/micropython/v/micropython.mjs"


def node(key: int, name: str, url: str = "", script: str = "0", children=()) -> dict:
    """A profile node."""
    return {
        "id": key,
        "callFrame": {"functionName": name, "url": url, "scriptId": script},
        "children": list(children),
    }


def hand_made() -> dict:
    """A small MicroPython-like profile: the loop's call into Python, a fetch through the
    helpers, a collection on the way back to JavaScript, then idle and program.

    Tree: root -> idle(2), program(3), loop(4) -> call(5) -> glue(6) -> entry(7) ->
    [wasm-to-js(8) -> invoke_v(9) -> gc(10)], [wasm-to-js(11) -> helpers.fetch(12) ->
    fetch(13)], vm(14).
    """
    nodes = [
        node(1, "(root)", children=[2, 3, 4]),
        node(2, "(idle)"),
        node(3, "(program)"),
        node(4, "", script="40", children=[5]),
        node(5, CALL_FRAME, script="40", children=[6]),
        node(6, "ccall", MPY_JS, "23", children=[7]),
        node(7, "wasm-function[1360]", MPY, "24", children=[8, 11, 14]),
        node(8, "wasm-to-js", script="-1", children=[9]),
        node(9, "invoke_v", MPY_JS, "23", children=[10]),
        node(10, "wasm-function[80]", MPY, "24"),
        node(11, "wasm-to-js", script="-1", children=[12]),
        node(12, "helpers.fetch", script="26", children=[13]),
        node(13, "fetch"),
        node(14, "wasm-function[1054]", MPY, "24"),
    ]
    # Every sample lasts 100 µs (the last one: until endTime).
    samples = [2, 2, 2, 2, 3, 10, 10, 13, 13, 13, 12, 14, 8, 4]
    return {
        "nodes": nodes,
        "startTime": 1_000,
        "endTime": 1_000 + 100 * len(samples),
        "samples": samples,
        "timeDeltas": [0] + [100] * (len(samples) - 1),
    }


SCRIPTS = Scripts(
    kinds={"26": HELPERS, "40": DRIVER},
    wasm_names={"micropython.wasm": {1360: "proxy_c_to_js_call"}},
)


def test_sample_durations_run_to_the_next_sample_and_the_last_to_the_end():
    """Each sample lasts until the next one; the last one until the profile's end."""
    profile = {"startTime": 0, "endTime": 1000, "timeDeltas": [100, 200, 300]}
    assert sample_durations(profile) == [200.0, 300.0, 400.0]


def test_categories_by_name_url_and_script_kind():
    """Frames fall into categories by their name, their script's URL or the script's kind."""
    scripts = Scripts(kinds={"26": HELPERS})
    assert category(Frame("(idle)", "", "0"), scripts) == IDLE
    assert category(Frame("(program)", "", "0"), scripts) == PROGRAM
    assert category(Frame("fetch", "", "0"), scripts) == FETCH
    assert category(Frame("text", "", "0"), scripts) == NATIVE
    assert category(Frame("helpers.fetch", "", "26"), scripts) == HELPERS
    assert category(Frame("x", "", "99"), scripts) == OTHER
    assert category(Frame("wasm-function[3]", MPY, "24"), scripts) == WASM
    assert category(Frame("wasm-function[1]", "63d3739a", "56"), scripts) == WASM
    assert category(Frame("js-to-wasm:ii:i", MPY, "24"), scripts) == TRANSITION
    assert category(Frame("obj", MPY_JS, "23"), scripts) == GLUE
    pyscript = f"{ORIGIN}/vendor/pyscript/v/core-C9KDLldu.js"
    assert category(Frame("T", pyscript, "30"), scripts) == PYSCRIPT
    assert category(Frame("fetch", f"{ORIGIN}/bench/peers/passthrough.js", "4"), scripts) == DRIVER


def test_scripts_with_no_url_are_told_apart_by_their_source():
    """authfetch's helpers and the bench's driver are recognised by their source."""
    assert kind_of_source("const helpers = {};\nhelpers.bridge = (py) => {};") == HELPERS
    assert kind_of_source("() => { window.peer = {name: 'authfetch'}; }") == DRIVER
    assert kind_of_source("return 1 + 1") == OTHER


def test_summary_per_request_in_the_call_and_after():
    """Self time is summed by category, split at the driver's call, divided by requests."""
    summary = summarize(hand_made(), requests=2, scripts=SCRIPTS)
    assert summary.wall_us == 1400
    assert dict(summary.in_call) == {
        MPY_GC: 200,
        FETCH: 300,
        HELPERS: 100,
        WASM: 100,
        TRANSITION: 100,
    }
    assert dict(summary.after) == {IDLE: 400, PROGRAM: 100, DRIVER: 100}
    assert summary.busy_us == 1000
    assert summary.per_request(summary.total(FETCH)) == 150


def test_collection_under_invoke_v_from_the_call_entry_is_micropython_gc():
    """Only wasm under ``invoke_v`` called from ``proxy_c_to_js_call`` counts as MicroPython GC."""
    without_names = summarize(hand_made(), requests=1, scripts=Scripts(kinds=SCRIPTS.kinds))
    assert without_names.total(MPY_GC) == 0
    assert without_names.total(WASM) == 300


def test_tables_show_categories_and_top_functions():
    """The Markdown tables show µs per request, shares, and the heaviest functions first."""
    summary = summarize(hand_made(), requests=2, scripts=SCRIPTS)
    lines = category_table(summary)
    fetch_row = next(line for line in lines if line.startswith("| browser `fetch()`"))
    assert fetch_row.split("|")[1:6] == [
        " browser `fetch()` call (native) ",
        " 150 ",
        " 0 ",
        " 150 ",
        " 21.4 % ",
    ]
    assert lines[-1].startswith("| **all** | **400** | **300** | **700** |")
    top = top_table(summary, count=2)
    assert top[2].startswith("| `(idle)` |")
    assert top[3].startswith("| `fetch` | - | browser `fetch()` call |")


def test_wasm_export_names_read_the_export_section():
    """Function indices get their export names (imports count in the index)."""
    module = bytes.fromhex(
        "0061736d01000000"  # magic, version
        "010401600000"  # types: one, () -> ()
        "020701016101620000"  # imports: a.b, a function of type 0 (index 0)
        "03020100"  # functions: one of type 0 (index 1)
        "070701036e6f770001"  # exports: "now" -> function 1
        "0a040102000b"  # code: one empty body
    )
    assert wasm_export_names(module) == {1: "now"}
    assert wasm_export_names(b"not wasm") == {}


@pytest.mark.parametrize("page", ["bare", "dpop"])
def test_report_compares_each_page_with_its_floor(page):
    """The report has a section per page and a difference table against the floor."""
    from bench.browser import AUTHFETCH_BARE, AUTHFETCH_DPOP, PASSTHROUGH
    from bench.profile import Profiled

    summary = summarize(hand_made(), requests=2, scripts=SCRIPTS)
    client = {"bare": AUTHFETCH_BARE, "dpop": AUTHFETCH_DPOP}[page]["mpy"]
    results = [
        Profiled(PASSTHROUGH["mpy"], "floor", summary, 1.4),
        Profiled(client, page, summary, 1.4),
    ]
    text = render(results, "make profile")
    assert f"## {client.label} against {PASSTHROUGH['mpy'].label}" in text
    assert "| **all** | **700** | **700** | **+0** |" in text
    assert "| **all** | **400 / 700** | **400 / 700** |" in text
    assert "| busy (all but idle) | 500 | 500 |" in text


def test_blocks_of_one_page_add_up():
    """Two blocks of the same page sum to one summary with twice the requests."""
    one = summarize(hand_made(), requests=2, scripts=SCRIPTS)
    both = summarize(hand_made(), requests=2, scripts=SCRIPTS)
    both.add(summarize(hand_made(), requests=2, scripts=SCRIPTS))
    assert both.requests == 4
    assert both.wall_us == 2 * one.wall_us
    assert both.total(FETCH) == 2 * one.total(FETCH)
    assert both.per_request(both.total(MPY_GC)) == one.per_request(one.total(MPY_GC))
    assert [f.us for f in both.top(3)] == [2 * f.us for f in one.top(3)]
