"""The numeric limits hoststate enforces on its input, and why.

The configuration options and the versioned objects both check values
against these (``hoststate.objects.limits`` for the objects), so a value
that passes either can be stored and computed with later. This module is at
the bottom of the dependency chain (conf <- db <- objects) so every layer
can import it.
"""

# --- what the database columns hold -------------------------------------

#: ``sa.Integer`` is a signed 32-bit integer on PostgreSQL and MySQL/MariaDB
#: (SQLite would store more and hand it back to the others on a move).
INT32_MIN = -2 ** 31
INT32_MAX = 2 ** 31 - 1
#: ``sa.BigInteger``: signed 64-bit.
INT64_MAX = 2 ** 63 - 1
#: ``sa.Float`` is MySQL's 4-byte FLOAT; a larger number is an "out of
#: range" error there (Nova bounds flavor ``rxtx_factor`` with the same).
FLOAT32_MAX = 3.4028234663852886e38
#: ``sa.String(255)``: names, hosts, states. MySQL and PostgreSQL count
#: characters, not bytes.
NAME_LENGTH = 255
#: ``sa.Text`` on MySQL holds 65,535 bytes; Nova bounds flavor
#: descriptions with the same number of characters.
TEXT_LENGTH = 65535
#: JSON documents (``JsonText``: MEDIUMTEXT on MySQL, 16 MiB): a quarter
#: of it in characters, since utf8mb4 takes up to 4 bytes a character.
DOCUMENT_LENGTH = (2 ** 24 - 1) // 4
#: A file system path: Linux's PATH_MAX, the longest path a system call
#: takes.
PATH_LENGTH = 4096

# --- time ----------------------------------------------------------------

ONE_DAY = 86400
#: The longest interval or timeout option, in seconds. A period longer
#: than a day is no longer a heartbeat, a retry or a periodic task; far
#: longer ones are harmful: ``threading`` refuses waits beyond
#: ``threading.TIMEOUT_MAX`` (about 292 years) with an OverflowError that
#: kills the thread doing the waiting.
MAX_INTERVAL = ONE_DAY
#: The longest ``service_down_time``: the memcached service group driver
#: gives it to memcached as a key's expiry, and memcached reads any expiry
#: above 30 days as an absolute Unix time (long past), so every key would
#: expire at once and every service would look down.
MAX_SERVICE_DOWN_TIME = 30 * ONE_DAY

# --- hardware ------------------------------------------------------------

#: CPU ids a host or a guest may have (0 to 65535): no machine has
#: 65,536 CPUs, and a set of CPU ids stays small whatever a request says
#: ("0-2147483647" must never become two billion ints).
MAX_CPU_IDS = 65536
#: NUMA nodes of one guest: QEMU's limit (MAX_NODES).
MAX_NUMA_NODES = 128

# --- requests ------------------------------------------------------------

#: The most instances one request asks for, and the most entries of any
#: list a request carries (forced, ignored hosts; scheduler hint values).
#: Nova's API has no such bound (quotas stand in), but a request's cost to
#: the scheduler grows with each: one placement and claim per instance.
MAX_REQUEST_ITEMS = 1000

# --- numbers the scheduler computes with ---------------------------------

#: The largest allocation ratio. Any inventory a 32-bit column can hold
#: times a million stays below 2**53, the largest integer a float64 (the
#: scheduler's numpy columns) still counts exactly, so free capacity is
#: never rounded and an overcommitted limit still fits a 64-bit integer.
MAX_ALLOCATION_RATIO = 1e6
#: The largest magnitude of a weigher multiplier and of [metrics]
#: weight_of_unavailable: a thousand times Nova's largest default (1e6).
#: Weights are normalised to [0, 1] before they are multiplied, so the sum
#: of every weigher stays near 1e10 or below, where float64 still tells
#: apart hosts whose weights differ by 1e-5 under a multiplier of 1.
MAX_WEIGHT = 1e9
