"""Render the HTTP latency section of BENCHMARKS.md from benchmarks/results.json.

The section sits between its two markers, so that the other benchmarks' sections of the page
stay as they are. The hand-written notes in benchmarks/LATENCY.md close the section.
"""

from pathlib import Path
from typing import Any

NOTES = Path(__file__).resolve().parent / "LATENCY.md"
START = "<!-- http-latency:start -->"
END = "<!-- http-latency:end -->"
OPERATIONS = {
    "empty": "Empty view (no database)",
    "open": "Open a case",
    "list": "List my open cases, last updated first",
    "search": "Free-text search, all cases of the agency",
    "name": "Fuzzy name search, all cases of the agency",
    "save": "Save one section (consent)",
}
LAYERS = {"page": "page", "django": "Django calls", "sql": "raw SQL", "empty": "—"}
# p95 at 50 concurrent clients and 1,000,000 cases, in milliseconds.
TARGETS = {"open": 100, "save": 100, "list": 200, "search": 200, "name": 200}
TARGET_CASES = 1_000_000
TARGET_CLIENTS = 50


def update_page(page: str, results: dict[str, Any]) -> str:
    """Return the text of BENCHMARKS.md with this benchmark's section replaced or added."""
    section = render(results)
    if START in page and END in page:
        before, rest = page.split(START, 1)
        after = rest.split(END, 1)[1]
        return before + section + after
    if not page.strip():
        page = "# Benchmarks\n"
    return page.rstrip() + "\n\n" + section + "\n"


def render(results: dict[str, Any]) -> str:
    sizes = sorted(results.values(), key=lambda entry: entry["cases"])
    lines = [
        START,
        "## Latency of the caseworker pages",
        "",
        "Latency of the caseworker's main operations over HTTP, measured by `benchmarks/run.py`",
        "against gunicorn serving `tutela.wsgi` on 127.0.0.1, with databases seeded by",
        "`tutela seed synthetic`. Each operation is timed on the real page and on two floors on",
        "the same machine: the same rows fetched or written with one raw SQL statement, and a",
        "minimal Django view that makes the same calls of `tutela.records.search` and",
        "`tutela.records.actions` as the page, without sign-in, permissions and templates.",
        "",
        "Rerun with:",
        "",
        "```",
        'make bench BENCH_ARGS="--cases 100000 --cases 1000000"',
        "```",
        "",
    ]
    lines += targets(results)
    for entry in sizes:
        lines += size_section(entry)
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    return "\n".join(lines).rstrip() + "\n" + END


def phase(entry: dict[str, Any], operation: str, layer: str, clients: int) -> dict[str, Any]:
    for result in entry["phases"]:
        if (result["operation"], result["layer"], result["clients"]) == (
            operation,
            layer,
            clients,
        ):
            return dict(result)
    return {}


def targets(results: dict[str, Any]) -> list[str]:
    entry = results.get(str(TARGET_CASES))
    lines = [
        f"### Targets at {TARGET_CASES:,} cases and {TARGET_CLIENTS} concurrent clients",
        "",
    ]
    if entry is None:
        return [*lines, "Not measured yet.", ""]
    rows = []
    met_count = 0
    for operation, limit in TARGETS.items():
        result = phase(entry, operation, "page", TARGET_CLIENTS)
        if not result:
            rows.append(f"| {OPERATIONS[operation]} | < {limit} ms | not measured | — |")
            continue
        met = result["p95_ms"] < limit and not result["errors"]
        met_count += met
        rows.append(
            f"| {OPERATIONS[operation]} | < {limit} ms | {result['p95_ms']:,.0f} ms | "
            f"{'yes' if met else '**no**'} |"
        )
    summary = (
        "None of the targets is met."
        if met_count == 0
        else f"{met_count} of the {len(TARGETS)} targets are met."
    )
    lines += [
        f"{summary} The machine was shared with other programs (see the last column of the "
        "tables); the notes below explain the results.",
        "",
        "| Operation | Target p95 | Measured p95 (page) | Met |",
        "|---|---:|---:|---|",
        *rows,
    ]
    return [*lines, ""]


def size_section(entry: dict[str, Any]) -> list[str]:
    machine = entry["machine"]
    postgres = entry["postgres"]
    size = entry["database_size"]
    prepared = entry["prepared"]
    server = entry["server"]
    settings = ", ".join(f"{k} {v}" for k, v in sorted(postgres["settings"].items()))
    counts = sorted({result["clients"] for result in entry["phases"]})

    lines = [
        f"### {entry['cases']:,} cases",
        "",
        f"- Measured {entry['date']} on {entry['code']}, with `{entry['command']}`.",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB of "
        f"memory, Linux {machine['kernel']}, Python {machine['python']}.",
        f"- PostgreSQL {postgres['version']} ({settings}).",
        f"- Database: {gib(size['database'])} in all, of which the record table with its "
        f"indexes {gib(size['records'])} and the history table {gib(size['history'])}.",
        f"- Seeding: {prepared['seed_seconds'] / 60:,.1f} minutes "
        f"({prepared['cases_per_second']:,.0f} cases/s), then {prepared['vacuum_seconds']:,.0f} s "
        "of `VACUUM (ANALYZE)`.",
        f"- Server: gunicorn, {server['workers']} workers of {server['threads']} threads "
        f"({server['worker_class']}). Each phase: {entry['phase']['warmup']:g} s of warm-up, "
        f"then {entry['phase']['duration']:g} s measured; clients send without pause.",
        "",
    ]

    header = "| Operation | Layer |"
    rule = "|---|---|"
    for count in counts:
        label = "client" if count == 1 else "clients"
        header += f" {count} {label}: p50 / p95 (ms) | req/s |"
        rule += "---:|---:|"
    lines += [header + " Errors | Other programs (cores) |", rule + "---:|---:|"]

    for operation, title in OPERATIONS.items():
        for layer, layer_title in LAYERS.items():
            row = [phase(entry, operation, layer, count) for count in counts]
            if not any(row):
                continue
            cells = f"| {title} | {layer_title} |"
            errors = 0
            for result in row:
                if result:
                    cells += f" {result['p50_ms']:,.1f} / {result['p95_ms']:,.1f} |"
                    cells += f" {result['per_second']:,.0f} |"
                    errors += result["errors"]
                else:
                    cells += " — | — |"
            others = " / ".join(f"{result.get('other_cores', 0.0):.1f}" for result in row if result)
            lines.append(f"{cells} {errors} | {others} |")
    return [*lines, ""]


def gib(size: int) -> str:
    return f"{size / 1024**3:,.2f} GiB" if size >= 1024**3 else f"{size / 1024**2:,.0f} MiB"
