"""Interned columns: a string or document per row, stored as an int code.

Most per-node documents repeat: a thousand nodes of one shape share one
``supported_instances`` text, one ``cpu_info``, often one NUMA topology and
one PCI pool list; every host of an aggregate set shares the set. An
``Interned`` column keeps each distinct raw key once and gives every row the
code of its key, so a filter evaluates its predicate once per distinct value
and gathers the answer for all rows with one index operation::

    ok = column.map(predicate, dtype=bool)      # one entry per distinct value
    mask = ok[column.codes[rows]]

Values are parsed lazily (a NUMA topology is only turned into an object if a
filter asks), and ``map`` results are cached per function key, extended as
new values arrive.
"""
import itertools

import numpy as np


class Interned:
    """Distinct keys of one column, their parsed values, and per-row codes."""

    def __init__(self, name, parse=None, capacity=0):
        self.name = name
        self._parse = parse if parse is not None else (lambda key: key)
        self.codes = np.zeros(capacity, dtype=np.int32)
        self.keys = []
        self._code_of = {}
        self._parsed = {}
        self._maps = {}

    def __len__(self):
        return len(self.keys)

    # --- codes ------------------------------------------------------------

    def code(self, key):
        """The code of ``key``, adding it if it is new."""
        code = self._code_of.get(key)
        if code is None:
            code = len(self.keys)
            self._code_of[key] = code
            self.keys.append(key)
        return code

    def codes_of(self, keys):
        """Codes of many keys (any sequence), as an int32 array, in one
        pass: a new key takes the next code (``setdefault`` evaluates
        the dict's size before inserting), and the keys added are then
        appended in insertion order, which is code order."""
        code_of = self._code_of
        known = len(code_of)
        setdefault = code_of.setdefault
        out = np.fromiter([setdefault(key, len(code_of)) for key in keys],
                          dtype=np.int32, count=len(keys))
        added = len(code_of) - known
        if added:
            # the newest keys are last: read them from the end
            self.keys.extend(reversed(list(
                itertools.islice(reversed(code_of), added))))
        return out

    def find(self, key):
        """The code of ``key``, or None if no row ever had it."""
        return self._code_of.get(key)

    def grow(self, capacity):
        extra = capacity - len(self.codes)
        if extra > 0:
            self.codes = np.concatenate(
                [self.codes, np.zeros(extra, dtype=np.int32)])

    # --- values -----------------------------------------------------------

    def value(self, code):
        """The parsed value of ``code`` (parsed on first use)."""
        try:
            return self._parsed[code]
        except KeyError:
            value = self._parse(self.keys[code])
            self._parsed[code] = value
            return value

    def row_value(self, row):
        return self.value(int(self.codes[row]))

    def map(self, function, dtype=float, key=None):
        """``function(value)`` for every distinct value, as an array by code.

        Cached under ``key`` (default: the function itself), so pass a key
        when the function is a fresh closure each call. Only values added
        since the last call are computed.
        """
        cache_key = function if key is None else key
        done = self._maps.get(cache_key)
        start = 0 if done is None else len(done)
        if start == len(self.keys) and done is not None:
            return done
        codes = range(start, len(self.keys))
        if dtype is object:
            new = np.empty(len(codes), dtype=object)
            for offset, code in enumerate(codes):
                new[offset] = function(self.value(code))
        else:
            new = np.array([function(self.value(code)) for code in codes],
                           dtype=dtype)
        result = new if done is None else np.concatenate([done, new])
        self._maps[cache_key] = result
        return result

    def compact(self, live_rows):
        """Drop keys no live row uses any more (documents such as stats
        change with every claim, so their distinct texts pile up)."""
        used = np.unique(self.codes[live_rows]) if len(live_rows) else \
            np.zeros(0, dtype=np.int32)
        remap = np.full(len(self.keys), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        old_keys, old_parsed = self.keys, self._parsed
        self.keys = [old_keys[code] for code in used]
        self._code_of = {key: code for code, key in enumerate(self.keys)}
        self._parsed = {int(remap[c]): v for c, v in old_parsed.items()
                        if remap[c] >= 0}
        self._maps = {}
        self.codes[live_rows] = remap[self.codes[live_rows]]

    def needs_compaction(self, live_count):
        return len(self.keys) > 4 * live_count + 1024
