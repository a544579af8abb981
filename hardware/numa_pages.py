"""Memory page sizes: the words guests use and the size a cell gives.

Page size requests are stored in ``InstanceNUMACell.pagesize``, a
non-negative integer field, so the words ``small``, ``large`` and ``any``
(Nova's -1, -2, -3) are the sentinels :data:`PAGESIZE_SMALL` (1),
:data:`PAGESIZE_LARGE` (2) and :data:`PAGESIZE_ANY` (3). No real page is
smaller than 4 KiB, so an explicit size below :data:`MIN_PAGE_KB` is
refused and the sentinels cannot be mistaken for a size. Fitting replaces a
sentinel with the size it chose.
"""
import re

from hoststate.hardware.numa_errors import InvalidNUMARequest

# Page-size requests that name a kind of page rather than a size (KiB).
PAGESIZE_SMALL = 1
PAGESIZE_LARGE = 2
PAGESIZE_ANY = 3
PAGE_SIZE_WORDS = {"small": PAGESIZE_SMALL, "large": PAGESIZE_LARGE,
                   "any": PAGESIZE_ANY}
MIN_PAGE_KB = 4


def is_page_size_word(pagesize):
    """Whether ``pagesize`` is a small/large/any sentinel, not a size."""
    return pagesize in (PAGESIZE_SMALL, PAGESIZE_LARGE, PAGESIZE_ANY)


_SIZE_RE = re.compile(r"(\d+)\s*(?:([kmg])i?)?(b)?")
_UNIT_KB = {None: 1, "k": 1, "m": 1024, "g": 1024 * 1024}


def parse_page_size(value, key="hw:mem_page_size"):
    """A ``hw:mem_page_size`` value as a sentinel or a size in KiB.

    ``small``/``large``/``any`` (any case) give the sentinels; a bare
    number is KiB (``2048``); a number with a unit is binary whatever the
    spelling (``2M``, ``2MB``, ``2MiB`` are all 2048 KiB; ``1GB`` is
    1048576 KiB; ``4096B`` is 4 KiB).
    """
    text = str(value).strip().lower()
    if text in PAGE_SIZE_WORDS:
        return PAGE_SIZE_WORDS[text]
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise InvalidNUMARequest(
            key=key, value=value,
            reason="not small, large, any or a size such as 2048, 2MB, 1GB")
    number, unit, byte = match.groups()
    if unit is None and byte:          # "4096b": a number of bytes
        number_b = int(number)
        if number_b % 1024:
            raise InvalidNUMARequest(key=key, value=value,
                                     reason="not a whole number of KiB")
        size_kb = number_b // 1024
    else:
        size_kb = int(number) * _UNIT_KB[unit]
    if size_kb < MIN_PAGE_KB:
        raise InvalidNUMARequest(
            key=key, value=value,
            reason="no page is smaller than %d KiB" % MIN_PAGE_KB)
    return size_kb


# --- choosing a size on a host cell ------------------------------------------

_WORD_OF = {v: k for k, v in PAGE_SIZE_WORDS.items()}


def choose_page_size(host_cell, guest_cell):
    """(page size in KiB, None) for ``guest_cell`` on ``host_cell``, or
    (None, reason)."""
    request = guest_cell.pagesize
    sizes = sorted(pages.size_kb for pages in host_cell.mempages)
    memory_kb = guest_cell.memory * 1024
    if request == PAGESIZE_SMALL:
        candidates = sizes[:1]
    elif request == PAGESIZE_LARGE:
        candidates = sizes[1:][::-1]
    elif request == PAGESIZE_ANY:
        candidates = sizes[::-1]
    else:
        candidates = [request] if request in sizes else []
    for size in candidates:
        if host_cell.can_fit_pagesize(size, memory_kb):
            return size, None
    wanted = ("%s pages" % _WORD_OF[request]
              if is_page_size_word(request)
              else "%d KiB pages" % request)
    if not candidates:
        return None, ("%d MiB in %s: the cell has no such pages (sizes %s "
                      "KiB)" % (guest_cell.memory, wanted,
                                ", ".join(map(str, sizes)) or "none"))
    detail = []
    for size in candidates:
        pages = next(p for p in host_cell.mempages if p.size_kb == size)
        if memory_kb % size:
            detail.append("not a whole number of %d KiB pages" % size)
        else:
            detail.append("%d KiB: needs %d pages, %d free"
                          % (size, memory_kb // size, pages.free))
    return None, "%d MiB in %s: %s" % (guest_cell.memory, wanted,
                                       "; ".join(detail))
