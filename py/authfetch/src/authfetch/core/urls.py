"""Small URL helpers (MicroPython has no ``urllib.parse``).

Only what authfetch needs: split ``scheme://host[:port]/path?query``, compute a
normalised origin (lower case, default port dropped) and resolve a reference
against a base URL (RFC 3986 section 5.2, without the rarely needed corners).
"""

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_url(url: str) -> "tuple[str, str, int | None, str]":
    """Split an absolute URL into ``(scheme, host, port, rest)``.

    ``host`` is lower case (IPv6 keeps its brackets), user info is dropped,
    ``port`` is ``None`` when absent, ``rest`` is path + query + fragment.
    Raises ``ValueError`` for a URL without ``scheme://``.
    """
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


def origin(url: str) -> str:
    """Return the normalised origin ``scheme://host[:port]`` of an absolute URL.

    The scheme's default port is dropped, so ``https://A.example:443/x`` gives
    ``https://a.example``.
    """
    scheme, host, port, _ = split_url(url)
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return scheme + "://" + host
    return scheme + "://" + host + ":" + str(port)


def is_absolute(url: str) -> bool:
    """Tell whether ``url`` starts with a scheme (``http:``, ``https:`` ...)."""
    colon = url.find(":")
    if colon <= 0:
        return False
    scheme = url[:colon]
    return scheme[0].isalpha() and all(c.isalpha() or c.isdigit() or c in "+-." for c in scheme)


def resolve(url: str, base: str) -> str:
    """Resolve ``url`` against the absolute URL ``base`` (like the browser does)."""
    if is_absolute(url):
        return url
    scheme, _, _, _ = split_url(base)
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


def same_endpoint(a: str, b: str) -> bool:
    """Tell whether two absolute URLs name the same endpoint (query ignored)."""
    return (
        origin(a) == origin(b)
        and _path_and_query(split_url(a)[3])[0] == (_path_and_query(split_url(b)[3])[0])
    )
