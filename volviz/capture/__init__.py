"""The model side: models, inputs, layer lookup, hooks and extraction. torch lives here only.

Importing this package asks torch's CPU allocator for transparent huge pages
(``THP_MEM_ALLOC_ENABLE=1``) unless the variable is already set: with glibc's default malloc
every large activation tensor is page-faulted afresh, and a batch-16 EfficientNet-Lite0
forward took 0.50 s instead of 0.21 s here (scripts/bench.py capture). It takes effect
when set before torch's first large allocation; set it to 0 to opt out.
"""

from __future__ import annotations

import os

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
