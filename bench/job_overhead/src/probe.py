import time

first = time.time()  # the first line of user code
import sys  # noqa: E402

print(f"KILN_BENCH first={first!r}", flush=True)
print(f"KILN_BENCH last={time.time()!r}", flush=True)
sys.exit(0)
