"""Check a live payment page against the script inventory (PCI DSS 11.6.1 tamper detection).

`check_page(url)` fetches the page as a shopper's browser would (no redirects followed), reads every
`<script>` with `html.parser`, fetches each same-origin script and hashes it, and compares the lot with
`checkout/script_inventory.json`; it also checks the security headers a payment page must carry. It
returns every finding; `kassa checkout verify-scripts URL` prints them and exits 1 if any is a problem.
Standard library only, so it runs from cron on any host with Kassa installed.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from checkout.inventory import Inventory, sri

USER_AGENT = "kassa-verify-scripts/1"
#: Page statuses that still render the checkout layout: an open session, and an expired one (410).
PAGE_STATUSES = (200, 410)
MIN_HSTS_SECONDS = 365 * 24 * 3600
REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
#: Elements whose URL attribute loads something into the page (or, for forms, sends card data to).
RESOURCE_ATTRIBUTES = {
    "link": "href",
    "img": "src",
    "source": "src",
    "iframe": "src",
    "embed": "src",
    "object": "data",
    "form": "action",
    "audio": "src",
    "video": "src",
}


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: Message
    body: bytes


Fetcher = Callable[[str, float], Fetched]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is reported, never followed (it could lead off-site)


def fetch(url: str, timeout: float) -> Fetched:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"Only http and https URLs can be checked, not {url!r}.")
    opener = urllib.request.build_opener(_NoRedirect)
    # The scheme is checked above: only http(s), never file: or a custom scheme.
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx and 5xx still carry headers and a body
        with exc:
            return Fetched(exc.code, exc.headers, exc.read())


@dataclass
class ScriptTag:
    attrs: dict[str, str]
    #: Inline source (empty for `<script src=…>`).
    text: str = ""


class PageParser(HTMLParser):
    """Collects scripts, inline event handlers and the URLs of loaded resources from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[ScriptTag] = []
        #: (tag, attribute, value) of `on…=` handlers and `javascript:` URLs.
        self.inline_handlers: list[tuple[str, str, str]] = []
        #: (tag, attribute, URL) of everything the page loads or posts to.
        self.resources: list[tuple[str, str, str]] = []
        self._in_script: ScriptTag | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on") or value.strip().lower().startswith("javascript:"):
                self.inline_handlers.append((tag, name, value))
        if tag == "script":
            self._in_script = ScriptTag(values)
            self.scripts.append(self._in_script)
            return
        attribute = RESOURCE_ATTRIBUTES.get(tag)
        if attribute and values.get(attribute):
            self.resources.append((tag, attribute, values[attribute]))
        for candidate in values.get("srcset", "").split(","):
            if candidate.strip():
                self.resources.append((tag, "srcset", candidate.split()[0]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._in_script.text += data


def parse_csp(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives


def csp_nonce_of(directives: dict[str, list[str]]) -> str | None:
    nonces = [s[len("'nonce-") : -1] for s in directives.get("script-src", []) if s.startswith("'nonce-")]
    return nonces[0] if len(nonces) == 1 and nonces[0] else None


@dataclass(frozen=True)
class Finding:
    #: "script", "header", "page" or "resource".
    kind: str
    subject: str
    detail: str
    problem: bool


@dataclass
class Report:
    url: str
    status: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def clean(self) -> bool:
        return not self.problems

    def ok(self, kind: str, subject: str, detail: str = "ok") -> None:
        self.findings.append(Finding(kind, subject, detail, problem=False))

    def differs(self, kind: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(kind, subject, detail, problem=True))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def check_headers(report: Report, headers: Message) -> str | None:
    """Check the page's security headers; returns the CSP's script nonce (None if it has none)."""
    csp = headers.get("Content-Security-Policy")
    nonce = None
    if not csp:
        report.differs("header", "Content-Security-Policy", "missing")
    else:
        directives = parse_csp(csp)
        nonce = csp_nonce_of(directives)
        wrong = []
        script_src = directives.get("script-src", [])
        if nonce is None:
            wrong.append("script-src has no (single) 'nonce-…'")
        if "'self'" not in script_src:
            wrong.append("script-src lacks 'self'")
        extra = [s for s in script_src if s != "'self'" and not s.startswith("'nonce-")]
        if extra:
            wrong.append(f"script-src also allows {' '.join(extra)}")
        for directive in ("object-src", "base-uri"):
            if directives.get(directive) != ["'none'"]:
                wrong.append(f"{directive} is not 'none'")
        if not directives.get("frame-ancestors"):
            wrong.append("frame-ancestors missing")
        if wrong:
            report.differs("header", "Content-Security-Policy", "; ".join(wrong))
        else:
            report.ok(
                "header",
                "Content-Security-Policy",
                f"ok (nonce, frame-ancestors {' '.join(directives['frame-ancestors'])})",
            )
    hsts = headers.get("Strict-Transport-Security") or ""
    max_age = next(
        (p.split("=", 1)[1].strip() for p in hsts.split(";") if p.strip().lower().startswith("max-age=")), ""
    )
    if not max_age.isdigit() or int(max_age) < MIN_HSTS_SECONDS:
        report.differs("header", "Strict-Transport-Security", f"missing or max-age below one year: {hsts!r}")
    else:
        report.ok("header", "Strict-Transport-Security")
    nosniff = (headers.get("X-Content-Type-Options") or "").strip().lower()
    if nosniff != "nosniff":
        report.differs("header", "X-Content-Type-Options", f"should be nosniff, is {nosniff!r}")
    else:
        report.ok("header", "X-Content-Type-Options")
    referrer = (headers.get("Referrer-Policy") or "").strip().lower()
    if referrer not in REFERRER_POLICIES:
        report.differs(
            "header", "Referrer-Policy", f"should be one of {', '.join(REFERRER_POLICIES)}, is {referrer!r}"
        )
    else:
        report.ok("header", "Referrer-Policy")
    return nonce


def check_page(url: str, inventory: Inventory, *, timeout: float = 10.0, fetcher: Fetcher = fetch) -> Report:
    report = Report(url)
    try:
        page = fetcher(url, timeout)
    except (OSError, ValueError) as exc:
        report.differs("page", url, f"could not be fetched: {exc}")
        return report
    report.status = page.status
    if page.status not in PAGE_STATUSES:
        where = f" to {page.headers.get('Location')}" if page.headers.get("Location") else ""
        report.differs(
            "page",
            url,
            f"answered {page.status}{where}; give the URL of a checkout page that renders "
            "(an open checkout session's /pay/… page)",
        )
        return report
    nonce = check_headers(report, page.headers)
    charset = page.headers.get_content_charset() or "utf-8"
    parser = PageParser()
    parser.feed(page.body.decode(charset, errors="replace"))
    parser.close()
    page_origin = _origin(url)
    seen: set[str] = set()
    for tag in parser.scripts:
        src = tag.attrs.get("src")
        has_nonce = nonce is not None and tag.attrs.get("nonce") == nonce
        if not src:
            preview = " ".join(tag.text.split())[:60]
            how = "with the page's nonce" if has_nonce else "WITHOUT the page's nonce"
            report.differs("script", f"inline script {preview!r}", f"{how}; not in the inventory")
            continue
        absolute = urljoin(url, src)
        if _origin(absolute) != page_origin:
            report.differs("script", absolute, "third-party script: not in the inventory (not fetched)")
            continue
        path = urlsplit(absolute).path
        seen.add(path)
        listed = inventory.get(path)
        if not has_nonce:
            report.differs("script", path, "does not carry the CSP nonce of the page")
        if listed is None:
            report.differs("script", path, "unknown: not in the inventory")
            continue
        if tag.attrs.get("integrity") != listed.integrity:
            report.differs(
                "script", path, f"integrity attribute is {tag.attrs.get('integrity')!r}, not the inventory's"
            )
        try:
            served = fetcher(absolute, timeout)
        except (OSError, ValueError) as exc:
            report.differs("script", path, f"could not be fetched: {exc}")
            continue
        if served.status != 200:
            report.differs("script", path, f"answered {served.status}")
            continue
        digest = sri(served.body)
        if digest != listed.integrity:
            report.differs(
                "script",
                path,
                f"CHANGED: serves {digest}, the inventory says {listed.integrity} ({listed.source})",
            )
        else:
            report.ok("script", path, f"ok {digest} ({listed.source})")
    page_path = urlsplit(url).path
    for script in inventory.expected_on(page_path):
        if script.path not in seen:
            report.differs(
                "script",
                script.path,
                f"missing: the inventory says pages under {', '.join(script.pages)} load it",
            )
    for tag_name, attribute, value in parser.inline_handlers:
        report.differs("page", f"<{tag_name} {attribute}>", f"inline script in an attribute: {value[:60]!r}")
    for tag_name, attribute, value in parser.resources:
        target = urljoin(url, value)
        if urlsplit(target).scheme in ("http", "https") and _origin(target) != page_origin:
            report.differs("resource", f"<{tag_name} {attribute}>", f"third-party origin: {target}")
    return report
