"""The data types' share of the differential test (test_differential.py).

Each module below holds a mixin class for the test's Generator: `g_*` methods that
build one random Op each (they may use the Generator's helpers: key(), keys(),
value(), int_arg(), float_arg(), name(), rng), and the class attributes

    TABLE        [(weight, method)] outside MULTI
    MULTI_TABLE  [(weight, method)] inside MULTI (no blocking waits, no tiny TTLs)
    COMMANDS     the command names it covers (lower case)

Replies are compared by the Op's `kind`: "exact" (default), "sorted" (an array in
any order), "pairs" (a map or flat pair array in any order), "count" (random picks:
type and length only), or the TTL tolerances.
"""

from diff_hash import HashOps
from diff_list import ListOps
from diff_set import SetOps
from diff_zset import ZSetOps
from diff_bit import BitOps
from diff_blocking import BlockingOps
from diff_pubsub import PubSubOps
from diff_eval import EvalOps
from diff_acl import ACLOps
from diff_clients import ClientOps
from diff_stats import StatsOps
from diff_functions import FunctionOps

TYPE_MIXINS = (HashOps, ListOps, SetOps, ZSetOps, BitOps, BlockingOps, PubSubOps, EvalOps, ACLOps, ClientOps, StatsOps,
               FunctionOps)
TYPE_COMMANDS = [name for mixin in TYPE_MIXINS for name in mixin.COMMANDS]
