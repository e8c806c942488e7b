"""Small URL helpers (MicroPython has no ``urllib.parse``).

Only what authfetch needs: split ``scheme://host[:port]/path?query``, compute a
normalised origin (lower case, default port dropped) and resolve a reference
against a base URL (RFC 3986 section 5.2, without the rarely needed corners).

Where a browser's URL parser (WHATWG) reads a URL differently from RFC 3986,
these helpers read it the browser's way, because the browser is what sends
the request: for the special schemes a backslash is a slash (so
``http://evil.example\\@good.example/`` is a request to ``evil.example``),
tabs and newlines are dropped, and leading or trailing spaces and control
characters are trimmed. The browser edge goes further and hands the core
URLs already normalised by the browser itself (``new URL(...).href``).
"""

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
#: Schemes whose URLs a browser parses with the "special" rules (backslash = slash).
SPECIAL_SCHEMES = ("http", "https", "ws", "wss", "ftp", "file")


def whatwg_clean(url: str) -> str:
    """Trim C0 controls and spaces, drop tabs and newlines, as a browser's URL parser does."""
    url = str(url)
    clean = url and url[0] > " " and url[-1] > " "
    if clean and "\t" not in url and "\n" not in url and "\r" not in url:
        return url  # the common case, checked without a loop in Python
    url = "".join(c for c in url if c not in "\t\n\r")
    start, end = 0, len(url)
    while start < end and ord(url[start]) <= 0x20:
        start += 1
    while end > start and ord(url[end - 1]) <= 0x20:
        end -= 1
    return url[start:end]


def _scheme_of(url: str) -> "str | None":
    """The lower-case scheme of ``url`` if it has one."""
    return url[: url.find(":")].lower() if is_absolute(url) else None


def _special_slashes(url: str, special: bool) -> str:
    """A browser reads ``\\`` as ``/`` in a special URL (up to the query or fragment)."""
    if not special or "\\" not in url:
        return url
    cut = len(url)
    for mark in "?#":
        pos = url.find(mark)
        if 0 <= pos < cut:
            cut = pos
    return url[:cut].replace("\\", "/") + url[cut:]


def split_url(url: str) -> "tuple[str, str, int | None, str]":
    """Split an absolute URL into ``(scheme, host, port, rest)``.

    ``host`` is lower case (IPv6 keeps its brackets), user info is dropped,
    ``port`` is ``None`` when absent, ``rest`` is path + query + fragment.
    Raises ``ValueError`` for a URL without ``scheme://``.
    """
    url = whatwg_clean(url)
    url = _special_slashes(url, _scheme_of(url) in SPECIAL_SCHEMES)
    sep = url.find("://")
    if sep <= 0:
        raise ValueError("not an absolute URL: " + repr(url))
    scheme = url[:sep].lower()
    tail = url[sep + 3 :]
    cut = len(tail)
    for mark in "/?#":
        pos = tail.find(mark)
        if 0 <= pos < cut:
            cut = pos
    authority, rest = tail[:cut], tail[cut:]
    authority = authority[authority.rfind("@") + 1 :]
    host, port = _split_authority(authority)
    return scheme, host.lower(), port, rest


def _split_authority(authority: str) -> "tuple[str, int | None]":
    """Split ``host[:port]`` (IPv6 in brackets) into host and port."""
    close = authority.rfind("]")
    colon = authority.rfind(":")
    if colon > close and colon >= 0:
        digits = authority[colon + 1 :]
        return authority[:colon], int(digits) if digits else None
    return authority, None


def is_absolute(url: str) -> bool:
    """Tell whether ``url`` starts with a scheme (``http:``, ``https:`` ...)."""
    colon = url.find(":")
    if colon <= 0:
        return False
    scheme = url[:colon]
    if scheme in ("http", "https"):
        return True  # the common case, without a loop in Python
    return scheme[0].isalpha() and all(c.isalpha() or c.isdigit() or c in "+-." for c in scheme)


def resolve(url: str, base: str) -> str:
    """Resolve ``url`` against the absolute URL ``base`` (like the browser does)."""
    url = whatwg_clean(url)
    if is_absolute(url):
        return _special_slashes(url, _scheme_of(url) in SPECIAL_SCHEMES)
    scheme, _, _, _ = split_url(base)
    url = _special_slashes(url, scheme in SPECIAL_SCHEMES)
    if url.startswith("//"):
        return scheme + ":" + url
    root = origin(base)
    base_path, base_query = _path_and_query(split_url(base)[3])
    if url == "" or url.startswith("#"):
        return root + base_path + base_query + url
    if url.startswith("?"):
        return root + base_path + url
    if url.startswith("/"):
        path, rest = _split_path(url)
    else:
        path, rest = _split_path(base_path[: base_path.rfind("/") + 1] + url)
    return root + remove_dot_segments(path) + rest


def _path_and_query(rest: str) -> "tuple[str, str]":
    """Split ``rest`` into path and ``?query`` (fragment dropped)."""
    rest = rest.split("#", 1)[0]
    path, query = _split_path(rest)
    return path or "/", query


def _split_path(ref: str) -> "tuple[str, str]":
    """Split a reference into its path and the ``?query#fragment`` tail."""
    cut = len(ref)
    for mark in "?#":
        pos = ref.find(mark)
        if 0 <= pos < cut:
            cut = pos
    return ref[:cut], ref[cut:]


def remove_dot_segments(path: str) -> str:
    """Remove ``.`` and ``..`` segments from an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)


def endpoint_key(url: str) -> "tuple[str, str]":
    """``(origin, path)`` of an absolute URL: what names an endpoint (query ignored)."""
    scheme, host, port, rest = split_url(url)
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        root = scheme + "://" + host
    else:
        root = scheme + "://" + host + ":" + str(port)
    return root, _path_and_query(rest)[0]


def origin(url: str) -> str:
    """Return the normalised origin ``scheme://host[:port]`` of an absolute URL.

    The scheme's default port is dropped, so ``https://A.example:443/x`` gives
    ``https://a.example``.
    """
    return endpoint_key(url)[0]


def same_endpoint(a: str, b: str) -> bool:
    """Tell whether two absolute URLs name the same endpoint (query ignored)."""
    return endpoint_key(a) == endpoint_key(b)
