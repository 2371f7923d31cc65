"""The load generator: simulated caseworkers sending requests to 127.0.0.1, timed one by one.

Each client is a thread with its own httpx session, signed in as its own synthetic caseworker.
A phase runs one operation on one layer (the real page or a floor endpoint) with a number of
clients. Every client sends its next request as soon as the previous response arrives (no
think time), for a bounded time and number of requests. The first seconds are a warm-up and
are not counted.
"""

import random
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

SAVED_SECTION = "case_consent"
SAVED_INPUT = "f_consent_sharing_limits"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class RequestFailed(Exception):
    pass


@dataclass
class Workload:
    """The records and queries the clients work on, sampled from the database before the run."""

    agency_id: int
    # Record ids any client may open.
    record_ids: list[str]
    # Free-text queries and fuzzy name queries.
    texts: list[str]
    names: list[str]


@dataclass
class Caseworker:
    username: str
    user_id: int
    # Open records this caseworker owns. The save benchmark edits them.
    own_ids: list[str]


@dataclass
class FormState:
    """A section form as the browser keeps it: its fields and the version it was read at."""

    fields: list[tuple[str, str]]
    url: str


class FormFields(HTMLParser):
    """The name-value pairs a browser submits for the first form of class `record-form`."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.done = False
        self.select: tuple[str, bool] | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {key: value or "" for key, value in attributes}
        if tag == "form" and not self.done and "record-form" in attrs.get("class", "").split():
            self.in_form = True
        if not self.in_form or "disabled" in attrs:
            return
        name = attrs.get("name", "")
        if tag == "input" and name:
            self.add_input(name, attrs)
        elif tag == "select" and name:
            self.select = (name, "multiple" in attrs)
            self.options = []
        elif tag == "option" and self.select:
            self.options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self.textarea = name
            self.text = []

    def add_input(self, name: str, attrs: dict[str, str]) -> None:
        kind = attrs.get("type", "text")
        if kind in ("submit", "button", "reset", "file", "image"):
            return
        if kind in ("checkbox", "radio"):
            if "checked" in attrs:
                self.fields.append((name, attrs.get("value", "on")))
            return
        self.fields.append((name, attrs.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form = False
            self.done = True
        elif tag == "select" and self.select:
            name, multiple = self.select
            chosen = [value for value, selected in self.options if selected]
            if not chosen and not multiple and self.options:
                chosen = [self.options[0][0]]
            self.fields.extend((name, value) for value in chosen)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # A browser drops one newline that directly follows the opening tag.
            text = "".join(self.text)
            self.fields.append((self.textarea, text[1:] if text.startswith("\n") else text))
            self.textarea = None


class Client:
    """One simulated caseworker with its own session cookie."""

    def __init__(self, base: str, caseworker: Caseworker, password: str) -> None:
        self.base = base
        self.caseworker = caseworker
        self.password = password
        self.http = httpx.Client(base_url=base, timeout=60.0, follow_redirects=False)
        self.forms: dict[str, FormState] = {}
        self.saves = 0

    def close(self) -> None:
        self.http.close()

    def check(self, response: httpx.Response, *expected: int) -> httpx.Response:
        if response.status_code not in expected:
            raise RequestFailed(
                f"{response.request.method} {response.request.url.path}: {response.status_code}"
            )
        return response

    def csrf_token(self) -> str:
        return self.http.cookies.get("csrftoken") or ""

    def sign_in(self) -> None:
        page = self.check(self.http.get("/sign-in/"), 200)
        token = CSRF.search(page.text)
        if not token:
            raise RequestFailed("The sign-in page has no CSRF token.")
        form = {
            "csrfmiddlewaretoken": token.group(1),
            # allauth's sign-in form names the user field "login".
            "login": self.caseworker.username,
            "password": self.password,
        }
        self.check(self.http.post("/sign-in/", data=form), 302)

    def read_forms(self) -> None:
        """Open the consent section's edit form of each own record, as a browser would."""
        self.forms.clear()
        for record_id in self.caseworker.own_ids:
            url = f"/cases/{record_id}/sections/{SAVED_SECTION}/edit"
            parser = FormFields()
            parser.feed(self.check(self.http.get(url), 200).text)
            self.forms[record_id] = FormState(parser.fields, url)

    def clear_search(self) -> None:
        """Forget the search the list page keeps in the session, so the list shows everything."""
        data = {"csrfmiddlewaretoken": self.csrf_token(), "clear": "1"}
        self.post("/cases/?status=open&scope=mine", data, 302)

    def get(self, path: str, params: dict[str, Any] | None = None) -> None:
        self.check(self.http.get(path, params=params), 200)

    def post(self, path: str, data: dict[str, Any], *expected: int) -> httpx.Response:
        return self.check(self.http.post(path, data=data), *expected)

    # Operations on the real pages.

    def page_open(self, work: Workload, rng: random.Random) -> None:
        self.get(f"/cases/{rng.choice(work.record_ids)}/")

    def page_list(self, work: Workload, rng: random.Random) -> None:
        self.get("/cases/", {"status": "open", "scope": "mine"})

    def page_search(self, work: Workload, rng: random.Random) -> None:
        self.search_page(rng.choice(work.texts), "text")

    def page_name(self, work: Workload, rng: random.Random) -> None:
        self.search_page(rng.choice(work.names), "name")

    def search_page(self, text: str, mode: str) -> None:
        """Search as the list page does: post the text, then follow the redirect."""
        data = {"csrfmiddlewaretoken": self.csrf_token(), "q": text, "mode": mode}
        redirect = self.post("/cases/?status=open&scope=all", data, 302)
        self.get(redirect.headers["location"])

    def page_save(self, work: Workload, rng: random.Random) -> None:
        record_id = self.caseworker.own_ids[self.saves % len(self.caseworker.own_ids)]
        self.saves += 1
        state = self.forms[record_id]
        note = f"Share with the school nurse only (benchmark save {self.saves})."
        data: dict[str, list[str]] = {}
        for name, value in state.fields:
            data.setdefault(name, []).append(note if name == SAVED_INPUT else value)
        data["csrfmiddlewaretoken"] = [self.csrf_token()]
        self.post(state.url, data, 302)
        # The next save of this record is based on the version this one made.
        data["version"] = [str(int(data["version"][0]) + 1)]
        state.fields = [(name, value) for name, values in data.items() for value in values]

    # Operations on the floor endpoints.

    def floor_open(self, layer: str, work: Workload, rng: random.Random) -> None:
        self.get(f"/bench/{layer}/open/{rng.choice(work.record_ids)}")

    def floor_list(self, layer: str, work: Workload, rng: random.Random) -> None:
        self.get(f"/bench/{layer}/list/{self.caseworker.user_id}")

    def floor_search(self, layer: str, work: Workload, rng: random.Random) -> None:
        self.get(f"/bench/{layer}/search", {"q": rng.choice(work.texts), "agency": work.agency_id})

    def floor_name(self, layer: str, work: Workload, rng: random.Random) -> None:
        params = {
            "q": rng.choice(work.names),
            "agency": work.agency_id,
            "user": self.caseworker.user_id,
        }
        self.get(f"/bench/{layer}/name", params)

    def floor_save(self, layer: str, work: Workload, rng: random.Random) -> None:
        record_id = self.caseworker.own_ids[self.saves % len(self.caseworker.own_ids)]
        self.saves += 1
        text = f"Share with the school nurse only (benchmark save {self.saves})."
        self.post(f"/bench/{layer}/save/{record_id}", {"text": text}, 200)

    def empty(self, work: Workload, rng: random.Random) -> None:
        self.get("/bench/empty")

    def operation(self, name: str, layer: str) -> Callable[[Workload, random.Random], None]:
        if name == "empty":
            return self.empty
        if layer == "page":
            method: Callable[[Workload, random.Random], None] = getattr(self, f"page_{name}")
            return method
        floor = getattr(self, f"floor_{name}")
        return lambda work, rng: floor(layer, work, rng)


@dataclass
class PhaseResult:
    operation: str
    layer: str
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    per_second: float
    # Share of one core the load generator itself used while measuring.
    client_cpu: float
    load_average: float
    first_error: str = ""


@dataclass
class Phase:
    operation: str
    layer: str
    clients: list[Client]
    workload: Workload
    warmup: float
    duration: float
    max_requests: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> PhaseResult:
        start = time.monotonic()
        measure_from = start + self.warmup
        stop_at = measure_from + self.duration
        threads = [
            threading.Thread(target=self.work, args=(client, index, measure_from, stop_at))
            for index, client in enumerate(self.clients)
        ]
        cpu_before = time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = min(time.monotonic(), stop_at) - measure_from
        cpu = (time.process_time() - cpu_before) / max(elapsed + self.warmup, 0.001)
        return self.result(elapsed, cpu)

    def work(self, client: Client, index: int, measure_from: float, stop_at: float) -> None:
        rng = random.Random(f"{self.operation}-{self.layer}-{index}")
        action = client.operation(self.operation, self.layer)
        while True:
            started = time.monotonic()
            if started >= stop_at:
                return
            with self.lock:
                if len(self.latencies) + len(self.errors) >= self.max_requests:
                    return
            failure = ""
            try:
                action(self.workload, rng)
            except (RequestFailed, httpx.HTTPError) as error:
                failure = f"{type(error).__name__}: {error}"
            ended = time.monotonic()
            if started < measure_from:
                continue
            with self.lock:
                if failure:
                    self.errors.append(failure)
                else:
                    self.latencies.append(ended - started)

    def result(self, elapsed: float, cpu: float) -> PhaseResult:
        times = sorted(self.latencies)
        if len(times) >= 2:
            cuts = statistics.quantiles(times, n=100, method="inclusive")
            p50, p95 = cuts[49], cuts[94]
        else:
            p50 = p95 = times[0] if times else float("nan")
        return PhaseResult(
            operation=self.operation,
            layer=self.layer,
            clients=len(self.clients),
            requests=len(times),
            errors=len(self.errors),
            seconds=round(elapsed, 1),
            p50_ms=round(p50 * 1000, 1),
            p95_ms=round(p95 * 1000, 1),
            max_ms=round((times[-1] if times else float("nan")) * 1000, 1),
            per_second=round(len(times) / elapsed, 1) if elapsed > 0 else 0.0,
            client_cpu=round(cpu, 2),
            load_average=round(_load_average(), 2),
            first_error=self.errors[0] if self.errors else "",
        )


def _load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])
